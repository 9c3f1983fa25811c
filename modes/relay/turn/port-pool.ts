/**
 * Relayed ports: a UDP socket bound on the relay IP within portMin..portMax. Ports the OS refuses (in use
 * by another program) are skipped; when every port of the range is ours or none could be bound, the
 * Allocate fails with 508 (Insufficient Capacity), RFC 8656 §7.2.
 */
import { createSocket, type Socket } from 'node:dgram'
import { lookup as dnsLookup } from 'node:dns'
import { isIP } from 'node:net'
import { ViaductError } from '../../../src/core/errors.js'
import { TurnErrors } from './errors.js'

/** How many ports one Allocate may try before giving up with 508. */
export const MAX_BIND_ATTEMPTS = 32

/** Socket buffers for bursts of datagrams (the kernel caps them at net.core.rmem_max / wmem_max). */
export const UDP_BUFFER_BYTES = 4 << 20

export function setBuffers(s: Socket): void {
  try {
    s.setRecvBufferSize(UDP_BUFFER_BYTES)
    s.setSendBufferSize(UDP_BUFFER_BYTES)
  } catch {
    // not bound yet or not permitted: keep the defaults
  }
}

/**
 * dgram resolves every destination through a lookup function (dns.lookup by default, one tick per
 * datagram). The TURN server only ever sends to IP literals (client and peer addresses), so its sockets
 * use this synchronous identity lookup instead.
 */
export function ipLiteralLookup(address: string, family: number, cb: (err: Error | null, address: string, family: number) => void): void {
  const f = isIP(address)
  if (f !== 0) return cb(null, address, f)
  // a host name (a listen address like "localhost"): the usual resolver
  dnsLookup(address, family, (err, a, fam) => cb(err, a, fam))
}

export class PortPool {
  private readonly used = new Set<number>()

  constructor(
    readonly min: number,
    readonly max: number,
  ) {}

  get size(): number {
    return this.max - this.min + 1
  }

  get inUse(): number {
    return this.used.size
  }

  /** Bind a UDP socket on `ip` at a free port of the range (even when `even`). */
  async bind(ip: string, family: 4 | 6, even = false): Promise<{ socket: Socket; port: number }> {
    const tried = new Set<number>()
    const span = this.size
    for (let attempt = 0; attempt < Math.min(MAX_BIND_ATTEMPTS, span) && this.used.size + tried.size < span; attempt++) {
      const port = this.pick(tried, even ? 'even' : 'any')
      if (port === undefined) break
      tried.add(port)
      const socket = await this.tryBind(ip, family, port)
      if (socket) return { socket, port }
    }
    throw new ViaductError(TurnErrors.VIADUCT_ERR_TURN_CAPACITY, `no free relayed port in ${this.min}-${this.max}`)
  }

  /**
   * RFC 8656 §7.2: "If the request contains an EVEN-PORT attribute with the R bit set to 1, then the
   * server looks for a pair of port numbers N and N+1 on the same IP address, where N is even. Port N is
   * used in the current allocation, while the relayed transport address with port N+1 is assigned a token
   * and reserved for a future allocation." Both sockets are bound: holding N+1 bound is the reservation.
   */
  async bindPair(ip: string, family: 4 | 6): Promise<{ socket: Socket; port: number; next: Socket }> {
    const tried = new Set<number>()
    for (let attempt = 0; attempt < MAX_BIND_ATTEMPTS; attempt++) {
      const port = this.pick(tried, 'pair')
      if (port === undefined) break
      tried.add(port)
      const socket = await this.tryBind(ip, family, port)
      if (!socket) continue
      const next = await this.tryBind(ip, family, port + 1)
      if (next) return { socket, port, next }
      socket.close()
      this.used.delete(port)
    }
    throw new ViaductError(TurnErrors.VIADUCT_ERR_TURN_CAPACITY, `no free pair of relayed ports in ${this.min}-${this.max}`)
  }

  private async tryBind(ip: string, family: 4 | 6, port: number): Promise<Socket | undefined> {
    this.used.add(port)
    const socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4', ipv6Only: family === 6, lookup: ipLiteralLookup as never })
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject)
        socket.bind({ address: ip, port, exclusive: true }, () => {
          socket.off('error', reject)
          setBuffers(socket)
          resolve()
        })
      })
      return socket
    } catch (err) {
      this.used.delete(port)
      try {
        socket.close()
      } catch {
        // never bound
      }
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EADDRINUSE' || code === 'EACCES') return undefined
      throw new ViaductError(TurnErrors.VIADUCT_ERR_TURN_CAPACITY, `cannot bind a relayed socket on ${ip}: ${(err as Error).message}`, { cause: err })
    }
  }

  release(port: number): void {
    this.used.delete(port)
  }

  private pick(tried: Set<number>, kind: 'any' | 'even' | 'pair'): number | undefined {
    const span = this.size
    const start = this.min + Math.floor(Math.random() * span)
    for (let i = 0; i < span; i++) {
      const p = this.min + ((start - this.min + i) % span)
      if (kind !== 'any' && p % 2 !== 0) continue
      if (this.used.has(p) || tried.has(p)) continue
      if (kind === 'pair' && (p + 1 > this.max || this.used.has(p + 1))) continue
      return p
    }
    return undefined
  }
}
