/**
 * What every TURN handler shares: config, core services, auth, peer policy, the relayed port pool and
 * the allocation table (by 5-tuple, with per-user and total counts for the quotas).
 */
import { randomBytes } from 'node:crypto'
import type { Socket } from 'node:dgram'
import { networkInterfaces } from 'node:os'
import type { Timer } from '../../../src/core/clock.js'
import type { Core } from '../../../src/mode.js'
import { ViaductError } from '../../../src/core/errors.js'
import { normalizeIp, PeerPolicy } from '../../../src/core/net-policy.js'
import type { TurnConfig } from '../config.js'
import { Allocation } from './allocation.js'
import { TurnAuth } from './auth.js'
import { TurnErrors } from './errors.js'
import { PortPool } from './port-pool.js'
import { SourceRateLimiter } from './rate-limit.js'
import type { TransportAddress } from './stun/address.js'
import { formatAddress, type ClientTransport } from './transport.js'

const WILDCARD = new Set(['0.0.0.0', '::'])

/** RFC 8656 §7.2: "The server MUST hold this reservation for at least 30 seconds". */
export const RESERVATION_LIFETIME_S = 30

export interface Reservation {
  socket: Socket
  port: number
  ip: string
  family: 4 | 6
  timer: Timer
}

export class TurnState {
  readonly auth: TurnAuth
  readonly limiter: SourceRateLimiter
  readonly policy: PeerPolicy
  readonly ports: PortPool
  readonly allocations = new Map<string, Allocation>()
  /** Ports N+1 reserved by an EVEN-PORT R=1 Allocate, by RESERVATION-TOKEN (hex). */
  readonly reservations = new Map<string, Reservation>()
  private readonly perUser = new Map<string, number>()
  private readonly idleWaiters = new Set<() => void>()
  /** False once close() began: new Allocates are refused with 508. */
  accepting = true
  /** Binding requests answered (logged at debug, not sessions). */
  bindings = 0

  constructor(
    readonly core: Core,
    readonly config: TurnConfig,
  ) {
    this.auth = new TurnAuth({ realm: config.realm, users: config.users, secrets: config.secrets, nonceTtlS: config.nonceTtlS }, core.clock)
    this.limiter = new SourceRateLimiter(config.unauthRepliesPerS, core.clock)
    this.policy = new PeerPolicy({ allow: config.allowPeers, deny: config.denyPeers })
    this.ports = new PortPool(config.portMin, config.portMax)
  }

  get clock() {
    return this.core.clock
  }

  get log() {
    return this.core.log
  }

  /** Local IP for relayed sockets: relay.turn.relayIp, else the listen address (the one the client reached). */
  relayBindIp(t: ClientTransport): string {
    if (this.config.relayIp) return this.config.relayIp
    const host = this.config.listen?.host
    // a wildcard or a host name ("localhost"): the address the client actually reached
    return host && normalizeIp(host) && !WILDCARD.has(host) ? host : t.local.address
  }

