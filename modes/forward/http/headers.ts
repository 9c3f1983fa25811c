/**
 * Header rules of the proxy (pure). Headers travel as node's flat raw list ["Name", "value", ...], which
 * keeps the client's spelling and order and repeated fields.
 */

/**
 * RFC 9110 §7.6.1: "Intermediaries MUST parse a received Connection header field before a message is
 * forwarded and, for each connection-option in this field, remove any header or trailer field(s) from the
 * message with the same name as the connection-option, and then remove the Connection header field itself
 * (or replace it with the intermediary's own control options for the forwarded message)."
 * The same section lists fields a proxy removes even when Connection does not name them: Proxy-Connection,
 * Keep-Alive, TE, Transfer-Encoding, Upgrade; RFC 9110 §11.7.1-2 makes Proxy-Authorization and
 * Proxy-Authenticate hop-by-hop too. Trailer describes this hop's chunked framing.
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'proxy-connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
])

/**
 * Fields the proxy rebuilds itself whatever the message said: framing (Content-Length is re-added from the
 * parsed message, so a Connection option naming it cannot change how a body is delimited) and Host
 * (RFC 9112 §3.2.2).
 */
const REBUILT: ReadonlySet<string> = new Set(['content-length', 'host'])

export type RawHeaders = readonly string[]

/** Lowercased connection-options of every Connection (and Proxy-Connection) field. */
export function connectionOptions(raw: RawHeaders): Set<string> {
  const out = new Set<string>()
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toLowerCase()
    if (name !== 'connection' && name !== 'proxy-connection') continue
    for (const tok of raw[i + 1].split(',')) {
      const t = tok.trim().toLowerCase()
      if (t) out.add(t)
    }
  }
  return out
}

/** All values of one field (case-insensitive name), in order. */
export function headerValues(raw: RawHeaders, name: string): string[] {
  const n = name.toLowerCase()
  const out: string[] = []
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i].toLowerCase() === n) out.push(raw[i + 1])
  return out
}

export function countHeader(raw: RawHeaders, name: string): number {
  return headerValues(raw, name).length
}

export interface ForwardHeaderOptions {
  /** Extra names to drop (e.g. x-forwarded-for when it is rebuilt). */
  drop?: readonly string[]
}

/**
 * A copy of `raw` without hop-by-hop fields, without the fields the Connection options name, and without
 * the fields the proxy rebuilds (Host, Content-Length).
 */
export function stripHopByHop(raw: RawHeaders, opts: ForwardHeaderOptions = {}): string[] {
  const out: string[] = []
  forwardableInto(out, raw, opts.drop && opts.drop.length > 0 ? new Set(opts.drop.map((d) => d.toLowerCase())) : undefined)
  return out
}

/**
 * True when a Connection or Proxy-Connection field names an option other than "keep-alive" or "close" (then
 * the options must be honoured field by field). Those two, which nearly every message carries, name nothing
 * left to remove: Keep-Alive is hop-by-hop anyway, and no field is called "close".
 */
function namesConnectionOptions(raw: RawHeaders): boolean {
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const n = raw[i]
    // cheap length filter before lowercasing: "connection" is 10 characters, "proxy-connection" 16
    if ((n.length === 10 || n.length === 16) && (n.toLowerCase() === 'connection' || n.toLowerCase() === 'proxy-connection')) {
      const v = raw[i + 1].toLowerCase().trim()
      if (v !== 'keep-alive' && v !== 'close') return true
    }
  }
  return false
}

/**
 * Append to `out` the fields of `raw` that a proxy forwards (stripHopByHop's rule), skipping `drop` too.
 * With `forwardedFor`, X-Forwarded-For fields are skipped and their values collected there instead.
 * One pass and no Set unless a Connection field is present: this runs for every forwarded message.
 */
function forwardableInto(out: string[], raw: RawHeaders, drop: ReadonlySet<string> | undefined, forwardedFor?: string[]): void {
  const named = namesConnectionOptions(raw) ? connectionOptions(raw) : undefined
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toLowerCase()
    if (HOP_BY_HOP.has(name) || REBUILT.has(name) || named?.has(name) || drop?.has(name)) continue
    if (forwardedFor && name === 'x-forwarded-for') {
      forwardedFor.push(raw[i + 1])
      continue
    }
    out.push(raw[i], raw[i + 1])
  }
}

const DROP_MAX_FORWARDS: ReadonlySet<string> = new Set(['max-forwards'])

/**
 * The request fields for the origin in one pass: `Host` first, then the forwardable fields of `raw` in
 * their order (without Max-Forwards when `dropMaxForwards`), then X-Forwarded-For per `mode`. The same
 * result as `applyForwardedFor(['Host', host, ...stripHopByHop(raw, ...)], mode, clientIp)`.
 */
export function forwardRequestFields(raw: RawHeaders, host: string, dropMaxForwards: boolean, mode: ForwardedForMode, clientIp: string): string[] {
  const out: string[] = ['Host', host]
  const prior: string[] = []
  forwardableInto(out, raw, dropMaxForwards ? DROP_MAX_FORWARDS : undefined, prior)
  if (mode === 'off') return out
  if (mode === 'replace' || prior.length === 0) out.push('X-Forwarded-For', clientIp)
  else out.push('X-Forwarded-For', [...prior.map((p) => p.trim()).filter(Boolean), clientIp].join(', '))
  return out
}

