/**
 * The pairing relay over UDP. A peer registers with a hello datagram; the relay learns its public
 * 5-tuple (source address and port as the relay sees them, after every NAT on the way) from it. After
 * pairing, every datagram from one peer's 5-tuple is sent, unchanged, to the other's; the relay sends
 * nothing of its own any more. An empty datagram is a keepalive (holds the NAT mapping and the relay's
 * mapping open, not forwarded). A mapping that hears nothing for udpIdleTimeoutMs expires.
 * Datagrams from unknown 5-tuples that are not a hello are dropped and counted, never answered.
 */
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram'
import { lookup as dnsLookup } from 'node:dns'
import { isIP, type AddressInfo } from 'node:net'
import type { Timer } from '../../../src/core/clock.js'
import { CoreErrors, ViaductError } from '../../../src/core/errors.js'
import { CloseReason, type SessionHandle } from '../../../src/core/ledger.js'
import { normalizeIp } from '../../../src/core/net-policy.js'
import { bindUdp, closeUdp, formatHostPort, type HostPort } from '../../../src/core/service.js'
import { MODE_NAME, type RelayContext } from '../context.js'
import { HEADER_BYTES, MAGIC_0, MAGIC_1 } from './constants.js'
import { PairErrors, statusForError } from './errors.js'
import { decodeHello, type Hello } from './hello.js'
import type { Registration, Rendezvous } from './rendezvous.js'
import { encodePaired, encodeRefusal, encodeWaiting, type PeerAddress } from './status.js'

const LISTENER = 'pairing-udp'

/**
 * Kernel socket buffers asked for (the kernel caps them at net.core.rmem_max / wmem_max). The default
 * receive buffer (about 208 KiB) holds fewer than 100 datagrams of 1,200 bytes (each costs its skb's
 * truesize, about 2.3 KiB): a burst from one peer while the event loop is busy overflowed it and was lost.
 */
export const UDP_BUFFER_BYTES = 4 << 20

/**
 * dgram resolves every destination through a lookup function (dns.lookup by default: one process.nextTick
 * per datagram sent). The relay only sends to the IP literals it observed, so it answers synchronously.
 */
function ipLiteralLookup(address: string, family: number, cb: (err: Error | null, address: string, family: number) => void): void {
  const f = isIP(address)
  if (f !== 0) return cb(null, address, f)
  // a host name (a listen address like "localhost"): the usual resolver
  dnsLookup(address, family, (err, a, fam) => cb(err, a, fam))
}

interface UdpPeer {
  key: string
  observed: PeerAddress
  hello: Buffer
  room: string
  reg: Registration<object>
  state: 'waiting' | 'paired'
  lastSeen: number
  session: SessionHandle
  pair?: UdpPair
  rawKey?: string
  waitTimer?: Timer
  mapTimer?: Timer
}

interface UdpPair {
  a: UdpPeer
  b: UdpPeer
  room: string
  session: SessionHandle
  bytes: number
  last: number
  durationTimer?: Timer
  idleTimer?: Timer
  ended: boolean
}

export interface UdpStats {
  /** Datagrams from unknown 5-tuples that were not a hello: dropped, not answered. */
  droppedUnknown: number
  /** Datagrams from a waiting peer that were neither its hello nor a keepalive. */
  droppedWaiting: number
  forwarded: number
  keepalives: number
  refused: number
  peers: number
  pairs: number
}

export class UdpPairing {
  private sock: UdpSocket | undefined
  private readonly peers = new Map<string, UdpPeer>()
  /** The same peers by the raw "address|port" of rinfo: the per-datagram lookup without parsing. */
  private readonly byRaw = new Map<string, UdpPeer>()
  private readonly pairs = new Set<UdpPair>()
  private closing = false
  private readonly counters = { droppedUnknown: 0, droppedWaiting: 0, forwarded: 0, keepalives: 0, refused: 0 }
  private drainWaiters: Array<() => void> = []

