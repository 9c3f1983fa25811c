/**
 * Request-target parsing for the proxy (pure: no sockets, no clock).
 *
 * RFC 9112 §3.2: request-target = origin-form / absolute-form / authority-form / asterisk-form.
 * A proxy is sent absolute-form ("GET http://host/path") and, for CONNECT, authority-form ("host:port").
 * The parser is strict on purpose: no userinfo, no fragments, no percent or backslash in the host, no
 * empty or oversized labels, a port in 1..65535. What the WHATWG URL parser would "repair" is refused, so
 * the proxy never forwards to a host other than the one a downstream filter saw.
 */
import { isIP } from 'node:net'
import { ViaductError } from '../../../src/core/errors.js'
import { HttpErrors } from './errors.js'

export interface HttpTarget {
  /** "http", or "ws" (an absolute-form WebSocket upgrade some clients send). */
  scheme: 'http' | 'ws'
  /** Lowercase host name or IP literal, IPv6 without brackets. */
  host: string
  port: number
  /** origin-form to send to the origin: "/path?query" ("/" when the path was empty). */
  path: string
  /** The Host header value rebuilt from the target (RFC 9112 §3.2.2): host, ":port" unless default. */
  hostHeader: string
  /** The normalized absolute URL (ledger target, upstream proxies). */
  url: string
}

export interface AuthorityTarget {
  host: string
  port: number
  /** "host:port", IPv6 in brackets. */
  authority: string
}

export type RequestTarget =
  | { form: 'absolute'; target: HttpTarget }
  | { form: 'origin'; path: string }
  | { form: 'authority'; target: AuthorityTarget }
  | { form: 'asterisk' }

const DEFAULT_PORT = { http: 80, ws: 80 } as const
const MAX_TARGET_LENGTH = 65_536

function malformed(message: string): ViaductError {
  return new ViaductError(HttpErrors.VIADUCT_ERR_HTTP_MALFORMED, message)
}

/** A host name of DNS-ish labels: letters, digits, "-", "_"; 1..63 per label, 253 in all; one trailing dot allowed. */
function validName(host: string): boolean {
  const h = host.endsWith('.') ? host.slice(0, -1) : host
  if (h.length === 0 || h.length > 253) return false
  for (const label of h.split('.')) {
    if (label.length === 0 || label.length > 63) return false
    // letters, digits, hyphen (not first or last), and underscore (seen in real names)
    if (!/^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$/.test(label)) return false
  }
  // all-numeric dotted names that are not valid IPv4 ("1.2.3", "999.1.1.1") would be read as IPv4 by
  // some resolvers: refuse them rather than guess
  if (/^[0-9.]+$/.test(h) && isIP(h) !== 4) return false
  return true
}

/**
 * Parse "host[:port]" (port optional unless `requirePort`). Host is lowercased, brackets removed.
 * Returns null when it is not a valid authority.
 */
export function parseAuthority(input: string, requirePort: boolean, defaultPort = 80): { host: string; port: number } | null {
  if (input.length === 0 || input.length > 260) return null
  let host: string
  let portStr: string | undefined
  if (input.startsWith('[')) {
    const end = input.indexOf(']')
    if (end < 0) return null
    host = input.slice(1, end)
    const rest = input.slice(end + 1)
    if (rest !== '' && !rest.startsWith(':')) return null
    if (rest !== '') portStr = rest.slice(1)
    if (isIP(host) !== 6) return null
  } else {
    const i = input.lastIndexOf(':')
    if (i >= 0) {
      host = input.slice(0, i)
      portStr = input.slice(i + 1)
    } else host = input
    host = host.toLowerCase()
    if (isIP(host) !== 4 && !validName(host)) return null
  }
  host = host.toLowerCase()
  if (portStr === undefined) {
    if (requirePort) return null
    return { host, port: defaultPort }
  }
  if (!/^[0-9]{1,5}$/.test(portStr)) return null
  const port = Number(portStr)
  if (port < 1 || port > 65535) return null
  return { host, port }
}

export function formatAuthority(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`
}

/** RFC 9112 §3.2.1-3.2.4 */
export function parseRequestTarget(method: string, raw: string): RequestTarget {
  if (raw.length === 0) throw malformed('empty request-target')
  if (raw.length > MAX_TARGET_LENGTH) throw malformed('request-target too long')
  // visible US-ASCII only; the HTTP parser already refuses spaces and controls, this is defence in depth
  if (!/^[\x21-\x7e]+$/.test(raw)) throw malformed('request-target has characters outside visible ASCII')

  if (method === 'CONNECT') {
    // RFC 9110 §9.3.6: "the request-target consists of only the host name and port number of the tunnel
    // destination, separated by a colon"
    const a = parseAuthority(raw, true)
    if (!a) throw malformed(`CONNECT target "${raw.slice(0, 100)}" is not host:port`)
    return { form: 'authority', target: { ...a, authority: formatAuthority(a.host, a.port) } }
  }
  // RFC 9112 §3.2.4: asterisk-form is only used for a server-wide OPTIONS request
  if (raw === '*') {
    if (method !== 'OPTIONS') throw malformed('"*" is only a target for OPTIONS')
    return { form: 'asterisk' }
  }
  if (raw.startsWith('/')) {
    if (raw.includes('#')) throw malformed('a request-target has no fragment')
    return { form: 'origin', path: raw }
  }
  return { form: 'absolute', target: parseAbsoluteUrl(raw) }
}

/** "http://host[:port][/path][?query]" (also "ws://"), strictly. */
export function parseAbsoluteUrl(raw: string): HttpTarget {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^#]*)$/.exec(raw)
  if (!m) {
    if (raw.includes('#')) throw malformed('a request-target has no fragment')
    throw malformed(`"${raw.slice(0, 100)}" is not an absolute http:// URL`)
  }
  const scheme = m[1].toLowerCase()
  if (scheme !== 'http' && scheme !== 'ws') {
    throw new ViaductError(HttpErrors.VIADUCT_ERR_HTTP_SCHEME, `scheme "${scheme.slice(0, 20)}" cannot be forwarded; use CONNECT for https`)
  }
  const authority = m[2]
  // RFC 9110 §4.2.4: a sender MUST NOT generate the userinfo subcomponent in an "http" URI
  if (authority.includes('@')) throw malformed('userinfo ("user@") in the target URL is not allowed')
  const a = parseAuthority(authority, false, DEFAULT_PORT[scheme])
  if (!a) throw malformed(`"${authority.slice(0, 100)}" is not a valid host[:port]`)
  let rest = m[3]
  // RFC 9112 §3.2.1: if the target URI's path component is empty, the client MUST send "/" as the path
  if (rest === '' || rest.startsWith('?')) rest = `/${rest}`
  const hostPart = isIP(a.host) === 6 ? `[${a.host}]` : a.host
  const hostHeader = a.port === DEFAULT_PORT[scheme] ? hostPart : `${hostPart}:${a.port}`
  return { scheme, host: a.host, port: a.port, path: rest, hostHeader, url: `${scheme}://${hostHeader}${rest}` }
}
