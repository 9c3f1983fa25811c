/**
 * The gateway's own listening addresses, so a mode can refuse a request that would loop back into the
 * gateway (a proxy asked to fetch from itself, a TURN peer that is the relay's own port).
 */
import { networkInterfaces } from 'node:os'
import type { ListenerInfo } from './service.js'
import { normalizeIp } from './net-policy.js'

const WILDCARDS = new Set(['0.0.0.0', '::', '0:0:0:0:0:0:0:0'])

export class SelfAddresses {
  private listeners: ListenerInfo[] = []

  set(list: ListenerInfo[]): void {
    this.listeners = [...list]
  }

  add(list: ListenerInfo[]): void {
    this.listeners.push(...list)
  }

  list(): readonly ListenerInfo[] {
    return this.listeners
  }

  /** True when ip:port (resolved) is one of our own listeners. */
  isSelf(ip: string, port: number, transport: 'tcp' | 'udp' = 'tcp'): boolean {
    const n = normalizeIp(ip)
    if (!n) return false
    for (const l of this.listeners) {
      if (l.port !== port || l.transport !== transport) continue
      const la = normalizeIp(l.address)
      if (!la) continue
      if (la.ip === n.ip) return true
      if (WILDCARDS.has(la.ip) && isLocalIp(n.ip)) return true
    }
    return false
  }
}

function isLocalIp(ip: string): boolean {
  if (ip.startsWith('127.') || ip === '::1' || WILDCARDS.has(ip)) return true
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (normalizeIp(a.address)?.ip === ip) return true
    }
  }
  return false
}
