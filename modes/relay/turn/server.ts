/**
 * The STUN/TURN server: sockets in, frames to the dispatcher, bytes out. UDP and TCP on relay.turn.listen,
 * TLS ("turns:") on relay.turn.tls.listen when a certificate and key are configured. Each TCP or TLS
 * connection is one 5-tuple; its allocation ends when the connection does (RFC 8656 §3.1).
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { readFileSync } from 'node:fs'
import { createServer as createTcpServer, type Server, type Socket } from 'node:net'
import { createServer as createTlsServer } from 'node:tls'
import { CloseReason } from '../../../src/core/ledger.js'
import { ViaductError } from '../../../src/core/errors.js'
import { bindUdp, closeUdp, ConnectionSet, listenTcp, once, stopAccepting, type HostPort, type ListenerInfo } from '../../../src/core/service.js'
import { normalizeIp } from '../../../src/core/net-policy.js'
import type { RelayContext, RelayService } from '../context.js'
import { decodeDatagram, StreamFramer } from './channel-data.js'
import { handleFrame } from './dispatch.js'
import { handleChannelData } from './handlers/send.js'
import { ipLiteralLookup, setBuffers } from './port-pool.js'
import { TurnErrors } from './errors.js'
import { TurnState } from './state.js'
import type { TransportAddress } from './stun/address.js'
import { fiveTupleKey, type ClientProtocol, type ClientTransport } from './transport.js'

/** Relayed data queued on a TCP/TLS client beyond this is dropped (datagram semantics, bounded memory). */
export const MAX_STREAM_BACKLOG = 1 << 20
/** A TCP/TLS connection that has not completed an Allocate by then is closed. */
export const STREAM_IDLE_MS = 60_000

function addr(address: string | undefined, port: number | undefined): TransportAddress {
  const n = normalizeIp(address ?? '0.0.0.0')
  return { family: n?.family ?? 4, address: n?.ip ?? '0.0.0.0', port: port ?? 0 }
}

export class TurnServer implements RelayService {
  readonly state: TurnState
  private udp: UdpSocket | undefined
  private tcp: Server | undefined
  private tls: Server | undefined
  private readonly conns = new ConnectionSet()
  /** UDP client transports, one per client address (reused so allocations keep theirs). */
  private readonly udpClients = new Map<string, ClientTransport>()
  private udpLocal: TransportAddress = { family: 4, address: '0.0.0.0', port: 0 }

  constructor(readonly ctx: RelayContext) {
    this.state = new TurnState(ctx.core, ctx.config.turn)
  }

  async listen(): Promise<ListenerInfo[]> {
    const cfg = this.ctx.config.turn
    const out: ListenerInfo[] = []
    try {
      if (cfg.listen) out.push(...(await this.listenUdpTcp(cfg.listen)))
      if (cfg.tls.listen && cfg.tls.cert && cfg.tls.key) {
        this.tls = createTlsServer({ cert: readFileSync(cfg.tls.cert), key: readFileSync(cfg.tls.key) }, (s) => this.onStream(s, 'tls'))
        this.tls.on('tlsClientError', (err) => this.state.log.debug({ event: 'turn.tls_error', err: err.message }, 'TLS handshake failed'))
        const t = await listenTcp(this.tls, cfg.tls.listen as HostPort)
        out.push({ ...t, listener: 'turn-tls', transport: 'tcp', mode: 'relay' })
      }
    } catch (err) {
      await this.destroy(err as Error)
      throw err
    }
    return out
  }