  constructor(
    private readonly ctx: RelayContext,
    private readonly table: Rendezvous<object>,
    private readonly admit: (h: Hello) => void,
  ) {}

  private get cfg() {
    return this.ctx.config.pairing
  }

  private get clock() {
    return this.ctx.core.clock
  }

  async listen(at: HostPort, type: 'udp4' | 'udp6'): Promise<AddressInfo> {
    const sock = createSocket({ type, reuseAddr: false, lookup: ipLiteralLookup as never })
    this.sock = sock
    sock.on('message', (msg, rinfo) => this.onMessage(msg, rinfo))
    sock.on('error', (err) => this.ctx.core.log.debug({ event: 'error', err }, 'pairing udp socket error'))
    const info = await bindUdp(sock, at)
    try {
      sock.setRecvBufferSize(UDP_BUFFER_BYTES)
      sock.setSendBufferSize(UDP_BUFFER_BYTES)
    } catch {
      // not permitted: keep the defaults
    }
    return info
  }

  stats(): UdpStats {
    return { ...this.counters, peers: this.peers.size, pairs: this.pairs.size }
  }

  async close(): Promise<void> {
    this.closing = true
    this.dropWaiting()
    if (this.pairs.size) await new Promise<void>((r) => this.drainWaiters.push(r))
    if (this.sock) await closeUdp(this.sock)
  }

  async destroy(): Promise<void> {
    this.closing = true
    this.dropWaiting()
    for (const p of [...this.pairs]) this.endPair(p, CloseReason.SHUTDOWN)
    if (this.sock) await closeUdp(this.sock)
  }

  private send(buf: Buffer, to: PeerAddress): void {
    // No callback: send errors (ICMP unreachable on a connected path, ...) arrive as 'error' events.
    this.sock?.send(buf, to.port, to.address)
  }

  private addPeer(p: UdpPeer, rinfo: RemoteInfo): void {
    this.peers.set(p.key, p)
    p.rawKey = `${rinfo.address}|${rinfo.port}`
    this.byRaw.set(p.rawKey, p)
  }

