/**
 * The rendezvous table: rooms, the peer waiting in each, and which rooms are paired. No sockets and no
 * timers: the relay calls register() for a verified hello, cancel() when a waiting peer leaves or times
 * out, and unpair() when a pairing ends.
 *
 * Rules (docs/relay-protocol.md "Rooms"):
 * - the first valid hello in a free room waits; the second pairs with it; while the pairing lives a
 *   third is refused ROOM_FULL. Nothing is ever replaced: a registration stays until it pairs, leaves
 *   or times out.
 * - a hello with side A or B cannot pair with a waiting peer of the same side (SIDE_TAKEN);
 * - a datagram peer cannot pair with a stream peer (TRANSPORT);
 * - waiting registrations are capped in total (WAIT_LIMIT) and per source IP (IP_LIMIT); 0 = no cap.
 */
import { ViaductError } from '../../../src/core/errors.js'
import { Side, type SideValue } from './constants.js'
import { PairErrors } from './errors.js'

export interface Registration<P> {
  room: string
  side: SideValue
  ip: string
  kind: 'stream' | 'datagram'
  peer: P
}

export type RegisterResult<P> = { kind: 'waiting' } | { kind: 'paired'; partner: Registration<P> }

export interface RendezvousLimits {
  maxWaiting: number
  maxWaitingPerIp: number
}

export class Rendezvous<P> {
  private readonly waiting = new Map<string, Registration<P>>()
  private readonly paired = new Set<string>()
  private readonly perIp = new Map<string, number>()

  constructor(private readonly limits: RendezvousLimits) {}

  register(reg: Registration<P>): RegisterResult<P> {
    if (this.paired.has(reg.room)) throw new ViaductError(PairErrors.VIADUCT_ERR_PAIR_ROOM_FULL)
    const w = this.waiting.get(reg.room)
    if (w) {
      if (w.kind !== reg.kind) throw new ViaductError(PairErrors.VIADUCT_ERR_PAIR_TRANSPORT)
      if (reg.side !== Side.ANY && reg.side === w.side) {
        throw new ViaductError(PairErrors.VIADUCT_ERR_PAIR_SIDE_TAKEN, `side ${reg.side === Side.A ? 'A' : 'B'} of this room is already waiting`)
      }
      this.remove(w)
      this.paired.add(reg.room)
      return { kind: 'paired', partner: w }
    }
    if (this.limits.maxWaiting > 0 && this.waiting.size >= this.limits.maxWaiting) {
      throw new ViaductError(PairErrors.VIADUCT_ERR_PAIR_WAIT_LIMIT, `${this.waiting.size} peers are already waiting`)
    }
    const n = this.perIp.get(reg.ip) ?? 0
    if (this.limits.maxWaitingPerIp > 0 && n >= this.limits.maxWaitingPerIp) {
      throw new ViaductError(PairErrors.VIADUCT_ERR_PAIR_IP_LIMIT, `${n} peers from ${reg.ip} are already waiting`)
    }
    this.waiting.set(reg.room, reg)
    this.perIp.set(reg.ip, n + 1)
    return { kind: 'waiting' }
  }

  /** Remove a waiting registration (it left or timed out). False when it is not the one waiting. */
  cancel(reg: Registration<P>): boolean {
    if (this.waiting.get(reg.room) !== reg) return false
    this.remove(reg)
    return true
  }

  /** The pairing in `room` ended: the room is free again. */
  unpair(room: string): void {
    this.paired.delete(room)
  }

  isWaiting(reg: Registration<P>): boolean {
    return this.waiting.get(reg.room) === reg
  }

  get waitingCount(): number {
    return this.waiting.size
  }

  get pairedCount(): number {
    return this.paired.size
  }

  waitingFrom(ip: string): number {
    return this.perIp.get(ip) ?? 0
  }

  /** Every waiting registration (shutdown). */
  allWaiting(): Registration<P>[] {
    return [...this.waiting.values()]
  }

  private remove(reg: Registration<P>): void {
    this.waiting.delete(reg.room)
    const n = (this.perIp.get(reg.ip) ?? 1) - 1
    if (n <= 0) this.perIp.delete(reg.ip)
    else this.perIp.set(reg.ip, n)
  }
}
