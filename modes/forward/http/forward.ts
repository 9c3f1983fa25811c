/**
 * Plain HTTP forwarding: one absolute-form request from the client, sent on a pooled keep-alive
 * connection to the origin (or to an HTTP upstream proxy), bodies streamed both ways with backpressure.
 * One ledger session per request.
 */
import { request, type IncomingMessage, type ServerResponse } from 'node:http'
import { CoreErrors, ViaductError } from '../../../src/core/errors.js'
import { CloseReason } from '../../../src/core/ledger.js'
import { ForwardErrors } from '../errors.js'
import type { HttpUpstream } from '../dial.js'
import { openSession } from './accounting.js'
import { dispatchBodiless, type SendHooks } from './dispatch.js'
import { clientIp, type HttpEnv } from './env.js'
import { HttpErrors } from './errors.js'
import { forwardRequestFields, hostFieldProblem, maxForwards, stripHopByHop, traceBody, viaValue } from './headers.js'
import { infoPage } from './info-page.js'
import { asViaductError, replyError } from './replies.js'
import { parseRequestTarget, type HttpTarget, type RequestTarget } from './target.js'
import { IDEMPOTENT, upstreamError, upstreamName } from './upstream.js'

/** A listener that swallows an error already handled elsewhere (one function, not a closure per request). */
function ignore(): void {}

const PROXY_METHODS = 'GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH'

/** True when the request announces a body (RFC 9112 §6.3: Transfer-Encoding, or a non-zero Content-Length). */
export function announcesBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true
  const cl = req.headers['content-length']
  return cl !== undefined && cl !== '0'
}


export function handleRequest(env: HttpEnv, req: IncomingMessage, res: ServerResponse, expectContinue: boolean): void {
  const { ctx } = env
  // Parsed before the ledger record opens, so the record starts with its target (one 'open' event per
  // request instead of 'open' then 'update': this runs once per request and is on the hot path).
  let parsed: RequestTarget | undefined
  let parseError: unknown
  try {
    parsed = parseRequestTarget(req.method ?? '', req.url ?? '')
  } catch (e) {
    parseError = e
  }
  const target = parsed?.form === 'absolute' ? parsed.target.url : undefined
  const session = openSession(ctx.core.ledger, env.live, req.socket, target === undefined ? { protocol: 'http' } : { protocol: 'http', target })
  let reason: string | undefined
  let detail: string | undefined
  let abortUp: (() => void) | undefined
  // 'close' comes once: on() spares the wrapper once() builds for every request
  res.on('close', () => {
    if (!res.writableFinished) abortUp?.()
    session.close(reason ?? (res.writableFinished ? CloseReason.COMPLETED : CloseReason.CLIENT_CLOSED), detail)
  })
  const fail = (e: unknown) => {
    const err = asViaductError(e)
    reason = err.code
    detail = err.message
    replyError(res, err, { realm: env.realm, close: announcesBody(req) && !req.complete })
  }

  if (!parsed) return fail(parseError)
  if (parsed.form === 'origin' || parsed.form === 'asterisk') return answerAsServer(env, req, res, parsed, fail)
  if (parsed.form !== 'absolute') return fail(new ViaductError(HttpErrors.VIADUCT_ERR_HTTP_MALFORMED, 'authority-form is only for CONNECT'))
  const t = parsed.target
  if (t.scheme !== 'http') return fail(new ViaductError(HttpErrors.VIADUCT_ERR_HTTP_SCHEME, 'ws:// targets need an Upgrade request'))
  try {
    const hostProblem = hostFieldProblem(req.rawHeaders, req.httpVersion)
    if (hostProblem) throw new ViaductError(HttpErrors.VIADUCT_ERR_HTTP_MALFORMED, hostProblem)
    const user = ctx.auth.checkBasic(req.headers['proxy-authorization'])
    if (user) session.handle.update({ user })
    env.destinations.check(t.host, t.port)
  } catch (e) {
    return fail(e)
  }

  const mf = maxForwards(req.method ?? '', req.rawHeaders)
  if (mf === 'answer') {
    reason = CloseReason.COMPLETED
    return answerLocally(req, res)
  }
  const headers = buildRequestHeaders(env, req, t, mf)
  const hooks: SendHooks = {
    setAbort: (a) => (abortUp = a),
    setReason: (r, d) => {
      reason ??= r
      detail ??= d
    },
    fail,
    retry: () => send(env, req, res, t, headers, expectContinue, hooks, 1),
  }
  send(env, req, res, t, headers, expectContinue, hooks, 0)
}

