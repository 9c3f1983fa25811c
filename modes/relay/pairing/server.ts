/**
 * The pairing relay: TCP (with WebSocket by HTTP Upgrade on the same port) and UDP on one port. Peers
 * send a hello with a room and a token; the first waits, the second pairs, and from then on the relay
 * only moves bytes (streams) or datagrams between them (docs/relay-protocol.md).
 */
import { createServer as createTcpServer, type Server, type Socket } from 'node:net'
import { createServer as createHttpServer, type IncomingMessage } from 'node:http'
import { WebSocketServer, type WebSocket } from 'ws'
import { ViaductError } from '../../../src/core/errors.js'
import type { Timer } from '../../../src/core/clock.js'
import { CloseReason, type SessionHandle } from '../../../src/core/ledger.js'
import { ConnectionSet, listenTcp, once, stopAccepting, type ListenerInfo } from '../../../src/core/service.js'
import type { PairingConfig } from '../config.js'
import { MODE_NAME, type RelayContext, type RelayService } from '../context.js'
import { PairErrors } from './errors.js'
import type { Hello } from './hello.js'
import { Rendezvous, type Registration } from './rendezvous.js'
import { encodePaired, encodeWaiting } from './status.js'
import { StreamPairing } from './stream-pairing.js'
import { TcpPeer, WsPeer, type StreamPeer, type StreamPeerEvents } from './stream-peer.js'
import { verifyToken } from './token.js'
import { UdpPairing } from './udp.js'

/** Largest WebSocket message a peer may send (frames are forwarded as they come; bounded memory). */
export const WS_MAX_PAYLOAD = 1024 * 1024

/**
 * Write buffer per relay socket before the splice pauses the other side (and read size). 256 KiB
 * instead of Node's 16 KiB: fewer pause/resume turns per MiB; still a fixed bound per pairing.
 */
export const SOCKET_HIGH_WATER_MARK = 256 * 1024

export const LISTENER_TCP = 'pairing-tcp'
export const LISTENER_UDP = 'pairing-udp'

interface StreamWaiter {
  peer: StreamPeer
  hello: Hello
  session: SessionHandle
  timer?: Timer
  reg: Registration<object>
}

