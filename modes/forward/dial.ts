/**
 * Opening TCP connections to targets, for every forward listener.
 *
 * The direct dialer resolves the name itself so that every address is checked against the access policy
 * BEFORE connecting (a name resolving to 127.0.0.1 or 169.254.169.254 is refused, not reached), then tries
 * the allowed addresses in order until one connects. Socket errors become ViaductErrors whose wire
 * mapping tells HTTP (502/504) and SOCKS (0x03/0x04/0x05) what to answer.
 * An upstream dialer (chaining through another proxy) implements the same interface.
 */
import { lookup } from 'node:dns/promises'
import { connect, isIP, type Socket } from 'node:net'
import { ViaductError } from '../../src/core/errors.js'
import type { AccessPolicy } from './access.js'
import { ForwardErrors } from './errors.js'

export interface DialRequest {
  host: string
  port: number
  signal?: AbortSignal
  /**
   * net.connect's `onread` (read into the caller's buffers, see http/read-pump.ts), for a socket dialled
   * directly. A dialer that cannot apply it (an upstream proxy's tunnel) ignores it and says so in the result.
   */
  onread?: { buffer: () => Uint8Array; callback: (bytes: number, buf: Uint8Array) => boolean }
}

export interface DialResult {
  socket: Socket
  /** The address actually connected to, "ip:port" (or the upstream's, when chained). */
  remote: string
  /** True when the socket reads through req.onread (no 'data' events). */
  onread?: boolean
}

/** An HTTP upstream proxy that plain-HTTP requests are forwarded to in absolute form. */
export interface HttpUpstream {
  host: string
  port: number
  /** Value for the Proxy-Authorization header sent to the upstream, if it needs credentials. */
  authorization?: string
}

export interface Dialer {
  /** A TCP connection to host:port (directly, or tunnelled through an upstream proxy). */
  dial(req: DialRequest): Promise<DialResult>
  /**
   * For plain-HTTP requests: when this returns an upstream, the HTTP proxy sends the request in absolute
   * form to that HTTP proxy (as browsers do) instead of dialing the origin. Absent or undefined = dial().
   */
  httpUpstreamFor?(host: string, port: number): HttpUpstream | undefined
}

/** Map a socket or DNS error onto a forward error code. */
export function mapDialError(err: unknown, what: string): ViaductError {
  if (err instanceof ViaductError) return err
  const e = err as NodeJS.ErrnoException
  switch (e?.code) {
    case 'ENOTFOUND':
    case 'EAI_NONAME':
    case 'EAI_NODATA':
    case 'EAI_FAIL':
    case 'EAI_AGAIN':
      return new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_DNS, `${what}: host name does not resolve`, { cause: err })
    case 'ECONNREFUSED':
      return new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_REFUSED, `${what}: connection refused`, { cause: err })
    case 'EHOSTUNREACH':
    case 'EHOSTDOWN':
      return new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_UNREACHABLE, `${what}: host unreachable`, { cause: err })
    case 'ENETUNREACH':
    case 'ENETDOWN':
    case 'EADDRNOTAVAIL':
      return new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_NETWORK, `${what}: network unreachable`, { cause: err })
    case 'ETIMEDOUT':
    case 'ABORT_ERR':
      return new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_TIMEOUT, `${what}: timed out`, { cause: err })
    case 'ECONNRESET':
    case 'EPIPE':
      return new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_RESET, `${what}: connection reset`, { cause: err })
    default:
      return new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_FAILED, `${what}: ${e?.message ?? String(err)}`, { cause: err })
  }
}

export interface DirectDialerOptions {
  policy: AccessPolicy
  connectTimeoutMs: number
  /** Injected for tests (a resolver that maps names to loopback). */
  resolve?: (host: string) => Promise<string[]>
}

export class DirectDialer implements Dialer {
  constructor(private readonly opts: DirectDialerOptions) {}

  async resolve(host: string): Promise<string[]> {
    const bare = host.replace(/^\[|\]$/g, '')
    if (isIP(bare)) return [bare]
    const special = specialUseName(bare)
    if (special) return special
    if (this.opts.resolve) return this.opts.resolve(bare)
    const all = await lookup(bare, { all: true, verbatim: true })
    return all.map((a) => a.address)
  }

  async dial(req: DialRequest): Promise<DialResult> {
    const what = `${req.host}:${req.port}`
    let addrs: string[]
    try {
      addrs = await this.resolve(req.host)
    } catch (err) {
      throw mapDialError(err, what)
    }
    if (addrs.length === 0) throw new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_DNS, `${what}: host name has no addresses`)
    // Every address must pass the policy; refusing on the first denied one keeps DNS rebinding out.
    for (const ip of addrs) this.opts.policy.checkAddress(ip, req.port, req.host)
    let last: unknown
    for (const ip of addrs) {
      try {
        const socket = await connectOnce(ip, req.port, this.opts.connectTimeoutMs, req.signal, req.onread)
        return { socket, remote: isIP(ip) === 6 ? `[${ip}]:${req.port}` : `${ip}:${req.port}`, onread: req.onread !== undefined }
      } catch (err) {
        last = err
        if ((err as NodeJS.ErrnoException).code === 'ABORT_ERR') break
      }
    }
    throw mapDialError(last, what)
  }
}

/**
 * Special-use domain names answered without asking any DNS server.
 * RFC 6761 §6.4: "Name resolution APIs and libraries SHOULD recognize "invalid" names as special and SHOULD
 * always return immediately with a negative response." RFC 7686 §2 says the same of ".onion".
 * RFC 6761 §6.3: "Name resolution APIs and libraries SHOULD recognize localhost names as special and SHOULD
 * always return the IP loopback address for address queries".
 * Returns the addresses for a localhost name, throws ENOTFOUND for an invalid or onion name, else null.
 */
export function specialUseName(name: string): string[] | null {
  const n = name.toLowerCase().replace(/\.$/, '')
  const under = (tld: string) => n === tld || n.endsWith(`.${tld}`)
  if (under('invalid') || under('onion')) {
    throw Object.assign(new Error(`${name} is a special-use name that never resolves (RFC 6761, RFC 7686)`), { code: 'ENOTFOUND' })
  }
  if (under('localhost')) return ['127.0.0.1', '::1']
  return null
}

/** Connect one TCP socket with a timeout and an abort signal. */
export function connectOnce(host: string, port: number, timeoutMs: number, signal?: AbortSignal, onread?: DialRequest['onread']): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = connect(onread ? { host, port, noDelay: true, onread } : { host, port, noDelay: true })
    let timer: NodeJS.Timeout | undefined
    const cleanup = () => {
      if (timer) clearTimeout(timer)
      sock.off('connect', onConnect)
      sock.off('error', onError)
      signal?.removeEventListener('abort', onAbort)
    }
    const onConnect = () => {
      cleanup()
      resolve(sock)
    }
    const onError = (err: Error) => {
      cleanup()
      sock.destroy()
      reject(err)
    }
    const onAbort = () => onError(Object.assign(new Error('connect aborted'), { code: 'ABORT_ERR' }))
    if (timeoutMs > 0) timer = setTimeout(() => onError(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' })), timeoutMs)
    if (signal?.aborted) return onAbort()
    signal?.addEventListener('abort', onAbort, { once: true })
    sock.once('connect', onConnect)
    sock.once('error', onError)
  })
}
