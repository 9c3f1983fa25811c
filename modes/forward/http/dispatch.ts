/**
 * The upstream side of bodiless requests (GET, HEAD, DELETE, OPTIONS... without a body or Expect), sent
 * through undici's dispatcher instead of node's http client.
 *
 * Why two clients: undici's dispatch API skips node's ClientRequest/IncomingMessage streams and costs
 * about a third less CPU per request (docs/benchmarks-http.md, round 3), and a bodiless GET is most of what
 * a browser sends. But undici refuses an `Expect` field and treats an interim 100 response as a broken
 * connection, while a request with a body may legitimately meet one (RFC 9110 §15.2: "A client MUST be able
 * to parse one or more 1xx responses"); those requests keep node's client (forward.ts).
 *
 * The raw handler methods (onConnect/onHeaders/onData/onComplete/onError) are used on purpose: they hand over
 * the response fields as the raw list (spelling, order and repeated fields kept, which a proxy forwards),
 * while the newer controller API gives a parsed object and is wrapped back into these by undici anyway.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Dispatcher } from 'undici'
import { CoreErrors, ViaductError } from '../../../src/core/errors.js'
import type { HttpUpstream } from '../dial.js'
import { ForwardErrors } from '../errors.js'
import type { HttpEnv } from './env.js'
import { HttpErrors } from './errors.js'
import { stripHopByHop, viaValue } from './headers.js'
import type { HttpTarget } from './target.js'
import { IDEMPOTENT, upstreamError, upstreamName } from './upstream.js'

/** What the request handler (forward.ts) lets the upstream side do to its session. */
export interface SendHooks {
  /** How to stop the upstream request when the client goes away first. */
  setAbort(abort: () => void): void
  setReason(r: string, detail?: string): void
  fail(e: unknown): void
  /** Send the request again on a fresh connection (once; the caller checks it is safe). */
  retry(): void
}


/** undici's errors in forward terms (dial errors and our own arrive as they were thrown). */
export function dispatchError(err: unknown, what: string, responded: boolean): ViaductError | undefined {
  const code = (err as { code?: string })?.code
  switch (code) {
    case 'UND_ERR_SOCKET':
      // undici's SocketError also stands for answers it will not parse ("bad response": an interim 100 it
      // did not ask for, "bad upgrade"); "other side closed" is the connection closing
      if ((err as Error).message?.startsWith('bad ')) return new ViaductError(HttpErrors.VIADUCT_ERR_HTTP_BAD_RESPONSE, `${what}: ${(err as Error).message}`, { cause: err })
      return new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_RESET, `${what}: connection closed ${responded ? 'mid-body' : 'before a response'}`, { cause: err })
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
      return new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_RESET, `${what}: connection closed mid-body`, { cause: err })
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return new ViaductError(CoreErrors.VIADUCT_ERR_SESSION_IDLE, `${what}: no traffic for the idle timeout`, { cause: err })
    case 'UND_ERR_HEADERS_OVERFLOW':
    case 'UND_ERR_INFO':
      return new ViaductError(HttpErrors.VIADUCT_ERR_HTTP_BAD_RESPONSE, `${what}: ${(err as Error).message}`, { cause: err })
    default:
      return undefined
  }
}

/** One request's exchange with undici: a handler object, its methods on the prototype (no closures per request). */
class Exchange {
  private abortUp: ((err?: Error) => void) | undefined
  private resumeUp: (() => void) | undefined
  private responded = false
  private discard = false
  /** The client went away first and the request was aborted: nothing more to say to it. */
  private clientGone = false

  constructor(
    private readonly env: HttpEnv,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly t: HttpTarget,
    private readonly up: HttpUpstream | undefined,
    private readonly attempt: number,
    private readonly hooks: SendHooks,
  ) {}

  /** The upstream as error details name it (only built when there is an error to describe). */
  private get what(): string {
    return upstreamName(this.t, this.up)
  }

  /** Called by the ServerResponse's 'drain' (bound once, when the client first falls behind). */
  private onDrain?: () => void

