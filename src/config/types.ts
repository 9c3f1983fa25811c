/**
 * Reusable schema pieces for every config section: listen addresses, user lists, CIDR lists, durations.
 * Modes build their sections from these so that the same spelling means the same thing everywhere.
 */
import { z } from 'zod'
import { isIP } from 'node:net'
import { isCidr } from '../core/net-policy.js'
import type { HostPort } from '../core/service.js'

/**
 * Parse "host:port", "[v6]:port", "port", or "off". Returns null for "off", throws a message otherwise.
 * A bare port means loopback (never all interfaces by accident).
 */
export function parseListenAddress(input: string | number | boolean | null, defaultHost = '127.0.0.1'): HostPort | null {
  if (input === false || input === null) return null
  if (input === true) throw new Error('expected "host:port", "port" or "off"')
  const s = String(input).trim()
  if (s === 'off' || s === 'false' || s === 'none') return null
  let host = defaultHost
  let portStr = s
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(s)
  if (v6) {
    host = v6[1]
    portStr = v6[2]
    if (isIP(host) !== 6) throw new Error(`"${host}" is not an IPv6 address`)
  } else if (s.includes(':')) {
    const i = s.lastIndexOf(':')
    host = s.slice(0, i)
    portStr = s.slice(i + 1)
    if (host.includes(':')) throw new Error('write an IPv6 address in brackets: "[::1]:8080"')
    if (host === '') throw new Error('the host before ":" is empty')
  }
  if (!/^\d{1,5}$/.test(portStr)) throw new Error(`"${portStr}" is not a port number`)
  const port = Number(portStr)
  if (port > 65535) throw new Error(`port ${port} is out of range (0-65535)`)
  return { host, port }
}

/** A listen address in config: "host:port" | "port" | number | "off" | false. Parsed to HostPort | null. */
export function listenAddress(def: string) {
  return z
    .union([z.string(), z.number().int(), z.boolean(), z.null()])
    .default(def)
    .transform((v, ctx) => {
      try {
        return parseListenAddress(v)
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: `${(e as Error).message} (hint: "127.0.0.1:${typeof def === 'string' ? def.split(':').pop() : def}", a port, or "off")` })
        return z.NEVER
      }
    })
}

export interface UserCredential {
  name: string
  password: string
}

/** "name:pass" (the part after the first colon is the password) or { name, password }. */
export const userCredential = z
  .union([
    z.string(),
    z.strictObject({ name: z.string().min(1), password: z.string() }),
  ])
  .transform((v, ctx): UserCredential => {
    if (typeof v !== 'string') return v
    const i = v.indexOf(':')
    if (i <= 0) {
      ctx.addIssue({ code: 'custom', message: 'expected "NAME:PASSWORD"' })
      return z.NEVER
    }
    return { name: v.slice(0, i), password: v.slice(i + 1) }
  })

export const userList = z.array(userCredential).default([])

/** A list of CIDRs (or single IPs). */
export const cidrList = z
  .array(
    z.string().refine(isCidr, { message: 'not an IP range; expected CIDR like "10.0.0.0/8" or "::1/128"' }),
  )
  .default([])

/** A duration in milliseconds; 0 disables where the key's description says so. */
export const millis = (def: number) => z.number().int().min(0).default(def)
export const seconds = (def: number) => z.number().int().min(0).default(def)
export const count = (def: number) => z.number().int().min(0).default(def)
