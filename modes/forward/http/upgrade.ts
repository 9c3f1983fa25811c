/**
 * Upgrades in absolute form (WebSocket: "GET http://host/chat HTTP/1.1" with "Upgrade: websocket") passed
 * through: the request goes to the origin with the hop-by-hop fields removed and the upgrade re-stated
 * (RFC 9110 §7.8: "A server that sends a 101 (Switching Protocols) response MUST send an Upgrade header
 * field"; Upgrade is hop-by-hop, so the proxy re-adds it with "Connection: Upgrade" on each hop). On 101 the
 * two sockets are spliced; any other answer is relayed and the connection closed. One ledger session,
 * protocol "websocket" (or "upgrade" for other protocols).
 */
import { request, type IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { ViaductError } from '../../../src/core/errors.js'
import { CloseReason } from '../../../src/core/ledger.js'
import { mapDialError } from '../dial.js'
import { ForwardErrors } from '../errors.js'
import { splice } from '../splice.js'
import { openSession } from './accounting.js'
import { clientIp, type HttpEnv } from './env.js'
import { HttpErrors } from './errors.js'
import { applyForwardedFor, hostFieldProblem, serializeHead, stripHopByHop, viaValue } from './headers.js'
import { asViaductError, reasonPhrase, replyRaw } from './replies.js'
import { parseRequestTarget, type HttpTarget } from './target.js'
import { upstreamError } from './upstream.js'

/** Upgrade token: what may appear in an Upgrade field (RFC 9110 §7.8 protocol = token ["/" token]). */
const UPGRADE_VALUE = /^[A-Za-z0-9!#$%&'*+.^_`|~/, -]{1,256}$/

export function handleUpgrade(env: HttpEnv, req: IncomingMessage, socket: Socket, head: Buffer): void {
  const { ctx } = env
  const upgrade = String(req.headers.upgrade ?? '')
  const session = openSession(ctx.core.ledger, env.live, socket, { protocol: /websocket/i.test(upgrade) ? 'websocket' : 'upgrade' })
  socket.on('error', () => undefined)
  let settled = false
  const fail = (e: unknown) => {
    if (settled) return
    settled = true
    const err = asViaductError(e)
    replyRaw(socket, err, { realm: env.realm })
    if (socket.destroyed) session.close(err.code, err.message)
    else socket.once('close', () => session.close(err.code, err.message))
  }
  let t: HttpTarget
  try {
    const parsed = parseRequestTarget(req.method ?? '', req.url ?? '')
    if (parsed.form !== 'absolute') {
      throw new ViaductError(HttpErrors.VIADUCT_ERR_HTTP_ORIGIN_FORM, 'an upgrade through a proxy needs an absolute URL (or CONNECT first)')
    }
    t = parsed.target
    session.handle.update({ target: t.url })
    if (!UPGRADE_VALUE.test(upgrade)) throw new ViaductError(HttpErrors.VIADUCT_ERR_HTTP_MALFORMED, 'bad Upgrade field')
    const hostProblem = hostFieldProblem(req.rawHeaders, req.httpVersion)
    if (hostProblem) throw new ViaductError(HttpErrors.VIADUCT_ERR_HTTP_MALFORMED, hostProblem)
    const user = ctx.auth.checkBasic(req.headers['proxy-authorization'])
    if (user) session.handle.update({ user })
    ctx.policy.checkDestination(t.host, t.port, false)
  } catch (e) {
    return fail(e)
  }

  let h = ['Host', t.hostHeader, ...stripHopByHop(req.rawHeaders)]
  h = applyForwardedFor(h, ctx.config.http.xForwardedFor, clientIp(socket.remoteAddress))
  if (env.via) h.push('Via', viaValue(req.httpVersion, env.via))
  h.push('Connection', 'Upgrade', 'Upgrade', upgrade)
  if (req.headers['content-length'] !== undefined) h.push('Content-Length', req.headers['content-length'])

  const abort = new AbortController()
  const what = t.hostHeader
  const onEarlyClose = () => {
    abort.abort()
    out.destroy()
    if (!settled) session.close(CloseReason.CLIENT_CLOSED, 'client left before the upgrade answer')
  }
  socket.once('close', onEarlyClose)
  const out = request({
    method: req.method,
    host: t.host,
    port: t.port,
    path: t.path,
    headers: h,
    setHost: false,
    createConnection: ((_o: unknown, cb: (err: Error | null, s?: Socket) => void) => {
      ctx.dialer.dial({ host: t.host, port: t.port, signal: abort.signal }).then(
        (r) => cb(null, r.socket),
        (e) => cb(mapDialError(e, what)),
      )
      return undefined
    }) as never,
  })
  const clock = ctx.core.clock
  const timeoutMs = ctx.config.http.responseTimeoutMs
  const timer = timeoutMs > 0 ? clock.setTimeout(() => out.destroy(new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_TIMEOUT, `${what}: no answer to the upgrade within ${timeoutMs} ms`)), timeoutMs) : undefined
  out.on('error', (e) => {
    clock.clearTimeout(timer)
    if (!settled) fail(upstreamError(e, what))
  })

  out.once('upgrade', (upRes, upSocket: Socket, upHead: Buffer) => {
    clock.clearTimeout(timer)
    if (settled || socket.destroyed) return upSocket.destroy()
    settled = true
    const rh = stripHopByHop(upRes.rawHeaders)
    rh.push('Connection', 'Upgrade', 'Upgrade', String(upRes.headers.upgrade ?? upgrade))
    if (env.via) rh.push('Via', viaValue(upRes.httpVersion, env.via))
    socket.write(serializeHead(101, upRes.statusMessage || reasonPhrase(101), rh))
    if (upHead.length > 0) socket.write(upHead)
    if (head.length > 0) upSocket.write(head)
    socket.off('close', onEarlyClose)
    const tunnel = splice(socket, upSocket, { onEnd: 'close-both', clock, idleTimeoutMs: ctx.config.limits.idleTimeoutMs, what })
    void tunnel.done.then(({ reason, detail }) => session.close(reason, detail))
  })

  out.once('response', (upRes) => {
    // the origin declined the upgrade: relay its answer, then close (the connection is not HTTP any more)
    clock.clearTimeout(timer)
    if (settled) return upRes.destroy()
    settled = true
    const rh = stripHopByHop(upRes.rawHeaders)
    if (upRes.headers['content-length'] !== undefined && upRes.headers['transfer-encoding'] === undefined) rh.push('Content-Length', upRes.headers['content-length'])
    if (env.via) rh.push('Via', viaValue(upRes.httpVersion, env.via))
    rh.push('Connection', 'close')
    const status = upRes.statusCode ?? 502
    socket.write(serializeHead(status, upRes.statusMessage || reasonPhrase(status), rh))
    socket.off('close', onEarlyClose)
    upRes.pipe(socket)
    upRes.once('close', () => {
      if (!upRes.complete) socket.destroy()
    })
    socket.once('close', () => session.close(upRes.complete ? CloseReason.COMPLETED : ForwardErrors.VIADUCT_ERR_TARGET_RESET))
  })
  out.end()
}
