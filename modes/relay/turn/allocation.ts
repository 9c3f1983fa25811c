/**
 * One allocation (RFC 8656 §2.2, §6): the 5-tuple, the relayed UDP socket, permissions, channel
 * bindings, the time-to-expiry, and the ledger session that accounts it. Relays datagrams both ways.
 */
import { randomBytes } from 'node:crypto'
import type { Socket } from 'node:dgram'
import type { Clock, Timer } from '../../../src/core/clock.js'
import type { SessionHandle } from '../../../src/core/ledger.js'
import type { Logger } from '../../../src/core/log.js'
import { normalizeIp } from '../../../src/core/net-policy.js'
import { encodeChannelData } from './channel-data.js'
import { Attr, Class, Method, encode, encodeXorAddress, type TransportAddress } from './stun/index.js'
import { formatAddress, type ClientTransport } from './transport.js'

/** RFC 8656 §9: "The Permission Lifetime MUST be 300 seconds (= 5 minutes)." */
export const PERMISSION_LIFETIME_S = 300
/** RFC 8656 §12: "a channel binding lasts for 10 minutes unless refreshed". */
export const CHANNEL_LIFETIME_S = 600
/** Peers listed in the ledger record (the count is kept beyond it). */
export const MAX_LISTED_PEERS = 8

export interface ChannelBinding {
  channel: number
  peer: TransportAddress
  expiresAt: number
}

export interface AllocationInit {
  transport: ClientTransport
  username: string
  socket: Socket
  /** The port bound on the relay IP. */
  port: number
  /** What XOR-RELAYED-ADDRESS says (the external IP when behind NAT). */
  relayed: TransportAddress
  lifetimeS: number
  session: SessionHandle
  clock: Clock
  log: Logger
  bandwidthBytesPerS: number
  /** Called once when the allocation ends (the table forgets it). */
  onClose(a: Allocation): void
}

/** Key for a peer's transport address (after IPv4-mapped normalization). */
export function peerKey(ip: string, port: number): string {
  return `${ip}|${port}`
}

export class Allocation {
  readonly transport: ClientTransport
  readonly username: string
  readonly relayed: TransportAddress
  readonly port: number
  readonly session: SessionHandle
  expiresAt = 0
  /** The Allocate transaction that created it, and its response, for retransmissions over UDP. */
  createdBy?: { transactionId: string; response: Buffer }
  private readonly socket: Socket
  private readonly clock: Clock
  private readonly log: Logger
  private readonly permissions = new Map<string, number>()
  private readonly channels = new Map<number, ChannelBinding>()
  private readonly channelByPeer = new Map<string, number>()
  private readonly peers = new Set<string>()
  private timer: Timer | undefined
  private closed = false
  private readonly onClose: (a: Allocation) => void
  private readonly rate: number
  private tokens: number
  private lastRefill: number
  /** Datagrams dropped: no permission, bandwidth cap, client backed up. */
  dropped = 0

  constructor(init: AllocationInit) {
    this.transport = init.transport
    this.username = init.username
    this.socket = init.socket
    this.port = init.port
    this.relayed = init.relayed
    this.session = init.session
    this.clock = init.clock
    this.log = init.log
    this.onClose = init.onClose
    this.rate = init.bandwidthBytesPerS
    this.tokens = this.rate
    this.lastRefill = this.clock.now()
    this.socket.on('message', (msg, rinfo) => this.fromPeer(msg, rinfo.address, rinfo.port))
    this.socket.on('error', (err) => this.log.debug({ event: 'turn.relay_error', session: this.session.id, err: err.message }, 'relayed socket error'))
    this.refresh(init.lifetimeS)
  }

  get isClosed(): boolean {
    return this.closed
  }

  /** Set the time-to-expiry (RFC 8656 §8.2); the allocation expires with reason "expired". */
  refresh(lifetimeS: number): void {
    if (this.closed) return
    this.clock.clearTimeout(this.timer)
    this.expiresAt = this.clock.now() + lifetimeS * 1000
    this.timer = this.clock.setTimeout(() => this.close('expired'), lifetimeS * 1000)
    ;(this.timer as { unref?: () => void }).unref?.()
  }

  /** Seconds left, rounded down. */
  remainingS(): number {
    return Math.max(0, Math.floor((this.expiresAt - this.clock.now()) / 1000))
  }