  /**
   * The relayed address to advertise: relay.turn.externalIp (behind NAT), else the bound IP, else (bound
   * on a wildcard) the address the client reached, else the first external interface address.
   */
  advertisedIp(boundIp: string, t: ClientTransport): string {
    if (this.config.externalIp) return this.config.externalIp
    if (!WILDCARD.has(boundIp)) return boundIp
    if (!WILDCARD.has(t.local.address)) return t.local.address
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) if (!a.internal && a.family === 'IPv4') return a.address
    }
    return '127.0.0.1'
  }

  allocationOf(t: ClientTransport): Allocation | undefined {
    const a = this.allocations.get(t.key)
    return a && !a.isClosed ? a : undefined
  }

  /** RFC 8656 §7.2 step 10: quotas "based on the username", and a total. */
  checkQuota(username: string): void {
    const c = this.config
    if (c.maxAllocations > 0 && this.allocations.size >= c.maxAllocations) {
      throw new ViaductError(TurnErrors.VIADUCT_ERR_TURN_QUOTA, `the server holds ${this.allocations.size} allocations (relay.turn.maxAllocations)`)
    }
    const mine = this.perUser.get(username) ?? 0
    if (c.maxAllocationsPerUser > 0 && mine >= c.maxAllocationsPerUser) {
      throw new ViaductError(TurnErrors.VIADUCT_ERR_TURN_QUOTA, `user ${username} holds ${mine} allocations (relay.turn.maxAllocationsPerUser)`)
    }
  }

  add(a: Allocation): void {
    this.allocations.set(a.transport.key, a)
    this.perUser.set(a.username, (this.perUser.get(a.username) ?? 0) + 1)
  }

  /** Called by an allocation when it closes. */
  remove(a: Allocation): void {
    if (this.allocations.get(a.transport.key) === a) this.allocations.delete(a.transport.key)
    const n = (this.perUser.get(a.username) ?? 1) - 1
    if (n <= 0) this.perUser.delete(a.username)
    else this.perUser.set(a.username, n)
    this.ports.release(a.port)
    if (this.allocations.size === 0) {
      for (const w of this.idleWaiters) w()
      this.idleWaiters.clear()
    }
  }

  /** Resolves when no allocation is live. */
  idle(): Promise<void> {
    if (this.allocations.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.add(resolve))
  }

  closeAll(reason: string): void {
    for (const a of [...this.allocations.values()]) a.close(reason)
    for (const token of [...this.reservations.keys()]) this.dropReservation(token)
  }

  /** Hold a bound socket for a later Allocate with the returned 8-byte RESERVATION-TOKEN. */
  reserve(socket: Socket, port: number, ip: string, family: 4 | 6): Buffer {
    const token = randomBytes(8)
    const hex = token.toString('hex')
    // held, not read: datagrams to it are dropped; an error must not go unheard (it would throw)
    socket.on('error', () => undefined)
    const timer = this.clock.setTimeout(() => this.dropReservation(hex), RESERVATION_LIFETIME_S * 1000)
    ;(timer as { unref?: () => void }).unref?.()
    this.reservations.set(hex, { socket, port, ip, family, timer })
    return token
  }

  /** Take a reservation (it is then the caller's); undefined when unknown or expired. */
  takeReservation(token: Buffer): Reservation | undefined {
    const hex = token.toString('hex')
    const r = this.reservations.get(hex)
    if (!r) return undefined
    this.reservations.delete(hex)
    this.clock.clearTimeout(r.timer)
    return r
  }

  private dropReservation(hex: string): void {
    const r = this.reservations.get(hex)
    if (!r) return
    this.reservations.delete(hex)
    this.clock.clearTimeout(r.timer)
    try {
      r.socket.close()
    } catch {
      // already closed
    }
    this.ports.release(r.port)
  }

  /**
   * The peer rule (RFC 8656 §10.2, §12.1: "The server MAY impose restrictions on the IP address ... allowed
   * in the XOR-PEER-ADDRESS attribute; if a value is not allowed, the server rejects the request with a
   * 403 (Forbidden) error"). The address is normalized first, so ::ffff:127.0.0.1 is checked as
   * 127.0.0.1. Returns the normalized peer.
   */
  checkPeer(peer: TransportAddress, relayed: TransportAddress, port?: number): TransportAddress {
    const n = normalizeIp(peer.address)
    if (!n) throw new ViaductError(TurnErrors.VIADUCT_ERR_TURN_BAD_REQUEST, 'XOR-PEER-ADDRESS is not an IP address')
    const why = this.policy.check(n.ip)
    if (why) throw new ViaductError(TurnErrors.VIADUCT_ERR_TURN_FORBIDDEN, `peer ${n.ip} denied: ${why}`)
    if (port !== undefined && this.core.self.isSelf(n.ip, port, 'udp')) {
      throw new ViaductError(TurnErrors.VIADUCT_ERR_TURN_FORBIDDEN, `peer ${formatAddress({ address: n.ip, port })} is one of the gateway's own listeners`)
    }
    // RFC 8656 §10.2: "If an XOR-PEER-ADDRESS attribute contains an address of an address family that is
    // not the same as that of a relayed transport address for the allocation, the server MUST generate an
    // error response with the 443 (Peer Address Family Mismatch) response code."
    if (n.family !== relayed.family) throw new ViaductError(TurnErrors.VIADUCT_ERR_TURN_PEER_FAMILY, `peer ${n.ip} is IPv${n.family}, the relayed address IPv${relayed.family}`)
    return { family: n.family, address: n.ip, port: peer.port }
  }
}