/**
 * RFC 9110 §7.6.3: "A proxy MUST send an appropriate Via header field, as described below, in each message
 * that it forwards." received-protocol is the version only when the protocol is HTTP; the pseudonym stands
 * for the host, which a proxy may hide.
 */
export function viaValue(httpVersion: string, pseudonym: string): string {
  return `${httpVersion} ${pseudonym}`
}

/** The pseudonym from forward.http.via (true = "viaduct", a string = itself, false = no Via). */
export function viaPseudonym(setting: boolean | string): string | null {
  if (setting === false) return null
  if (setting === true) return 'viaduct'
  // a pseudonym is a token: keep it to safe characters so config cannot inject header syntax
  const clean = setting.replace(/[^A-Za-z0-9!#$%&'*+.^_`|~-]/g, '')
  return clean || 'viaduct'
}

export type ForwardedForMode = 'off' | 'add' | 'replace'

/**
 * X-Forwarded-For for the forwarded request. "off": none reaches the origin (an incoming one is dropped
 * too, so the proxy hides its client); "add": the client's address appended to the incoming list;
 * "replace": only the client's address. Applied after stripHopByHop (which keeps X-Forwarded-For).
 */
export function applyForwardedFor(headers: string[], mode: ForwardedForMode, clientIp: string): string[] {
  const prior = headerValues(headers, 'x-forwarded-for')
  const out: string[] = []
  for (let i = 0; i + 1 < headers.length; i += 2) if (headers[i].toLowerCase() !== 'x-forwarded-for') out.push(headers[i], headers[i + 1])
  if (mode === 'off') return out
  const list = mode === 'add' ? [...prior.map((p) => p.trim()).filter(Boolean), clientIp] : [clientIp]
  out.push('X-Forwarded-For', list.join(', '))
  return out
}

/**
 * RFC 9110 §7.6.2: Max-Forwards for TRACE and OPTIONS. "If the received Max-Forwards value is zero (0), the
 * recipient MUST NOT forward the request; instead, the recipient MUST respond as the final recipient. If the
 * received Max-Forwards value is greater than zero, the intermediary MUST generate an updated Max-Forwards
 * field in the forwarded message with a field value that is the lesser of a) the received value decremented
 * by one (1) or b) the recipient's maximum supported value for Max-Forwards."
 * Returns 'answer' (reply locally), a number (the value to forward), or null (absent or not applicable).
 * A value that is not a decimal number is treated as absent and forwarded untouched.
 */
export const MAX_FORWARDS_CAP = 255

export function maxForwards(method: string, raw: RawHeaders): 'answer' | number | null {
  if (method !== 'TRACE' && method !== 'OPTIONS') return null
  const values = headerValues(raw, 'max-forwards')
  if (values.length !== 1) return null
  const v = values[0].trim()
  if (!/^[0-9]{1,10}$/.test(v)) return null
  const n = Number(v)
  if (n === 0) return 'answer'
  return Math.min(n - 1, MAX_FORWARDS_CAP)
}

/** Replace every field `name` by one `name: value` (appended at the end). */
export function setHeader(headers: string[], name: string, value: string): string[] {
  const n = name.toLowerCase()
  const out: string[] = []
  for (let i = 0; i + 1 < headers.length; i += 2) if (headers[i].toLowerCase() !== n) out.push(headers[i], headers[i + 1])
  out.push(name, value)
  return out
}

/** Fields TRACE must not echo back (RFC 9110 §9.3.8: "likely to contain sensitive data"). */
const TRACE_HIDDEN: ReadonlySet<string> = new Set(['authorization', 'proxy-authorization', 'cookie'])

/** The message/http body of a TRACE answered by the proxy itself. */
export function traceBody(method: string, target: string, httpVersion: string, raw: RawHeaders): string {
  let s = `${method} ${target} HTTP/${httpVersion}\r\n`
  for (let i = 0; i + 1 < raw.length; i += 2) if (!TRACE_HIDDEN.has(raw[i].toLowerCase())) s += `${raw[i]}: ${raw[i + 1]}\r\n`
  return `${s}\r\n`
}

/**
 * Serialize a response head for a raw socket (CONNECT and upgrade replies, refusals before node's parser
 * runs). Names and values are checked: CR, LF or NUL would split the head.
 */
export function serializeHead(status: number, reason: string, headers: RawHeaders): string {
  const safe = (s: string) => s.replace(/[\r\n\0]/g, ' ')
  let s = `HTTP/1.1 ${status} ${safe(reason)}\r\n`
  for (let i = 0; i + 1 < headers.length; i += 2) s += `${safe(headers[i])}: ${safe(headers[i + 1])}\r\n`
  return `${s}\r\n`
}

/**
 * RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1 request
 * message that lacks a Host header field and to any request message that contains more than one Host
 * header field line or a Host header field with an invalid field value."
 * Returns what is wrong, or null.
 */
export function hostFieldProblem(raw: RawHeaders, httpVersion: string): string | null {
  const n = countHeader(raw, 'host')
  if (n > 1) return 'more than one Host header field'
  if (n === 0 && httpVersion !== '1.0' && httpVersion !== '0.9') return 'an HTTP/1.1 request without a Host header field'
  return null
}
