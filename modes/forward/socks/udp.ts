/**
 * SOCKS5 UDP ASSOCIATE (RFC 1928 §7): a UDP relay for one client, alive as long as its TCP control
 * connection.
 *
 * Two UDP sockets: the client-facing one on the address the client reached us on (its BND.ADDR), and an
 * outbound one per address family on all interfaces, so a loopback client may still reach any target
 * the rules allow. Datagrams from anyone but the client are dropped on the client side; on the target
 * side only replies from destinations the client has sent to come back (an address-and-port filter).
 * Every destination is checked against the access policy by name and, after resolution, by address.
 */
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram'
import { lookup } from 'node:dns/promises'
import { isIP, type AddressInfo, type Socket } from 'node:net'
import { isViaductError, CoreErrors, ViaductError } from '../../../src/core/errors.js'
import { CloseReason, type SessionHandle } from '../../../src/core/ledger.js'
import { normalizeIp } from '../../../src/core/net-policy.js'
import { bindUdp, closeUdp, formatHostPort } from '../../../src/core/service.js'
import type { Timer } from '../../../src/core/clock.js'
import type { ForwardContext } from '../context.js'
import { ForwardErrors } from '../errors.js'
import { mapDialError } from '../dial.js'
import type { SpliceOutcome } from '../splice.js'
import type { SocksRequest } from './session.js'
import { decodeUdpDatagram, encodeUdpDatagram } from './udp-codec.js'

/** Destinations remembered for the reply filter, and names remembered by the resolver cache. */
const MAX_PEERS = 1024
const MAX_NAMES = 256
const NAME_TTL_MS = 30_000

export interface UdpCounters {
  datagramsUp: number
  datagramsDown: number
  droppedFrag: number
  droppedDenied: number
  droppedStranger: number
  droppedMalformed: number
  sendErrors: number
}

export type Resolver = (host: string) => Promise<string[]>

export const systemResolve: Resolver = async (host) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address)

export class UdpAssociation {
  private front: UdpSocket | undefined
  private readonly back = new Map<4 | 6, UdpSocket>()
  private clientIp: string
  private clientPort: number
  private readonly peers = new Map<string, true>()
  private readonly names = new Map<string, { ips: string[]; at: number }>()
  private idleTimer: Timer | undefined
  private lastActivity = 0
  private firstDrop = true
  readonly counters: UdpCounters = { datagramsUp: 0, datagramsDown: 0, droppedFrag: 0, droppedDenied: 0, droppedStranger: 0, droppedMalformed: 0, sendErrors: 0 }
  private resolveDone!: (o: SpliceOutcome) => void
  readonly done = new Promise<SpliceOutcome>((r) => (this.resolveDone = r))
  private closed = false

  constructor(
    private readonly ctx: ForwardContext,
    private readonly control: Socket,
    private readonly record: SessionHandle,
    req: SocksRequest,
    private readonly resolve: Resolver = systemResolve,
  ) {
    // RFC 1928 §7: "The UDP relay server MUST acquire from the SOCKS server the expected IP address of the
    // client that will send datagrams to the BND.PORT given in the reply to UDP ASSOCIATE. It MUST drop any
    // datagrams arriving from any source IP address other than the one recorded for the particular
    // association." The recorded address is the control connection's peer; DST.PORT, when not 0, fixes the
    // client's port too (the first datagram fixes it otherwise).
    this.clientIp = normalizeIp(control.remoteAddress ?? '')?.ip ?? ''
    this.clientPort = req.port
  }

  /** Bind the client-facing socket; returns the address to put in the reply. */
  async open(): Promise<AddressInfo> {
    const local = normalizeIp(this.control.localAddress ?? '127.0.0.1')?.ip ?? '127.0.0.1'
    const fam = isIP(local) === 6 ? 'udp6' : 'udp4'
    const front = createSocket({ type: fam })
    this.front = front
    front.on('error', (err) => this.close(ForwardErrors.VIADUCT_ERR_TARGET_FAILED, `udp relay: ${err.message}`))
    const bound = await bindUdp(front, { host: local, port: 0 })
    front.on('message', (msg, rinfo) => this.fromClient(msg, rinfo))
    this.control.once('close', () => this.close(CloseReason.CLIENT_CLOSED))
    this.control.on('error', () => this.close(CloseReason.CLIENT_CLOSED))
    this.control.on('end', () => this.close(CloseReason.CLIENT_CLOSED))
    this.armIdle()
    return bound
  }

  private armIdle(): void {
    const ms = this.ctx.config.socks.udpIdleTimeoutMs
    if (ms <= 0) return
    let seen = -1
    const check = () => {
      if (this.closed) return
      if (this.lastActivity === seen) {
        return this.close(CoreErrors.VIADUCT_ERR_SESSION_IDLE, `no datagram for ${ms} ms`)
      }
      seen = this.lastActivity
      this.idleTimer = this.ctx.core.clock.setTimeout(check, ms)
    }
    check()
  }

