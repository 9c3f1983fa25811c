/**
 * The shared ledger of sessions.
 *
 * Every client connection, tunnel, HTTP request, pairing or allocation of every mode is one record: live
 * while it runs, finished exactly once at close with bytes each way, times and a reason code. Live
 * records are queryable; closed ones are kept in a bounded ring. Changes are published as events
 * ('open', 'update', 'close', 'bytes') for metrics and the dashboard; modes never import those.
 */
import { EventEmitter } from 'node:events'
import type { Clock } from './clock.js'
import { systemClock, unrefTimer } from './clock.js'
import type { Meter } from './meter.js'
import { socketMeter, type CountingSocket } from './meter.js'
import { HistoryRing, sessionId } from './history.js'
import { Faults } from './faults.js'

/** Close reasons that are not errors. Errors close with their `VIADUCT_ERR_*` code. */
export const CloseReason = {
  /** The client (or peer A) ended the session normally. */
  CLIENT_CLOSED: 'client_closed',
  /** The target (origin, upstream, or peer B) ended the session normally. */
  TARGET_CLOSED: 'target_closed',
  /** A request/response exchange completed (HTTP). */
  COMPLETED: 'completed',
  /** An allocation or pairing reached its lifetime, or was deleted by its owner. */
  EXPIRED: 'expired',
  DELETED: 'deleted',
  /** Stopped by the gateway's shutdown after the drain timeout. */
  SHUTDOWN: 'shutdown',
} as const

export interface SessionInit {
  /** 'forward' or 'relay' (the mode's name). */
  mode: string
  /** 'http', 'connect', 'socks5', 'socks5-udp', 'pair-tcp', 'turn-udp', ... */
  protocol: string
  /** The client's address as "ip:port" (for a relay pairing: peer A). */
  client: string
  /** Where the client asked to go: "host:port", or the URL for plain HTTP. */
  target?: string
  /** For a relay: the other peer(s), "ip:port". */
  peer?: string
  /** Authenticated user name, if any. */
  user?: string
  /** Listener that accepted it, e.g. "http", "socks", "mixed", "pairing-tcp", "turn-udp". */
  listener?: string
  /** The request method where the protocol has one: GET, CONNECT, ... (HTTP). */
  method?: string
  /** The status answered where the protocol has one (HTTP). */
  status?: number
  /** Small, non-secret facts for the dashboard (relayed address, room id, ...). */
  meta?: Record<string, string | number | boolean>
}

export interface SessionRecord extends SessionInit {
  id: string
  state: 'live' | 'closed'
  bytesUp: number
  bytesDown: number
  openedAt: number
  closedAt?: number
  durationMs?: number
  /** Why it closed: a CloseReason value or a VIADUCT_ERR_* code. */
  reason?: string
  /** Human-readable detail of the close, if it was an error. */
  detail?: string
}

export interface SessionPatch {
  target?: string
  peer?: string
  user?: string
  protocol?: string
  method?: string
  status?: number
  meta?: Record<string, string | number | boolean>
}

/** What a mode holds for one session. Every method is safe after close (it does nothing). */
export interface SessionHandle {
  readonly id: string
  readonly closed: boolean
  /**
   * Count bytes at a socket edge from now on (see meter.ts); `fromStart`: from the socket's first byte
   * (the session owns the whole connection, including bytes read before it opened).
   */
  track(socket: CountingSocket, role?: 'client' | 'target', fromStart?: boolean): void
  /** Count bytes by hand (datagrams). */
  add(up: number, down: number): void
  update(patch: SessionPatch): void
  /** Finish the record once; later calls are ignored. `reason` is a CloseReason or an error code. */
  close(reason: string, detail?: string): void
  snapshot(): SessionRecord
}

export interface LedgerStats {
  live: number
  total: number
  byMode: Record<string, { live: number; total: number; bytesUp: number; bytesDown: number }>
  reasons: Record<string, number>
}

export interface LedgerOptions {
  clock?: Clock
  /** How many closed records to keep. */
  historySize?: number
  /** How often live byte counts are sampled for 'bytes' events, in ms (0 = never). */
  sampleIntervalMs?: number
  /** Where an observer's exception is counted and logged (default: a Faults of its own, not logged). */
  faults?: Faults
}

export interface LedgerEvents {
  open: [SessionRecord]
  update: [SessionRecord]
  /** The finished record itself (not a copy): listeners read it and must not change it. */
  close: [SessionRecord]
  /** Bytes counted since the last event, per session: never negative (counts only grow). */
  bytes: [{ id: string; mode: string; protocol: string; up: number; down: number }]
}

export const DEFAULT_HISTORY_SIZE = 1000
export const DEFAULT_SAMPLE_INTERVAL_MS = 1000

class Session implements SessionHandle {
  readonly id: string
  private readonly rec: SessionRecord
  /** Socket meters (an HTTP request has one, a relay pairing two); plain number fields below, no objects. */
  private meters: Meter[] | undefined
  private manualUp = 0
  private manualDown = 0
  /** What has been reported in 'bytes' events so far. */
  reportedUp = 0
  reportedDown = 0

