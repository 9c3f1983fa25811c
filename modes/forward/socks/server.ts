/**
 * The SOCKS4/4a/5 listener (forward.socks.listen), and the acceptor the mixed port hands SOCKS
 * connections to. Each accepted socket is counted against the shared connection limit and becomes one
 * SocksSession (one ledger record).
 */
import { createServer, type Server, type Socket } from 'node:net'
import { CoreErrors } from '../../../src/core/errors.js'
import { CloseReason } from '../../../src/core/ledger.js'
import { ConnectionSet, listenTcp, once, remoteOf, stopAccepting, type ListenerInfo } from '../../../src/core/service.js'
import { MODE_NAME, type ForwardContext, type ForwardService, type SocketAcceptor } from '../context.js'
import { SocksSession } from './session.js'
import type { Resolver } from './udp.js'

export interface SocksServerOptions {
  /** Name resolution for UDP ASSOCIATE destinations and BIND peers (tests inject one; default dns.lookup). */
  resolve?: Resolver
}

export class SocksServer implements ForwardService, SocketAcceptor {
  private server: Server | undefined
  private readonly conns = new ConnectionSet()
  private readonly sessions = new Set<SocksSession>()
  private closing = false

  constructor(
    readonly ctx: ForwardContext,
    private readonly opts: SocksServerOptions = {},
  ) {}

  async listen(): Promise<ListenerInfo[]> {
    const at = this.ctx.config.socks.listen
    if (!at) return []
    // allowHalfOpen: a client that shuts down its sending side still gets the rest of the target's answer
    const server = createServer({ allowHalfOpen: true, noDelay: true })
    server.on('connection', (s) => this.accept(s, 'socks'))
    this.server = server
    const a = await listenTcp(server, at)
    return [{ ...a, listener: 'socks', transport: 'tcp', mode: MODE_NAME }]
  }

  accept(socket: Socket, listener: string): void {
    socket.setNoDelay(true)
    socket.on('error', () => undefined) // every session installs its own handler; this one covers the gaps
    if (this.closing) {
      socket.destroy()
      return
    }
    this.conns.add(socket)
    if (!this.ctx.limiter.tryAcquire(socket)) {
      // Nothing has been read yet, so the client's protocol version is unknown: close without a reply.
      const rec = this.ctx.core.ledger.open({ mode: MODE_NAME, protocol: 'socks', client: remoteOf(socket), listener })
      rec.close(CoreErrors.VIADUCT_ERR_SESSION_LIMIT, `forward.limits.maxConnections (${this.ctx.config.limits.maxConnections}) reached`)
      socket.destroy()
      return
    }
    const session = new SocksSession(this.ctx, socket, listener, (s) => this.sessions.delete(s), this.opts.resolve)
    this.sessions.add(session)
    session.start()
  }

  close = once(async () => {
    this.closing = true
    if (this.server) await stopAccepting(this.server)
    await this.conns.idle()
  })

  destroy = once(async (_err?: Error) => {
    this.closing = true
    if (this.server) await stopAccepting(this.server)
    for (const s of [...this.sessions]) s.destroy(CloseReason.SHUTDOWN)
    this.conns.destroyAll()
    await this.conns.idle()
  })
}