  private fromClient(msg: Buffer, rinfo: RemoteInfo): void {
    const from = normalizeIp(rinfo.address)?.ip
    if (from !== this.clientIp || (this.clientPort !== 0 && rinfo.port !== this.clientPort)) {
      this.counters.droppedStranger++
      return this.dropped(`datagram from ${formatHostPort(rinfo.address, rinfo.port)}, which is not this association's client`)
    }
    if (this.clientPort === 0) this.clientPort = rinfo.port
    this.lastActivity++
    this.record.add(msg.length, 0)
    let d
    try {
      d = decodeUdpDatagram(msg).value
    } catch (err) {
      this.counters.droppedMalformed++
      return this.dropped((err as Error).message)
    }
    // RFC 1928 §7: "An implementation that does not support fragmentation MUST drop any datagram whose
    // FRAG field is other than X'00'."
    if (d.frag !== 0) {
      this.counters.droppedFrag++
      return this.dropped(`fragment ${d.frag} dropped (fragmentation is not supported)`)
    }
    this.counters.datagramsUp++
    const { host, port, data } = d
    this.target(host, port).then(
      (ip) => {
        if (this.closed) return
        const fam = isIP(ip) === 6 ? 6 : 4
        const key = formatHostPort(ip, port)
        if (!this.peers.has(key)) {
          if (this.peers.size >= MAX_PEERS) this.peers.delete(this.peers.keys().next().value!)
          this.peers.set(key, true)
        }
        this.backSocket(fam).then(
          (s) => s.send(data, port, ip, (err) => err && this.sendFailed(err)),
          (err) => this.close(ForwardErrors.VIADUCT_ERR_TARGET_FAILED, `udp relay: ${(err as Error).message}`),
        )
      },
      (err) => {
        this.counters.droppedDenied++
        this.dropped(isViaductError(err) ? `${err.code}: ${err.message}` : String(err))
      },
    )
  }

  /** Check a datagram's destination by name, resolve it, check every address; returns the first. */
  private async target(host: string, port: number): Promise<string> {
    this.ctx.policy.checkDestination(host, port, false)
    const bare = host.replace(/^\[|\]$/g, '')
    let ips: string[]
    if (isIP(bare)) ips = [bare]
    else {
      const now = this.ctx.core.clock.now()
      const hit = this.names.get(bare.toLowerCase())
      if (hit && now - hit.at < NAME_TTL_MS) ips = hit.ips
      else {
        try {
          ips = await this.resolve(bare)
        } catch (err) {
          throw mapDialError(err, formatHostPort(host, port))
        }
        if (ips.length === 0) throw new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_DNS, `${host}: no addresses`)
        if (this.names.size >= MAX_NAMES) this.names.delete(this.names.keys().next().value!)
        this.names.set(bare.toLowerCase(), { ips, at: now })
      }
    }
    for (const ip of ips) {
      this.ctx.policy.checkAddress(ip, port, host)
      if (this.ctx.core.self.isSelf(ip, port, 'udp')) {
        throw new ViaductError(ForwardErrors.VIADUCT_ERR_ACCESS_LOOP, `${formatHostPort(host, port)} is this gateway's own UDP listener`)
      }
    }
    return normalizeIp(ips[0])!.ip
  }

  private backSocket(fam: 4 | 6): Promise<UdpSocket> {
    const have = this.back.get(fam)
    if (have) return Promise.resolve(have)
    const s = createSocket({ type: fam === 6 ? 'udp6' : 'udp4' })
    this.back.set(fam, s)
    s.on('error', () => undefined) // ICMP errors surface as send errors; the datagram is lost, as UDP allows
    s.on('message', (msg, rinfo) => this.fromTarget(msg, rinfo))
    return bindUdp(s, { host: fam === 6 ? '::' : '0.0.0.0', port: 0 }).then(() => s)
  }

  private fromTarget(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.closed || !this.front) return
    const ip = normalizeIp(rinfo.address)?.ip ?? rinfo.address
    if (!this.peers.has(formatHostPort(ip, rinfo.port))) {
      this.counters.droppedStranger++
      return
    }
    // RFC 1928 §7: "When a UDP relay server receives a reply datagram from a remote host, it MUST
    // encapsulate that datagram using the above UDP request header."
    const out = encodeUdpDatagram(ip, rinfo.port, msg)
    this.lastActivity++
    this.counters.datagramsDown++
    this.record.add(0, out.length)
    this.front.send(out, this.clientPort, this.clientIp, (err) => err && this.sendFailed(err))
  }

  /** A datagram that could not be sent (too large with its header, ICMP error) is lost, as UDP allows. */
  private sendFailed(err: Error): void {
    this.counters.sendErrors++
    this.dropped(`send failed: ${err.message}`)
  }

  /** The first dropped datagram is logged; the rest are only counted (in the record's meta). */
  private dropped(why: string): void {
    if (!this.firstDrop) return
    this.firstDrop = false
    this.ctx.core.log.info({ event: 'socks.udp.drop', session: this.record.id, detail: why }, 'UDP datagram dropped (further drops are only counted)')
  }

  close(reason: string, detail?: string): void {
    if (this.closed) return
    this.closed = true
    this.ctx.core.clock.clearTimeout(this.idleTimer)
    this.record.update({ meta: { ...this.counters } })
    const socks = [this.front, ...this.back.values()].filter((s): s is UdpSocket => s !== undefined)
    Promise.all(socks.map((s) => closeUdp(s))).then(() => this.resolveDone({ reason, detail }))
    this.control.destroy()
  }
}