  onConnect(abort: (err?: Error) => void): void {
    this.abortUp = abort
    this.hooks.setAbort(() => {
      this.clientGone = true
      abort()
    })
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    // interim responses (103 Early Hints...) are not forwarded: node's client, on the other path, drops them too
    if (statusCode < 200) return true
    this.responded = true
    this.resumeUp = resume
    const up = this.up
    if (up && statusCode === 407) {
      this.discard = true
      this.hooks.fail(new ViaductError(ForwardErrors.VIADUCT_ERR_UPSTREAM_AUTH, `upstream proxy ${up.host}:${up.port} answered 407`))
      return true
    }
    const raw = new Array<string>(rawHeaders.length)
    let contentLength: string | undefined
    let chunked = false
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i].toString('latin1')
      const value = rawHeaders[i + 1].toString('latin1')
      raw[i] = name
      raw[i + 1] = value
      if (name.length === 14 && name.toLowerCase() === 'content-length') contentLength = value
      else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') chunked = true
    }
    const h = stripHopByHop(raw)
    if (contentLength !== undefined && !chunked) h.push('Content-Length', contentLength.trim())
    if (this.env.via) h.push('Via', viaValue(this.up ? this.env.pools.responseVersion(this.up.host, this.up.port) : this.env.pools.responseVersion(this.t.host, this.t.port), this.env.via))
    try {
      this.res.writeHead(statusCode, statusText, h)
    } catch (e) {
      this.discard = true
      this.abortUp?.()
      this.hooks.fail(new ViaductError(HttpErrors.VIADUCT_ERR_HTTP_BAD_RESPONSE, `${this.what}: ${(e as Error).message}`))
    }
    return true
  }

  onData(chunk: Buffer): boolean {
    if (this.discard) return true
    if (this.res.destroyed) return false
    if (this.res.write(chunk)) return true
    // the client reads slower than the origin sends: pause the origin until the client drains
    if (!this.onDrain) this.onDrain = () => this.resumeUp?.()
    this.res.once('drain', this.onDrain)
    return false
  }

  onComplete(): void {
    if (!this.discard) this.res.end()
  }

  onError(e: Error): void {
    // the client left, or already has its answer (a 407 from the upstream proxy, a head node refused)
    if (this.clientGone || this.discard) return
    const responseMs = this.env.ctx.config.http.responseTimeoutMs
    const err =
      (e as { code?: string }).code === 'UND_ERR_HEADERS_TIMEOUT' && responseMs > 0
        ? new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_TIMEOUT, `${this.what}: no response within ${responseMs} ms`, { cause: e })
        : (dispatchError(e, this.what, this.responded) ?? upstreamError(e, this.what))
    // RFC 9110 §9.2.2: an idempotent request may be sent again when the connection closed under it; we do it
    // once, before any response byte, for requests without a body (the only ones on this path)
    if (!this.responded && this.attempt === 0 && err.code === ForwardErrors.VIADUCT_ERR_TARGET_RESET && IDEMPOTENT.has(this.req.method ?? '')) return this.hooks.retry()
    if (this.responded) {
      this.hooks.setReason(err.code, err.message)
      this.res.destroy()
    } else this.hooks.fail(err)
  }
}

/** Send a bodiless request upstream with undici (directly, or in absolute form to an HTTP upstream proxy). */
export function dispatchBodiless(env: HttpEnv, req: IncomingMessage, res: ServerResponse, t: HttpTarget, headers: string[], up: HttpUpstream | undefined, attempt: number, hooks: SendHooks): void {
  const idleMs = env.ctx.config.limits.idleTimeoutMs
  const responseMs = env.ctx.config.http.responseTimeoutMs
  const dispatcher = up ? env.pools.dispatcherForProxy(up) : env.pools.dispatcher
  const opts: Dispatcher.DispatchOptions = {
    origin: up ? originOf(up.host, up.port) : originOf(t.host, t.port),
    path: up ? t.url : t.path,
    method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
    headers,
    body: null,
    // the wait for the response head: forward.http.responseTimeoutMs (504), or the idle timeout when that is
    // off. undici starts this timer as it writes the request; without a body that is when the request is
    // sent, where node's path starts its own. The body: the idle timeout (undici does not count time the
    // client made it pause).
    headersTimeout: responseMs > 0 ? responseMs : idleMs,
    bodyTimeout: idleMs,
  }
  dispatcher.dispatch(opts, new Exchange(env, req, res, t, up, attempt, hooks) as unknown as Dispatcher.DispatchHandler)
}

/** The origin key of an undici pool ("http://host:port", IPv6 in brackets). */
export function originOf(host: string, port: number): string {
  return host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`
}
