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

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const

/**
 * Parse a duration into `unit`: a number is already in `unit`; a string is a number with an optional unit
 * ("250ms", "30s", "5m", "1.5h", "2d"; a bare "30" is in `unit`). Throws a message for anything else, or
 * when the result is not a whole number of `unit`s ("250ms" is not a whole number of seconds).
 */
export function parseDuration(input: number | string, unit: 'ms' | 's'): number {
  let value: number
  if (typeof input === 'number') value = input
  else {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(input)
    if (!m) throw new Error(`expected a duration like "250ms", "30s", "5m" or a number of ${unit === 'ms' ? 'milliseconds' : 'seconds'}, got "${input}"`)
    value = m[2] ? (Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]) / UNIT_MS[unit] : Number(m[1])
  }
  if (!Number.isFinite(value) || value < 0) throw new Error(`expected a duration of 0 or more, got ${JSON.stringify(input)}`)
  if (!Number.isInteger(value)) throw new Error(`${JSON.stringify(input)} is not a whole number of ${unit === 'ms' ? 'milliseconds' : 'seconds'}`)
  if (!Number.isSafeInteger(value)) throw new Error(`${JSON.stringify(input)} is too long`)
  return value
}

function duration(unit: 'ms' | 's', def: number) {
  return z
    .union([z.number(), z.string()], { error: (iss) => `expected a duration ("250ms", "30s", "5m") or a number of ${unit === 'ms' ? 'milliseconds' : 'seconds'}, got ${describeValue(iss.input)}` })
    .meta({ viaductType: unit === 'ms' ? 'duration (ms)' : 'duration (s)' })
    .default(def)
    .transform((v, ctx) => {
      try {
        return parseDuration(v, unit)
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message })
        return z.NEVER
      }
    })
}

/** A duration in milliseconds: a number, or "250ms", "30s", "5m", "1h"; 0 disables where the key says so. */
export const millis = (def: number) => duration('ms', def)
/** A duration in seconds: a number, or "30s", "10m", "1h". */
export const seconds = (def: number) => duration('s', def)
export const count = (def: number) => z.number().int().min(0).default(def)

/** A value as an error message shows it: `"alice:pw" (a string)`, `42 (a number)`, `a list`. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing'
  if (v === null) return 'null'
  if (Array.isArray(v)) return `a list of ${v.length}`
  if (typeof v === 'object') return 'a mapping'
  const shown = typeof v === 'string' ? JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v) : String(v)
  return `${shown} (a ${typeof v})`
}