/** Bodiless requests go through undici (dispatch.ts); those with a body or Expect through node's client. */
function send(env: HttpEnv, req: IncomingMessage, res: ServerResponse, t: HttpTarget, headers: string[], expectContinue: boolean, hooks: SendHooks, attempt: number): void {
  const up = env.pools.httpUpstreamFor(t.host, t.port)
  if (!expectContinue && !announcesBody(req)) {
    dispatchBodiless(env, req, res, t, up?.authorization ? [...headers, 'Proxy-Authorization', up.authorization] : headers, up, attempt, hooks)
  } else sendWithBody(env, req, res, t, headers, expectContinue, up, hooks, attempt)
}

/** Headers for the origin: hop-by-hop removed, Host rebuilt, X-Forwarded-For per config, Via added, framing restated. */
export function buildRequestHeaders(env: HttpEnv, req: IncomingMessage, t: HttpTarget, mf: number | null): string[] {
  // RFC 9112 §3.2.2: "When a proxy receives a request with an absolute-form of request-target, the proxy
  // MUST ignore the received Host header field (if any) and instead replace it with the host information of
  // the request-target."
  const h = forwardRequestFields(req.rawHeaders, t.hostHeader, mf !== null, env.ctx.config.http.xForwardedFor, clientIp(req.socket.remoteAddress))
  if (mf !== null) h.push('Max-Forwards', String(mf))
  if (env.via) h.push('Via', viaValue(req.httpVersion, env.via))
  // The body is delimited the way the client delimited it; node re-chunks a chunked body.
  if (req.headers['transfer-encoding'] !== undefined) h.push('Transfer-Encoding', 'chunked')
  else if (req.headers['content-length'] !== undefined) h.push('Content-Length', req.headers['content-length'])
  return h
}

