/**
 * The live feed behind /api/events (Server-Sent Events) and the throughput history behind /api/stats.
 *
 * It forwards the ledger's `open`, `update` and `close` events as they happen (as `session.open`,
 * `session.update`, `session.close`: EventSource has its own `open` and `error` events), and once per tick sends a
 * `tick` event: bytes per second per mode over the last tick, the ledger's totals, and the current byte
 * counts of the live sessions that moved bytes in that tick. A comment line every heartbeat keeps
 * proxies and browsers from timing the stream out.
 *
 * Memory stays bounded per client: an SSE client whose unsent output passes `maxBufferBytes` is dropped
 * (its connection destroyed; EventSource reconnects and reloads the state) rather than buffered for.
 */
import type { ServerResponse } from 'node:http'
import type { Clock, Timer } from '../core/clock.js'
import { unrefTimer } from '../core/clock.js'
import type { Ledger, LedgerEvents, LedgerStats, SessionRecord } from '../core/ledger.js'

export const DEFAULT_TICK_MS = 1000
export const DEFAULT_HEARTBEAT_MS = 15_000
export const DEFAULT_HISTORY_TICKS = 120
export const DEFAULT_MAX_SSE_BUFFER_BYTES = 1024 * 1024
export const DEFAULT_MAX_SSE_CLIENTS = 64
/** At most this many per-session byte counts in one tick (the busiest are not chosen: first come). */
export const MAX_TICK_SESSIONS = 500

export interface ThroughputPoint {
  /** End of the tick, ms since the epoch. */
  t: number
  /** Bytes per second over the tick, per mode. */
  modes: Record<string, { up: number; down: number }>
}

export type ReasonsByMode = Record<string, Record<string, number>>

export interface TickEvent extends ThroughputPoint {
  stats: LedgerStats & { reasonsByMode: ReasonsByMode }
  /** Current totals [bytesUp, bytesDown] of live sessions that moved bytes during the tick. */
  sessions: Record<string, [number, number]>
}

export interface FeedOptions {
  tickMs?: number
  heartbeatMs?: number
  historyTicks?: number
  maxBufferBytes?: number
  maxClients?: number
  /** Called when a slow client is dropped (metrics). */
  onDrop?: () => void
}

export class LiveFeed {
  private readonly clients = new Set<ServerResponse>()
  private readonly history: ThroughputPoint[] = []
  private readonly reasons: ReasonsByMode = {}
  private pending: Record<string, { up: number; down: number }> = {}
  private moved = new Set<string>()
  private readonly timers: Timer[] = []
  private readonly tickMs: number
  private readonly heartbeatMs: number
  private readonly historyTicks: number
  private readonly maxBufferBytes: number
  private readonly maxClients: number
  private stopped = false

  constructor(
    private readonly ledger: Ledger,
    private readonly clock: Clock,
    private readonly opts: FeedOptions = {},
  ) {
    this.tickMs = opts.tickMs ?? DEFAULT_TICK_MS
    this.heartbeatMs = opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS
    this.historyTicks = opts.historyTicks ?? DEFAULT_HISTORY_TICKS
    this.maxBufferBytes = opts.maxBufferBytes ?? DEFAULT_MAX_SSE_BUFFER_BYTES
    this.maxClients = opts.maxClients ?? DEFAULT_MAX_SSE_CLIENTS
    ledger.on('open', this.onOpen)
    ledger.on('update', this.onUpdate)
    ledger.on('close', this.onClose)
    ledger.on('bytes', this.onBytes)
    if (this.tickMs > 0) this.timers.push(unrefTimer(clock.setInterval(() => this.tick(), this.tickMs)))
    if (this.heartbeatMs > 0) this.timers.push(unrefTimer(clock.setInterval(() => this.heartbeat(), this.heartbeatMs)))
  }

  get clientCount(): number {
    return this.clients.size
  }

  /** Close reasons (normal reasons and error codes) per mode, counted since the feed started. */
  reasonsByMode(): ReasonsByMode {
    return structuredClone(this.reasons)
  }