  private removePeer(p: UdpPeer): void {
    if (this.peers.get(p.key) === p) this.peers.delete(p.key)
    if (p.rawKey && this.byRaw.get(p.rawKey) === p) this.byRaw.delete(p.rawKey)
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    const fast = this.byRaw.get(`${rinfo.address}|${rinfo.port}`)
    if (fast) return this.fromKnown(fast, msg)
    const n = normalizeIp(rinfo.address)
    if (!n) return
    const key = formatHostPort(n.ip, rinfo.port)
    const peer = this.peers.get(key)
    if (peer) return this.fromKnown(peer, msg)
    // Unknown 5-tuple: only a hello is answered.
    if (msg.length < 2 || msg[0] !== MAGIC_0 || msg[1] !== MAGIC_1) {
      this.counters.droppedUnknown++
      return
    }
    const from: PeerAddress = { address: n.ip, family: n.family, port: rinfo.port }
    let hello: Hello
    try {
      const r = decodeHello(msg)
      if (!r) throw new ViaductError(PairErrors.VIADUCT_ERR_PAIR_MALFORMED, 'truncated hello datagram (a hello is one whole datagram)')
      if (r.bytesRead !== msg.length) throw new ViaductError(PairErrors.VIADUCT_ERR_PAIR_MALFORMED, 'bytes after the hello in its datagram')
      hello = r.value
    } catch (err) {
      return this.refuse(from, key, msg.length, err as ViaductError)
    }
    const reg: Registration<object> = { room: hello.id, side: hello.side, ip: n.ip, kind: 'datagram', peer: {} }
    let result
    try {
      this.admit(hello)
      result = this.table.register(reg)
    } catch (err) {
      return this.refuse(from, key, msg.length, err as ViaductError, hello.id)
    }
    const now = this.clock.now()
    if (result.kind === 'waiting') {
      const session = this.ctx.core.ledger.open({ mode: MODE_NAME, protocol: 'pair-udp', client: key, listener: LISTENER, meta: { room: hello.id } })
      const p: UdpPeer = { key, observed: from, hello: Buffer.from(msg), room: hello.id, reg, state: 'waiting', lastSeen: now, session }
      reg.peer = p
      this.addPeer(p, rinfo)
      this.armMapping(p, this.cfg.udpIdleTimeoutMs)
      if (this.cfg.waitTimeoutMs > 0) {
        p.waitTimer = this.clock.setTimeout(() => {
          if (p.state !== 'waiting' || this.peers.get(key) !== p) return
          this.forgetWaiting(p, PairErrors.VIADUCT_ERR_PAIR_WAIT_TIMEOUT, `no partner in ${this.cfg.waitTimeoutMs} ms`)
          this.send(encodeRefusal(statusForError(new ViaductError(PairErrors.VIADUCT_ERR_PAIR_WAIT_TIMEOUT))), p.observed)
        }, this.cfg.waitTimeoutMs)
      }
      this.send(encodeWaiting(this.cfg.waitTimeoutMs), from)
      return
    }
    const a = result.partner.peer as UdpPeer
    this.clock.clearTimeout(a.waitTimer)
    const b: UdpPeer = { key, observed: from, hello: Buffer.from(msg), room: hello.id, reg, state: 'paired', lastSeen: now, session: a.session }
    reg.peer = b
    this.addPeer(b, rinfo)
    this.armMapping(b, this.cfg.udpIdleTimeoutMs)
    a.state = 'paired'
    const pair: UdpPair = { a, b, room: hello.id, session: a.session, bytes: 0, last: now, ended: false }
    a.pair = pair
    b.pair = pair
    this.pairs.add(pair)
    a.session.update({ peer: key, meta: { room: hello.id } })
    if (this.cfg.maxDurationMs > 0) {
      pair.durationTimer = this.clock.setTimeout(() => this.endPair(pair, PairErrors.VIADUCT_ERR_PAIR_DURATION_LIMIT, `${this.cfg.maxDurationMs} ms`), this.cfg.maxDurationMs)
    }
    if (this.cfg.idleTimeoutMs > 0) this.armIdle(pair, this.cfg.idleTimeoutMs)
    this.send(this.pairedFor(a, b), a.observed)
    this.send(this.pairedFor(b, a), b.observed)
  }

  private pairedFor(self: UdpPeer, other: UdpPeer): Buffer {
    return encodePaired({ self: self.observed, peer: other.observed, selfTransport: 'udp', peerTransport: 'udp' })
  }

  private fromKnown(p: UdpPeer, msg: Buffer): void {
    p.lastSeen = this.clock.now()
    if (msg.length === 0) {
      this.counters.keepalives++
      return
    }
    // A retransmitted hello (its status got lost) is answered again, not forwarded.
    if (msg.length === p.hello.length && msg.equals(p.hello)) {
      if (p.state === 'waiting') this.send(encodeWaiting(this.cfg.waitTimeoutMs), p.observed)
      else if (p.pair) this.send(this.pairedFor(p, p.pair.a === p ? p.pair.b : p.pair.a), p.observed)
      return
    }
    const pair = p.pair
    if (p.state === 'waiting' || !pair) {
      if (p.state === 'waiting' && looksLikeHello(msg)) {
        // Another hello from a registered 5-tuple replaces nothing: refused, the registration stays.
        this.counters.refused++
        this.send(encodeRefusal(statusForError(new ViaductError(PairErrors.VIADUCT_ERR_PAIR_ALREADY_REGISTERED))), p.observed)
        return
      }
      this.counters.droppedWaiting++
      return
    }
    const dir = pair.a === p ? 'up' : 'down'
    const to = dir === 'up' ? pair.b : pair.a
    if (this.cfg.maxBytes > 0 && pair.bytes + msg.length > this.cfg.maxBytes) {
      this.endPair(pair, PairErrors.VIADUCT_ERR_PAIR_BYTES_LIMIT, `${this.cfg.maxBytes} bytes`)
      return
    }
    pair.bytes += msg.length
    pair.last = p.lastSeen
    if (dir === 'up') pair.session.add(msg.length, 0)
    else pair.session.add(0, msg.length)
    this.counters.forwarded++
    this.send(msg, to.observed)
  }

