/**
 * CONNECT tunnels (RFC 9110 §9.3.6): authenticate, check the destination and port, dial, answer 200, then
 * splice the client and the target with backpressure. One ledger session per tunnel, protocol "connect".
 */
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { ViaductError } from '../../../src/core/errors.js'
import { splice } from '../splice.js'
import { openSession } from './accounting.js'
import type { HttpEnv } from './env.js'
import { HttpErrors } from './errors.js'
import { hostFieldProblem, serializeHead, viaValue } from './headers.js'
import { asViaductError, replyRaw } from './replies.js'
import { ReadPump } from './read-pump.js'
import { parseRequestTarget } from './target.js'

export function handleConnect(env: HttpEnv, req: IncomingMessage, socket: Socket, head: Buffer): void {
  const { ctx } = env
  const session = openSession(ctx.core.ledger, env.live, socket, { protocol: 'connect' })
  const abort = new AbortController()
  const onEarlyClose = () => abort.abort()
  socket.once('close', onEarlyClose)
  socket.on('error', () => undefined)
  const fail = (e: unknown) => {
    const err = asViaductError(e)
    replyRaw(socket, err, { realm: env.realm })
    socket.once('close', () => session.close(err.code, err.message))
    if (socket.destroyed) session.close(err.code, err.message)
  }
  let host: string
  let port: number
  try {
    const parsed = parseRequestTarget('CONNECT', req.url ?? '')
    if (parsed.form !== 'authority') throw new ViaductError(HttpErrors.VIADUCT_ERR_HTTP_MALFORMED, 'CONNECT needs host:port')
    ;({ host, port } = parsed.target)
    session.handle.update({ target: parsed.target.authority })
    const hostProblem = hostFieldProblem(req.rawHeaders, req.httpVersion)
    if (hostProblem) throw new ViaductError(HttpErrors.VIADUCT_ERR_HTTP_MALFORMED, hostProblem)
    const user = ctx.auth.checkBasic(req.headers['proxy-authorization'])
    if (user) session.handle.update({ user })
    ctx.policy.checkDestination(host, port, true)
  } catch (e) {
    return fail(e)
  }
  socket.pause()
  const pump = new ReadPump()
  ctx.dialer.dial({ host, port, signal: abort.signal, onread: pump.onread }).then(
    ({ socket: target, remote, onread }) => {
      socket.off('close', onEarlyClose)
      if (socket.destroyed || session.handle.closed) {
        target.destroy()
        return session.close('client_closed', 'client left while the tunnel was being opened')
      }
      session.handle.update({ meta: { remote } })
      // RFC 9110 §9.3.6: "Any 2xx (Successful) response indicates that the sender (and all inbound proxies)
      // will switch to tunnel mode immediately after the response header section"
      const h = env.via ? ['Via', viaValue(req.httpVersion, env.via)] : []
      socket.write(serializeHead(200, 'Connection established', h))
      if (head.length > 0) target.write(head)
      // RFC 9110 §9.3.6: a tunnel closes when either side closes (onEnd 'close-both', see ../splice.ts)
      const tunnel = splice(socket, target, {
        onEnd: 'close-both',
        clock: ctx.core.clock,
        idleTimeoutMs: ctx.config.limits.idleTimeoutMs,
        what: `${host}:${port}`,
        pump: onread ? pump : undefined,
      })
      void tunnel.done.then(({ reason, detail }) => session.close(reason, detail))
    },
    (e) => {
      socket.off('close', onEarlyClose)
      if (socket.destroyed) return session.close('client_closed', 'client left while the tunnel was being opened')
      fail(e)
    },
  )
}