function sendWithBody(env: HttpEnv, req: IncomingMessage, res: ServerResponse, t: HttpTarget, baseHeaders: string[], expectContinue: boolean, up: HttpUpstream | undefined, hooks: SendHooks, attempt: number): void {
  const { ctx } = env
  const headers = up?.authorization ? [...baseHeaders, 'Proxy-Authorization', up.authorization] : baseHeaders
  const what = upstreamName(t, up)
  const idleMs = ctx.config.limits.idleTimeoutMs
  // The idle timeout as a request option rather than out.setTimeout(): node's Agent then sets it on the
  // socket as it hands the socket over (and restores its own pool timeout when the socket is free again),
  // without the extra 'socket' and 'timeout' listeners out.setTimeout() adds for every request.
  const out = request({
    timeout: idleMs > 0 ? idleMs : undefined,
    agent: up ? env.pools.forProxy(up) : env.pools.direct,
    host: up ? up.host : t.host,
    port: up ? up.port : t.port,
    method: req.method,
    path: up ? t.url : t.path,
    headers,
    setHost: false,
  })
  hooks.setAbort(() => {
    if (!out.writableFinished) out.destroy()
  })
  const hasBody = announcesBody(req)
  let responded = false
  const clock = ctx.core.clock
  let timer: ReturnType<typeof clock.setTimeout> | undefined
  const timeoutMs = ctx.config.http.responseTimeoutMs
  // forward.http.responseTimeoutMs counts from the moment the whole request was sent
  out.once('finish', () => {
    if (timeoutMs > 0 && !responded) {
      timer = clock.setTimeout(() => out.destroy(new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_TIMEOUT, `${what}: no response within ${timeoutMs} ms`)), timeoutMs)
    }
  })
  if (idleMs > 0) out.once('timeout', () => out.destroy(new ViaductError(CoreErrors.VIADUCT_ERR_SESSION_IDLE, `${what}: no traffic for ${idleMs} ms`)))

  out.on('error', (e) => {
    clock.clearTimeout(timer)
    const err = upstreamError(e, what)
    // RFC 9112 §9.3.1: a request on a reused connection the origin closed meanwhile may be retried when it
    // is idempotent; we retry only those without a body, once, before any response byte.
    if (!responded && attempt === 0 && out.reusedSocket && !hasBody && IDEMPOTENT.has(req.method ?? '') && (e as NodeJS.ErrnoException).code === 'ECONNRESET' && !res.destroyed) {
      return hooks.retry()
    }
    if (responded) {
      hooks.setReason(err.code, err.message)
      res.destroy()
    } else hooks.fail(err)
  })
  if (expectContinue) out.once('continue', () => res.writeContinue())

  out.once('response', (upRes) => {
    responded = true
    clock.clearTimeout(timer)
    if (up && upRes.statusCode === 407) {
      upRes.resume()
      return hooks.fail(new ViaductError(ForwardErrors.VIADUCT_ERR_UPSTREAM_AUTH, `upstream proxy ${up.host}:${up.port} answered 407`))
    }
    const h = stripHopByHop(upRes.rawHeaders)
    if (upRes.headers['content-length'] !== undefined && upRes.headers['transfer-encoding'] === undefined) h.push('Content-Length', upRes.headers['content-length'])
    if (env.via) h.push('Via', viaValue(upRes.httpVersion, env.via))
    try {
      res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, h)
    } catch (e) {
      upRes.destroy()
      return hooks.fail(new ViaductError(HttpErrors.VIADUCT_ERR_HTTP_BAD_RESPONSE, `${what}: ${(e as Error).message}`))
    }
    upRes.on('error', ignore)
    upRes.once('close', () => {
      // the origin went away before the end of its message: close the client connection, never hang it
      if (!upRes.complete) {
        hooks.setReason(ForwardErrors.VIADUCT_ERR_TARGET_RESET, `${what}: connection closed mid-body`)
        res.destroy()
      }
    })
    upRes.pipe(res)
  })

  if (attempt === 0 && hasBody) {
    // with Expect: 100-continue the head must reach the origin before the client sends the body
    out.flushHeaders()
    req.pipe(out)
  } else out.end()
}

/** Origin-form (or "*") requests are for the proxy itself: the info page, an OPTIONS answer, or 400. */
function answerAsServer(env: HttpEnv, req: IncomingMessage, res: ServerResponse, parsed: RequestTarget, fail: (e: unknown) => void): void {
  const method = req.method ?? ''
  if (parsed.form === 'asterisk' || (parsed.form === 'origin' && method === 'OPTIONS' && parsed.path === '*')) {
    res.writeHead(200, { Allow: PROXY_METHODS, 'Content-Length': '0' })
    return void res.end()
  }
  if (parsed.form === 'origin' && parsed.path === '/' && env.ctx.config.http.infoPage && (method === 'GET' || method === 'HEAD')) {
    const body = infoPage(env.address(), env.ctx.auth.required)
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)), 'Cache-Control': 'no-store' })
    return void res.end(method === 'HEAD' ? undefined : body)
  }
  fail(new ViaductError(HttpErrors.VIADUCT_ERR_HTTP_ORIGIN_FORM, `"${(req.url ?? '').slice(0, 100)}" is not an absolute URL; this is a proxy: configure it as your client's proxy`))
}

/** TRACE or OPTIONS with Max-Forwards: 0, answered as the final recipient (RFC 9110 §7.6.2). */
function answerLocally(req: IncomingMessage, res: ServerResponse): void {
  if (req.method === 'TRACE') {
    // RFC 9110 §9.3.8: "The final recipient of the request SHOULD reflect the message received, excluding
    // some fields described below, back to the client as the content of a 200 (OK) response."
    const body = traceBody(req.method, req.url ?? '', req.httpVersion, req.rawHeaders)
    res.writeHead(200, { 'Content-Type': 'message/http', 'Content-Length': String(Buffer.byteLength(body)) })
    res.end(body)
  } else {
    res.writeHead(200, { Allow: PROXY_METHODS, 'Content-Length': '0' })
    res.end()
  }
  req.resume()
}