  /** The ledger's totals plus the close reasons per mode. */
  stats(): TickEvent['stats'] {
    return { ...this.ledger.stats(), reasonsByMode: this.reasonsByMode() }
  }

  /** Throughput over the last ticks, oldest first. */
  throughput(): ThroughputPoint[] {
    return this.history.map((p) => ({ t: p.t, modes: structuredClone(p.modes) }))
  }

  /** Take over an HTTP response as an event stream. Returns false (and answers 503) when full. */
  attach(res: ServerResponse): boolean {
    if (this.stopped || this.clients.size >= this.maxClients) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '5' }).end('too many event-stream clients\n')
      return false
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    })
    // retry: how long EventSource waits before reconnecting after a drop.
    res.write(`retry: 2000\n: viaduct event stream\n\n`)
    this.clients.add(res)
    res.once('close', () => this.clients.delete(res))
    this.sendTo(res, 'hello', { t: this.clock.now(), tickMs: this.tickMs, stats: this.stats() })
    return true
  }

  /** Build and broadcast one tick (the timer calls it; tests may call it by hand). */
  tick(): TickEvent {
    this.ledger.sample()
    const secs = this.tickMs > 0 ? this.tickMs / 1000 : 1
    const modes: ThroughputPoint['modes'] = {}
    for (const m of Object.keys(this.ledger.stats().byMode)) modes[m] = { up: 0, down: 0 }
    for (const [m, v] of Object.entries(this.pending)) modes[m] = { up: v.up / secs, down: v.down / secs }
    const sessions: TickEvent['sessions'] = {}
    let n = 0
    for (const id of this.moved) {
      if (n++ >= MAX_TICK_SESSIONS) break
      const r = this.ledger.get(id)
      if (r && r.state === 'live') sessions[id] = [r.bytesUp, r.bytesDown]
    }
    this.pending = {}
    this.moved = new Set()
    const point: ThroughputPoint = { t: this.clock.now(), modes }
    this.history.push(point)
    if (this.history.length > this.historyTicks) this.history.splice(0, this.history.length - this.historyTicks)
    const ev: TickEvent = { ...point, stats: this.stats(), sessions }
    this.broadcast('tick', ev)
    return ev
  }

  stop(): void {
    if (this.stopped) return
    this.stopped = true
    for (const t of this.timers) this.clock.clearInterval(t)
    this.ledger.off('open', this.onOpen)
    this.ledger.off('update', this.onUpdate)
    this.ledger.off('close', this.onClose)
    this.ledger.off('bytes', this.onBytes)
    for (const c of this.clients) c.end()
    this.clients.clear()
  }

  private readonly onOpen = (r: SessionRecord) => this.broadcast('session.open', r)
  private readonly onUpdate = (r: SessionRecord) => this.broadcast('session.update', r)
  private readonly onClose = (r: SessionRecord) => {
    const m = (this.reasons[r.mode] ??= {})
    const k = r.reason ?? 'unknown'
    m[k] = (m[k] ?? 0) + 1
    this.broadcast('session.close', r)
  }
  private readonly onBytes = (b: LedgerEvents['bytes'][0]) => {
    const p = (this.pending[b.mode] ??= { up: 0, down: 0 })
    p.up += b.up
    p.down += b.down
    if (this.moved.size < MAX_TICK_SESSIONS) this.moved.add(b.id)
  }

  private heartbeat(): void {
    for (const c of this.clients) this.write(c, `: ping ${this.clock.now()}\n\n`)
  }

  private broadcast(event: string, data: unknown): void {
    if (this.clients.size === 0) return
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`
    for (const c of this.clients) this.write(c, frame)
  }

  private sendTo(res: ServerResponse, event: string, data: unknown): void {
    this.write(res, `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
  }

  private write(res: ServerResponse, frame: string): void {
    if (res.destroyed || res.writableEnded) {
      this.clients.delete(res)
      return
    }
    // A client that cannot keep up is dropped, never buffered for without bound.
    if (res.writableLength + frame.length > this.maxBufferBytes) {
      this.clients.delete(res)
      res.destroy()
      this.opts.onDrop?.()
      return
    }
    res.write(frame)
  }
}
