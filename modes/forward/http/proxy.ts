/**
 * The HTTP forward proxy listener: absolute-form requests (forward.ts), CONNECT tunnels (tunnel.ts) and
 * upgrades (upgrade.ts) over node's strict HTTP/1.1 parser.
 *
 * The node:http server never listens itself: a plain TCP server accepts, applies the client rules and the
 * connection cap, and hands the socket over with `emit('connection')`, which is also how the mixed port
 * gives it sockets (accept()). Parse errors, oversized heads and slow heads become 400/431/408 answers with
 * a ledger record, never a crash.
 */
import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http'
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net'
import { CoreErrors, isViaductError, ViaductError } from '../../../src/core/errors.js'
import { CloseReason } from '../../../src/core/ledger.js'
import { ConnectionSet, formatHostPort, listenTcp, once, stopAccepting, type ListenerInfo } from '../../../src/core/service.js'
import { MODE_NAME, type ForwardContext, type ForwardService, type SocketAcceptor } from '../context.js'
import { LiveSessions, openSession, registerSocket } from './accounting.js'
import { DestinationChecks } from './destinations.js'
import { UpstreamPools } from './agents.js'
import type { HttpEnv } from './env.js'
import { HttpErrors } from './errors.js'
import { handleRequest } from './forward.js'
import { viaPseudonym } from './headers.js'
import { asViaductError, replyRaw } from './replies.js'
import { handleConnect } from './tunnel.js'
import { handleUpgrade } from './upgrade.js'

/** node checks header timeouts on this period; a short header timeout needs a shorter period. */
function checkingInterval(headerTimeoutMs: number): number {
  if (headerTimeoutMs <= 0) return 30_000
  return Math.max(25, Math.min(1000, Math.floor(headerTimeoutMs / 4)))
}

/** Map a node parser / server error to our code. */
export function clientErrorToViaduct(err: NodeJS.ErrnoException & { reason?: string }): ViaductError {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return new ViaductError(HttpErrors.VIADUCT_ERR_HTTP_HEADERS_TOO_LARGE)
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new ViaductError(HttpErrors.VIADUCT_ERR_HTTP_HEADER_TIMEOUT)
    default:
      return new ViaductError(HttpErrors.VIADUCT_ERR_HTTP_MALFORMED, `${err.code ?? 'parse error'}: ${err.reason ?? err.message}`.slice(0, 200))
  }
}

export class HttpProxy implements ForwardService, SocketAcceptor {
  private readonly server: HttpServer
  private listener: TcpServer | undefined
  private readonly conns = new ConnectionSet()
  private readonly env: HttpEnv
  private bound = ''
  private closing = false
  private tracking = false

  constructor(readonly ctx: ForwardContext) {
    const cfg = ctx.config
    const live = new LiveSessions()
    this.env = {
      ctx,
      pools: new UpstreamPools(ctx.dialer, cfg.limits.connectTimeoutMs),
      live,
      destinations: new DestinationChecks(() => ctx.policy, ctx.core.clock),
      via: viaPseudonym(cfg.http.via),
      realm: cfg.authRealm,
      address: () => this.bound || formatHostPort(cfg.http.listen?.host ?? '127.0.0.1', cfg.http.listen?.port ?? 0),
    }
    this.server = createServer({
      maxHeaderSize: cfg.http.maxHeaderBytes,
      headersTimeout: cfg.limits.headerTimeoutMs,
      // a request body may take as long as it takes (100 MiB uploads); idleness is checked instead
      requestTimeout: 0,
      keepAliveTimeout: cfg.limits.idleTimeoutMs,
      connectionsCheckingInterval: checkingInterval(cfg.limits.headerTimeoutMs),
      insecureHTTPParser: false,
      // checked by the handlers (hostFieldProblem) so the 400 names its cause and is recorded
      requireHostHeader: false,
      noDelay: true,
    })
    // a client that half-closes after its request still gets the answer
    ;(this.server as HttpServer & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true
    this.server.on('request', (req, res) => handleRequest(this.env, req, res, false))
    this.server.on('checkContinue', (req, res) => handleRequest(this.env, req, res, true))
    this.server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => handleConnect(this.env, req, socket, head))
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => handleUpgrade(this.env, req, socket, head))
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.onClientError(err, socket))
  }

  async listen(): Promise<ListenerInfo[]> {
    const at = this.ctx.config.http.listen
    if (!at) return []
    this.listener = createTcpServer({ allowHalfOpen: true, noDelay: true }, (s) => this.accept(s, 'http'))
    const a = await listenTcp(this.listener, at)
    this.bound = formatHostPort(a.address, a.port)
    return [{ ...a, listener: 'http', transport: 'tcp', mode: MODE_NAME }]
  }

  /** Take over an accepted socket (from our listener or the mixed port). */
  accept(socket: Socket, listener: string): void {
    if (this.closing) {
      socket.destroy()
      return
    }
    if (!this.tracking) {
      // The node server never listens; 'listening' starts its connection tracking (header timeouts,
      // closeIdleConnections), which server.close() stops again.
      this.tracking = true
      this.server.emit('listening')
    }
    registerSocket(socket, listener)
    this.conns.add(socket)
    try {
      this.ctx.policy.checkClient(socket.remoteAddress)
      if (!this.ctx.limiter.tryAcquire(socket)) {
        throw new ViaductError(CoreErrors.VIADUCT_ERR_SESSION_LIMIT, `more than forward.limits.maxConnections (${this.ctx.config.limits.maxConnections}) connections`)
      }
    } catch (e) {
      return this.refuse(socket, asViaductError(e))
    }
    this.server.emit('connection', socket)
  }

  /** Answer and close a socket before the HTTP parser sees it, with a ledger record. */
  private refuse(socket: Socket, err: ViaductError): void {
    const s = openSession(this.ctx.core.ledger, this.env.live, socket, { protocol: 'http' })
    replyRaw(socket, err, { realm: this.env.realm })
    socket.once('close', () => s.close(err.code, err.message))
  }

  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const busy = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || !socket.writable || busy) {
      socket.destroy()
      return
    }
    this.refuse(socket, clientErrorToViaduct(err))
  }

  close = once(async () => {
    this.closing = true
    if (this.listener) await stopAccepting(this.listener)
    // idle keep-alive connections close now, busy ones as soon as their exchange ends
    while (this.conns.size > 0) {
      this.server.closeIdleConnections()
      await Promise.race([this.conns.idle(), new Promise((r) => setTimeout(r, 100).unref())])
    }
    this.env.pools.destroy()
    this.server.close(() => undefined)
  })

  destroy = once(async (err?: Error) => {
    this.closing = true
    const reason = err && isViaductError(err) ? err.code : CloseReason.SHUTDOWN
    this.env.live.closeAll(reason)
    this.conns.destroyAll()
    this.env.pools.destroy()
    this.server.close(() => undefined)
    if (this.listener) await stopAccepting(this.listener)
  })
}