  constructor(
    private readonly ledger: Ledger,
    /** The sequence number the id was made from (the history ring keeps it instead of the id string). */
    readonly seq: number,
    init: SessionInit,
    now: number,
  ) {
    const id = sessionId(init.mode, seq, now)
    this.id = id
    // Object.assign and plain stores, not a spread literal: on Node 20 the literal made open + close of a
    // session cost about 9 µs against 1.1 µs, the largest part of the HTTP proxy's CPU per request.
    const rec = Object.assign({}, init) as SessionRecord
    rec.id = id
    rec.state = 'live'
    rec.bytesUp = 0
    rec.bytesDown = 0
    rec.openedAt = now
    this.rec = rec
  }

  get closed(): boolean {
    return this.rec.state === 'closed'
  }

  track(socket: CountingSocket, role: 'client' | 'target' = 'client', fromStart = false): void {
    if (this.closed) return
    const m = socketMeter(socket, role, fromStart)
    if (this.meters) this.meters.push(m)
    else this.meters = [m]
  }

  add(up: number, down: number): void {
    if (this.closed) return
    // counts only grow: a negative or non-number argument is a caller's bug, not a correction
    if (up > 0) this.manualUp += up
    if (down > 0) this.manualDown += down
  }

  update(patch: SessionPatch): void {
    if (this.closed) return
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) continue
      if (k === 'meta') this.rec.meta = { ...this.rec.meta, ...(v as SessionRecord['meta']) }
      else (this.rec as unknown as Record<string, unknown>)[k] = v
    }
    if (this.ledger.listenerCount('update') > 0) this.ledger.publish('update', this.snapshot())
  }

  /**
   * Bytes up so far, across meters and manual counts (final once closed). Every part only grows (the
   * meters hold their highest value, add() ignores negatives), so neither does the sum.
   */
  up(): number {
    if (this.closed) return this.rec.bytesUp
    let n = this.manualUp
    if (this.meters) for (const m of this.meters) n += m.up()
    return n
  }

  down(): number {
    if (this.closed) return this.rec.bytesDown
    let n = this.manualDown
    if (this.meters) for (const m of this.meters) n += m.down()
    return n
  }

  close(reason: string, detail?: string): void {
    if (this.closed) return
    // freeze first: each meter reads its socket's counters once, and the sums below use those values
    if (this.meters) for (const m of this.meters) m.freeze()
    // never below what 'bytes' events already reported (belt and braces: the parts only grow)
    this.rec.bytesUp = Math.max(this.up(), this.reportedUp)
    this.rec.bytesDown = Math.max(this.down(), this.reportedDown)
    const now = this.ledger.clock.now()
    this.rec.closedAt = now
    this.rec.durationMs = Math.max(0, now - this.rec.openedAt)
    this.rec.reason = reason
    if (detail) this.rec.detail = detail
    this.rec.state = 'closed'
    this.ledger.finish(this)
  }

  /**
   * The finished record itself, without a copy (only once closed: nothing changes it any more). The 'close'
   * event hands it to listeners, which must not change it.
   */
  finalRecord(): SessionRecord {
    return this.rec
  }

  /** Mode and protocol without a copy (for the 'bytes' event). */
  get kind(): { mode: string; protocol: string } {
    return this.rec
  }

  snapshot(): SessionRecord {
    const r = Object.assign({}, this.rec)
    r.meta = this.rec.meta && Object.assign({}, this.rec.meta)
    if (!this.closed) {
      r.bytesUp = this.up()
      r.bytesDown = this.down()
    }
    return r
  }
}

export class Ledger extends EventEmitter<LedgerEvents> {
  readonly clock: Clock
  /** Observer exceptions caught by publish(), counted and logged once per observer. */
  readonly faults: Faults
  private readonly historySize: number
  private readonly liveMap = new Map<string, Session>()
  /** Closed records, oldest first (see history.ts for why in columns). */
  private readonly history: HistoryRing
  private seq = 0
  private readonly totals: LedgerStats = { live: 0, total: 0, byMode: {}, reasons: {} }
  private sampler: ReturnType<Clock['setInterval']> | undefined
  private readonly waiters = new Set<() => void>()

  constructor(opts: LedgerOptions = {}) {
    super()
    this.clock = opts.clock ?? systemClock
    this.faults = opts.faults ?? new Faults()
    this.historySize = opts.historySize ?? DEFAULT_HISTORY_SIZE
    this.history = new HistoryRing(this.historySize)
    const every = opts.sampleIntervalMs ?? DEFAULT_SAMPLE_INTERVAL_MS
    if (every > 0) this.sampler = unrefTimer(this.clock.setInterval(() => this.sample(), every))
  }