  /** RFC 8656 §9: install or refresh a permission for an IP (ports are not considered). */
  permit(ip: string): void {
    this.permissions.set(ip, this.clock.now() + PERMISSION_LIFETIME_S * 1000)
    if (!this.peers.has(ip)) {
      this.peers.add(ip)
      if (this.peers.size <= MAX_LISTED_PEERS) this.session.update({ peer: [...this.peers].join(','), meta: { peers: this.peers.size } })
      else this.session.update({ meta: { peers: this.peers.size } })
    }
  }

  hasPermission(ip: string): boolean {
    const exp = this.permissions.get(ip)
    if (exp === undefined) return false
    if (exp <= this.clock.now()) {
      this.permissions.delete(ip)
      return false
    }
    return true
  }

  /** The live binding of a channel number, if any (expired ones are dropped here). */
  channel(n: number): ChannelBinding | undefined {
    const b = this.channels.get(n)
    if (!b) return undefined
    if (b.expiresAt <= this.clock.now()) {
      this.channels.delete(n)
      this.channelByPeer.delete(peerKey(b.peer.address, b.peer.port))
      return undefined
    }
    return b
  }

  channelForPeer(ip: string, port: number): number | undefined {
    const n = this.channelByPeer.get(peerKey(ip, port))
    return n !== undefined && this.channel(n) ? n : undefined
  }

  /** Bind or refresh (checks are the handler's job). */
  bindChannel(n: number, peer: TransportAddress): void {
    this.channels.set(n, { channel: n, peer, expiresAt: this.clock.now() + CHANNEL_LIFETIME_S * 1000 })
    this.channelByPeer.set(peerKey(peer.address, peer.port), n)
  }

  /** Client -> peer: a datagram from the relayed address (RFC 8656 §11.2, §12.6). */
  toPeer(peer: TransportAddress, data: Buffer): void {
    if (this.closed) return
    if (!this.takeTokens(data.length)) {
      this.dropped++
      return
    }
    this.session.add(data.length, 0)
    // no callback: a failed send is an 'error' event (logged at debug), and the hot path allocates less
    this.socket.send(data, peer.port, peer.address)
  }

  /**
   * RFC 8656 §11.3: "When the server receives a UDP datagram at a currently allocated relayed transport
   * address, the server looks up the allocation ... checks to see whether the set of permissions for the
   * allocation allow the relaying of the UDP datagram". If a channel is bound to the peer, a ChannelData
   * message carries it (§12.7), otherwise a Data indication.
   */
  private fromPeer(data: Buffer, address: string, port: number): void {
    if (this.closed) return
    // an IPv4 socket only sees IPv4 sources; an IPv6 one may see IPv4-mapped ones
    const ip = this.relayed.family === 4 ? address : (normalizeIp(address)?.ip ?? address)
    if (!this.hasPermission(ip) || !this.takeTokens(data.length)) {
      this.dropped++
      return
    }
    const ch = this.channelForPeer(ip, port)
    let out: Buffer
    if (ch !== undefined) {
      out = encodeChannelData({ channel: ch, data }, this.transport.stream)
    } else {
      const peer: TransportAddress = { family: ip.includes(':') ? 6 : 4, address: ip, port }
      const tid = randomBytes(12)
      out = encode({
        method: Method.DATA,
        cls: Class.INDICATION,
        transactionId: tid,
        attributes: [
          { type: Attr.XOR_PEER_ADDRESS, value: encodeXorAddress(peer, tid) },
          { type: Attr.DATA, value: data },
        ],
      })
    }
    if (this.transport.sendData(out)) this.session.add(0, data.length)
    else this.dropped++
  }

  /** Token bucket over relayed bytes, both directions; burst = one second's worth. */
  private takeTokens(n: number): boolean {
    if (this.rate <= 0) return true
    const now = this.clock.now()
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.lastRefill) * this.rate) / 1000)
    this.lastRefill = now
    if (this.tokens < n) return false
    this.tokens -= n
    return true
  }

  /** End the allocation once: close the relayed socket, finish the ledger record. */
  close(reason: string, detail?: string): void {
    if (this.closed) return
    this.closed = true
    this.clock.clearTimeout(this.timer)
    this.socket.removeAllListeners('message')
    try {
      this.socket.close()
    } catch {
      // already closed
    }
    if (this.dropped > 0) this.session.update({ meta: { dropped: this.dropped } })
    this.session.close(reason, detail)
    this.log.debug({ event: 'turn.allocation_close', session: this.session.id, relayed: formatAddress(this.relayed), reason }, 'allocation closed')
    this.onClose(this)
  }
}