  /** Refuse a hello: a short ledger record, and (when the datagram was a full header) an 8-byte reply. */
  private refuse(from: PeerAddress, key: string, size: number, err: ViaductError, room?: string): void {
    this.counters.refused++
    const s = this.ctx.core.ledger.open({ mode: MODE_NAME, protocol: 'pair-udp', client: key, listener: LISTENER, meta: room ? { room } : undefined })
    s.close(err.code, err.message)
    // Never answer with more bytes than were received (no reflection amplification).
    if (size >= HEADER_BYTES) this.send(encodeRefusal(statusForError(err)), from)
  }

  private armMapping(p: UdpPeer, ms: number): void {
    if (this.cfg.udpIdleTimeoutMs <= 0) return
    p.mapTimer = this.clock.setTimeout(() => {
      if (this.peers.get(p.key) !== p) return
      const quiet = this.clock.now() - p.lastSeen
      if (quiet < this.cfg.udpIdleTimeoutMs) return this.armMapping(p, this.cfg.udpIdleTimeoutMs - quiet)
      const detail = `${p.key} sent nothing for ${quiet} ms`
      if (p.state === 'waiting') this.forgetWaiting(p, PairErrors.VIADUCT_ERR_PAIR_MAPPING_EXPIRED, detail)
      else if (p.pair) this.endPair(p.pair, PairErrors.VIADUCT_ERR_PAIR_MAPPING_EXPIRED, detail)
    }, ms)
  }

  private armIdle(pair: UdpPair, ms: number): void {
    pair.idleTimer = this.clock.setTimeout(() => {
      if (pair.ended) return
      const quiet = this.clock.now() - pair.last
      if (quiet >= this.cfg.idleTimeoutMs) this.endPair(pair, CoreErrors.VIADUCT_ERR_SESSION_IDLE, `no data for ${quiet} ms`)
      else this.armIdle(pair, this.cfg.idleTimeoutMs - quiet)
    }, ms)
  }

  private forgetWaiting(p: UdpPeer, reason: string, detail?: string): void {
    this.clock.clearTimeout(p.waitTimer)
    this.clock.clearTimeout(p.mapTimer)
    this.removePeer(p)
    this.table.cancel(p.reg)
    p.session.close(reason, detail)
  }

  private endPair(pair: UdpPair, reason: string, detail?: string): void {
    if (pair.ended) return
    pair.ended = true
    for (const p of [pair.a, pair.b]) {
      this.clock.clearTimeout(p.mapTimer)
      this.removePeer(p)
    }
    this.clock.clearTimeout(pair.durationTimer)
    this.clock.clearTimeout(pair.idleTimer)
    this.pairs.delete(pair)
    this.table.unpair(pair.room)
    pair.session.close(reason, detail)
    if (this.pairs.size === 0) {
      for (const w of this.drainWaiters) w()
      this.drainWaiters = []
    }
  }

  private dropWaiting(): void {
    for (const p of [...this.peers.values()]) {
      if (p.state !== 'waiting') continue
      this.forgetWaiting(p, CloseReason.SHUTDOWN)
      this.send(encodeRefusal(statusForError(new ViaductError(PairErrors.VIADUCT_ERR_PAIR_SHUTDOWN))), p.observed)
    }
  }
}

function looksLikeHello(msg: Buffer): boolean {
  if (msg.length < HEADER_BYTES || msg[0] !== MAGIC_0 || msg[1] !== MAGIC_1) return false
  try {
    return decodeHello(msg) !== null
  } catch {
    return false
  }
}