  /** Open a session record. The only way a mode writes to the ledger. */
  open(init: SessionInit): SessionHandle {
    const s = new Session(this, ++this.seq, init, this.clock.now())
    this.liveMap.set(s.id, s)
    const m = this.modeTotals(init.mode)
    m.live++
    m.total++
    this.totals.live++
    this.totals.total++
    if (this.listenerCount('open') > 0) this.publish('open', s.snapshot())
    return s
  }

  /** Live sessions, optionally of one mode. */
  live(mode?: string): SessionRecord[] {
    const out: SessionRecord[] = []
    for (const s of this.liveMap.values()) {
      const r = s.snapshot()
      if (!mode || r.mode === mode) out.push(r)
    }
    return out
  }

  /** Closed sessions, newest first, optionally of one mode. */
  recent(mode?: string, limit = this.historySize): SessionRecord[] {
    const out: SessionRecord[] = []
    const h = this.history
    for (let i = h.size - 1; i >= 0 && out.length < limit; i--) if (!mode || h.modeAt(i) === mode) out.push(h.at(i))
    return out
  }

  get(id: string): SessionRecord | undefined {
    const s = this.liveMap.get(id)
    if (s) return s.snapshot()
    return this.history.find(id)
  }

  stats(): LedgerStats {
    const byMode: LedgerStats['byMode'] = {}
    for (const [k, v] of Object.entries(this.totals.byMode)) byMode[k] = { ...v }
    for (const s of this.liveMap.values()) {
      const r = s.snapshot()
      const m = byMode[r.mode]
      m.bytesUp += r.bytesUp
      m.bytesDown += r.bytesDown
    }
    return { live: this.totals.live, total: this.totals.total, byMode, reasons: { ...this.totals.reasons } }
  }

  get liveCount(): number {
    return this.liveMap.size
  }

  /** Resolves when no session of `mode` (or none at all) is live. */
  async drained(mode?: string): Promise<void> {
    const busy = () => (mode ? this.live(mode).length > 0 : this.liveMap.size > 0)
    while (busy()) {
      await new Promise<void>((resolve) => this.waiters.add(resolve))
    }
  }

  /** Emit 'bytes' for what live sessions counted since the last sample. */
  sample(): void {
    for (const s of this.liveMap.values()) this.reportBytes(s)
  }

  /** Stop the sampler (the gateway's last step). */
  stop(): void {
    if (this.sampler) this.clock.clearInterval(this.sampler)
    this.sampler = undefined
  }

  /** @internal called by Session.close */
  finish(s: Session): void {
    if (!this.liveMap.delete(s.id)) return
    this.reportBytes(s)
    // the record itself, not a snapshot: a session closes once per HTTP request, and a copy of ~15 fields
    // for each was garbage the moment the listeners returned
    const rec = s.finalRecord()
    const m = this.modeTotals(rec.mode)
    m.live--
    m.bytesUp += rec.bytesUp
    m.bytesDown += rec.bytesDown
    this.totals.live--
    this.totals.reasons[rec.reason ?? 'unknown'] = (this.totals.reasons[rec.reason ?? 'unknown'] ?? 0) + 1
    this.history.push(rec, s.seq)
    this.publish('close', rec)
    for (const w of this.waiters) w()
    this.waiters.clear()
  }

  private reportBytes(s: Session): void {
    const totalUp = s.up()
    const totalDown = s.down()
    // a delta is never negative, whatever a count did: metrics counters throw on a negative increment
    const up = totalUp > s.reportedUp ? totalUp - s.reportedUp : 0
    const down = totalDown > s.reportedDown ? totalDown - s.reportedDown : 0
    if (up === 0 && down === 0) return
    if (up) s.reportedUp = totalUp
    if (down) s.reportedDown = totalDown
    if (this.listenerCount('bytes') === 0) return
    const k = s.kind
    this.publish('bytes', { id: s.id, mode: k.mode, protocol: k.protocol, up, down })
  }

  /**
   * Emit to every observer, each in its own try/catch. Observers (metrics, logs, the event feed, a library
   * user's listener) run inside a mode's socket, timer and dgram handlers, where an exception would be
   * uncaught and end the process: a failing observer is counted and logged once (Faults), and the session
   * and the other observers carry on.
   */
  publish<K extends keyof LedgerEvents>(event: K, ...args: LedgerEvents[K]): void {
    // rawListeners: a once() listener comes wrapped, and calling the wrapper is what removes it
    const fns = this.rawListeners(event) as Array<((...a: LedgerEvents[K]) => void) & { listener?: { name: string } }>
    for (let i = 0; i < fns.length; i++) {
      try {
        fns[i].apply(this, args)
      } catch (err) {
        this.faults.report(`ledger.${event}:${(fns[i].listener ?? fns[i]).name || 'observer'}`, err)
      }
    }
  }

  private modeTotals(mode: string) {
    return (this.totals.byMode[mode] ??= { live: 0, total: 0, bytesUp: 0, bytesDown: 0 })
  }
}