export class PairingRelay implements RelayService {
  readonly cfg: PairingConfig
  readonly table: Rendezvous<object>
  private readonly tcp: Server
  private readonly http = createHttpServer((req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain', connection: 'close', upgrade: 'websocket' })
    res.end('This is a Viaduct pairing relay: connect with a WebSocket (binary messages, docs/relay-protocol.md).\n')
  })
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: WS_MAX_PAYLOAD, perMessageDeflate: false })
  private udp: UdpPairing | undefined
  private readonly conns = new ConnectionSet()
  private readonly waiters = new Map<StreamPeer, StreamWaiter>()
  private readonly pairings = new Set<StreamPairing>()
  private closing = false
  private readonly events: StreamPeerEvents

  constructor(readonly ctx: RelayContext) {
    this.cfg = ctx.config.pairing
    this.table = new Rendezvous({ maxWaiting: this.cfg.maxWaiting, maxWaitingPerIp: this.cfg.maxWaitingPerIp })
    this.events = {
      hello: (peer, hello) => this.onHello(peer, hello),
      bad: (peer, err) => this.refuse(peer, err),
      gone: (peer) => this.onGone(peer),
      http: this.cfg.websocket ? (socket, first) => this.toHttp(socket, first) : undefined,
    }
    this.tcp = createTcpServer({ allowHalfOpen: true, noDelay: true, highWaterMark: SOCKET_HIGH_WATER_MARK }, (s) => this.onSocket(s))
    this.http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      if (this.closing) return socket.destroy()
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onWs(ws, req))
    })
    this.http.on('clientError', (_err, socket) => socket.destroy())
  }

  private get core() {
    return this.ctx.core
  }

  async listen(): Promise<ListenerInfo[]> {
    const at = this.cfg.listen
    if (!at) return []
    const a = await listenTcp(this.tcp, at)
    const out: ListenerInfo[] = [{ ...a, listener: LISTENER_TCP, transport: 'tcp', mode: MODE_NAME }]
    if (this.cfg.udp) {
      this.udp = new UdpPairing(this.ctx, this.table, (h) => this.admit(h))
      try {
        const u = await this.udp.listen({ host: at.host, port: a.port }, a.family === 'IPv6' ? 'udp6' : 'udp4')
        out.push({ ...u, listener: LISTENER_UDP, transport: 'udp', mode: MODE_NAME })
      } catch (err) {
        await stopAccepting(this.tcp)
        throw err
      }
    }
    return out
  }

  /** Counters for tests and the dashboard. */
  stats() {
    return {
      waiting: this.table.waitingCount,
      pairedRooms: this.table.pairedCount,
      streamPairings: this.pairings.size,
      udp: this.udp?.stats(),
    }
  }

  close = once(async () => {
    this.closing = true
    await stopAccepting(this.tcp)
    this.dropWaiters(PairErrors.VIADUCT_ERR_PAIR_SHUTDOWN)
    await Promise.all([...this.pairings].map((p) => p.closed))
    await this.udp?.close()
    await this.conns.idle()
  })

  destroy = once(async (_err?: Error) => {
    this.closing = true
    await stopAccepting(this.tcp)
    this.dropWaiters(PairErrors.VIADUCT_ERR_PAIR_SHUTDOWN)
    const stops = [...this.pairings].map((p) => p.stop(CloseReason.SHUTDOWN))
    await this.udp?.destroy()
    this.conns.destroyAll()
    await Promise.race([Promise.all(stops), new Promise((r) => setTimeout(r, 1000).unref())])
    for (const ws of this.wss.clients) ws.terminate()
    this.wss.close()
  })

  /** Check a hello's token against the configured secrets (throws TOKEN_INVALID / TOKEN_EXPIRED). */
  admit(hello: Hello): void {
    if (this.closing) throw new ViaductError(PairErrors.VIADUCT_ERR_PAIR_SHUTDOWN)
    if (this.cfg.secrets.length === 0) throw new ViaductError(PairErrors.VIADUCT_ERR_PAIR_TOKEN_INVALID, 'the relay has no secret configured (--relay-secret): nobody can register')
    verifyToken({ token: hello.token, room: hello.id, secrets: this.cfg.secrets, nowMs: this.core.clock.now() })
  }

  private onSocket(s: Socket): void {
    this.conns.add(s)
    if (this.closing) return void s.destroy()
    new TcpPeer(s, LISTENER_TCP, this.core.clock, this.events, this.cfg.helloTimeoutMs)
  }

  private toHttp(socket: Socket, first: Buffer): void {
    socket.pause()
    socket.unshift(first)
    this.http.emit('connection', socket)
    socket.resume()
  }

  private onWs(ws: WebSocket, req: IncomingMessage): void {
    new WsPeer(ws, req.socket.remoteAddress, req.socket.remotePort, LISTENER_TCP, this.core.clock, this.events, this.cfg.helloTimeoutMs)
  }

  private protocolOf(a: string, b?: string): string {
    return b === undefined || a === b ? `pair-${a}` : `pair-${a}-${b}`
  }

  /** Record a refusal in the ledger (a short session closed with the code) and tell the peer. */
  private refuse(peer: StreamPeer, err: ViaductError, room?: string): void {
    const s = this.core.ledger.open({ mode: MODE_NAME, protocol: this.protocolOf(peer.transport), client: peer.addr, listener: peer.listener, meta: room ? { room } : undefined })
    s.close(err.code, err.message)
    peer.refuse(err)
  }

  private onHello(peer: StreamPeer, hello: Hello): void {
    const reg: Registration<object> = { room: hello.id, side: hello.side, ip: peer.ip, kind: 'stream', peer: {} }
    let result
    try {
      this.admit(hello)
      result = this.table.register(reg)
    } catch (err) {
      return this.refuse(peer, err as ViaductError, hello.id)
    }
    if (result.kind === 'waiting') {
      const session = this.core.ledger.open({ mode: MODE_NAME, protocol: this.protocolOf(peer.transport), client: peer.addr, listener: peer.listener, meta: { room: hello.id } })
      const w: StreamWaiter = { peer, hello, session, reg }
      reg.peer = w
      this.waiters.set(peer, w)
      peer.send(encodeWaiting(this.cfg.waitTimeoutMs))
      if (this.cfg.waitTimeoutMs > 0) {
        w.timer = this.core.clock.setTimeout(() => {
          if (!this.waiters.delete(peer)) return
          this.table.cancel(reg)
          const err = new ViaductError(PairErrors.VIADUCT_ERR_PAIR_WAIT_TIMEOUT, `no partner in ${this.cfg.waitTimeoutMs} ms`)
          session.close(err.code, err.message)
          peer.refuse(err)
        }, this.cfg.waitTimeoutMs)
      }
      return
    }
    const a = result.partner.peer as StreamWaiter
    this.waiters.delete(a.peer)
    this.core.clock.clearTimeout(a.timer)
    this.pair(a, peer, hello.id)
  }

  private pair(a: StreamWaiter, b: StreamPeer, room: string): void {
    const session = a.session
    session.update({ peer: b.addr, protocol: this.protocolOf(a.peer.transport, b.transport), meta: { room, peerListener: b.listener } })
    a.peer.send(encodePaired({ self: a.peer.observed, peer: b.observed, selfTransport: a.peer.transport, peerTransport: b.transport }))
    b.send(encodePaired({ self: b.observed, peer: a.peer.observed, selfTransport: b.transport, peerTransport: a.peer.transport }))
    const headA = a.peer.head.length ? Buffer.concat(a.peer.head) : undefined
    const headB = b.head.length ? Buffer.concat(b.head) : undefined
    const p = new StreamPairing(room, session, a.peer.toSpliceEnd(), b.toSpliceEnd(), this.cfg, this.core.clock, (x) => {
      this.pairings.delete(x)
      this.table.unpair(room)
    })
    this.pairings.add(p)
    p.start(headA, headB)
  }

  private onGone(peer: StreamPeer): void {
    const w = this.waiters.get(peer)
    if (!w) return
    this.waiters.delete(peer)
    this.core.clock.clearTimeout(w.timer)
    this.table.cancel(w.reg)
    w.session.close(CloseReason.CLIENT_CLOSED, 'left before a partner arrived')
  }

  private dropWaiters(code: string): void {
    for (const [peer, w] of this.waiters) {
      this.waiters.delete(peer)
      this.core.clock.clearTimeout(w.timer)
      this.table.cancel(w.reg)
      w.session.close(CloseReason.SHUTDOWN)
      peer.refuse(new ViaductError(code))
    }
  }
}