  /**
   * UDP and TCP on one port. With port 0 the TCP port is the one UDP got; if TCP cannot have it (another
   * program holds it for TCP), try again with a new UDP port.
   */
  private async listenUdpTcp(at: HostPort): Promise<ListenerInfo[]> {
    const family = at.host.includes(':') ? 6 : 4
    for (let attempt = 0; ; attempt++) {
      const udp = createSocket({ type: family === 6 ? 'udp6' : 'udp4', ipv6Only: family === 6, lookup: ipLiteralLookup as never })
      const u = await bindUdp(udp, at)
      const tcp = createTcpServer((s) => this.onStream(s, 'tcp'))
      try {
        const t = await listenTcp(tcp, { host: at.host, port: u.port })
        this.udp = udp
        this.tcp = tcp
        setBuffers(udp)
        this.udpLocal = addr(u.address, u.port)
        udp.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo.address, rinfo.port))
        udp.on('error', (err) => this.state.log.warn({ event: 'turn.udp_error', err: err.message }, 'TURN UDP socket error'))
        return [
          { ...u, listener: 'turn-udp', transport: 'udp', mode: 'relay' },
          { ...t, listener: 'turn-tcp', transport: 'tcp', mode: 'relay' },
        ]
      } catch (err) {
        await closeUdp(udp)
        if (at.port !== 0 || attempt >= 20) throw err
      }
    }
  }

  private onDatagram(buf: Buffer, address: string, port: number): void {
    // hot path: the transport is looked up by the raw address before anything is parsed or normalized
    const key = `${address}|${port}`
    let t = this.udpClients.get(key)
    if (!t) {
      t = this.udpTransport(address, port)
      // Transports are cheap; keep those with an allocation, and a bounded number of others.
      if (this.udpClients.size > 50_000) this.pruneUdpClients()
      this.udpClients.set(key, t)
    }
    let frame
    try {
      frame = decodeDatagram(buf)
    } catch (err) {
      this.state.log.debug({ event: 'turn.malformed', client: t.key, err: (err as Error).message }, 'malformed datagram dropped')
      return
    }
    // ChannelData, the bulk of the traffic, is relayed synchronously; STUN goes through the dispatcher
    if (frame.kind === 'channel') handleChannelData(this.state, t, frame.channel)
    else void handleFrame(this.state, t, frame)
  }

  private udpTransport(address: string, port: number): ClientTransport {
    const udp = this.udp!
    const remote = addr(address, port)
    const local = this.udpLocal
    return {
      protocol: 'udp',
      remote,
      local,
      key: fiveTupleKey('udp', remote, local),
      stream: false,
      sendControl: (b) => udp.send(b, port, address),
      sendData: (b) => {
        udp.send(b, port, address)
        return true
      },
    }
  }

  private pruneUdpClients(): void {
    for (const [k, t] of this.udpClients) if (!this.state.allocationOf(t)) this.udpClients.delete(k)
  }

  private onStream(sock: Socket, protocol: Exclude<ClientProtocol, 'udp'>): void {
    this.conns.add(sock)
    sock.setNoDelay(true)
    const remote = addr(sock.remoteAddress, sock.remotePort)
    const local = addr(sock.localAddress, sock.localPort)
    const t: ClientTransport = {
      protocol,
      remote,
      local,
      key: fiveTupleKey(protocol, remote, local),
      stream: true,
      sendControl: (b) => {
        if (!sock.destroyed) sock.write(b)
      },
      sendData: (b) => {
        if (sock.destroyed || sock.writableLength > MAX_STREAM_BACKLOG) return false
        sock.write(b)
        return true
      },
    }
    const framer = new StreamFramer()
    const clock = this.state.clock
    const idle = clock.setTimeout(() => {
      if (!this.state.allocationOf(t)) sock.destroy()
    }, STREAM_IDLE_MS)
    ;(idle as { unref?: () => void }).unref?.()
    // Frames are handled in order: the next chunk waits for the previous chunk's frames.
    let chain = Promise.resolve()
    sock.on('data', (chunk: Buffer) => {
      let frames
      try {
        frames = framer.push(chunk)
      } catch (err) {
        this.state.log.debug({ event: 'turn.malformed', client: t.key, err: (err as Error).message }, 'malformed stream: closing the connection')
        sock.destroy()
        return
      }
      if (frames.length === 0) return
      sock.pause()
      chain = chain.then(async () => {
        for (const f of frames) await handleFrame(this.state, t, f)
        if (!sock.destroyed) sock.resume()
      })
    })
    sock.on('error', () => undefined)
    sock.on('close', () => {
      clock.clearTimeout(idle)
      this.state.allocationOf(t)?.close(CloseReason.CLIENT_CLOSED)
    })
  }

  /** Stop accepting: no new connections or allocations; live allocations run until they end. */
  close = once(async (): Promise<void> => {
    this.state.accepting = false
    await Promise.all([this.tcp && stopAccepting(this.tcp), this.tls && stopAccepting(this.tls)])
    await this.state.idle()
    await this.shutdownSockets()
  })

  destroy = once(async (err?: Error): Promise<void> => {
    this.state.accepting = false
    const reason = err instanceof ViaductError ? err.code : CloseReason.SHUTDOWN
    this.state.closeAll(reason)
    this.conns.destroyAll()
    await this.shutdownSockets()
  })

  private async shutdownSockets(): Promise<void> {
    await Promise.all([this.tcp && stopAccepting(this.tcp), this.tls && stopAccepting(this.tls)])
    this.conns.destroyAll()
    if (this.udp) await closeUdp(this.udp)
    this.udp = undefined
    this.udpClients.clear()
  }
}

