/**
 * Prometheus metrics from the ledger's events (prom-client, one Registry per admin server so several
 * gateways in one process never share counters).
 *
 * Counters follow the ledger: `open` counts a session, `bytes` adds what live sessions moved since the
 * last sample (and the remainder at close), `close` observes the duration and counts the reason. Gauges
 * (sessions open, relay pairings and allocations) are read from the ledger's live view at scrape time,
 * so they can never drift. Node's own figures (event-loop lag, heap, GC) come from collectDefaultMetrics.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { Ledger, LedgerEvents, SessionRecord } from '../core/ledger.js'
import { closeKind } from '../core/errors.js'

/** Buckets of session durations, in seconds: from a 1 ms HTTP exchange to a day-long tunnel. */
export const DURATION_BUCKETS_S = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300, 1800, 3600, 86400]


/** A relay session's kind, from its protocol name: "pair-*" are pairings, "turn-*" are allocations. */
export function relayKind(r: Pick<SessionRecord, 'mode' | 'protocol'>): 'pairing' | 'allocation' | undefined {
  if (r.mode !== 'relay') return undefined
  if (r.protocol.startsWith('pair')) return 'pairing'
  if (r.protocol.startsWith('turn') || r.protocol.startsWith('stun')) return 'allocation'
  return undefined
}

export interface AdminMetrics {
  readonly registry: Registry
  /** SSE clients dropped because they read too slowly. */
  sseDropped: Counter<string>
  /** Text exposition (samples live byte counts first so the counters are current). */
  render(): Promise<string>
  stop(): void
}

export function createMetrics(ledger: Ledger, opts: { defaultMetrics?: boolean } = {}): AdminMetrics {
  const registry = new Registry()
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry })

  new Gauge({
    name: 'viaduct_sessions_open',
    help: 'Sessions open now, by mode and protocol.',
    labelNames: ['mode', 'protocol'],
    registers: [registry],
    collect() {
      this.reset()
      for (const r of ledger.live()) this.inc({ mode: r.mode, protocol: r.protocol })
    },
  })
  const sessionsTotal = new Counter({
    name: 'viaduct_sessions_total',
    help: 'Sessions opened since start, by mode and protocol.',
    labelNames: ['mode', 'protocol'],
    registers: [registry],
  })
  const bytesTotal = new Counter({
    name: 'viaduct_bytes_total',
    help: 'Bytes moved, by mode and direction (up = from the client or peer A, down = towards it).',
    labelNames: ['mode', 'direction'],
    registers: [registry],
  })
  const duration = new Histogram({
    name: 'viaduct_session_duration_seconds',
    help: 'Duration of closed sessions, by mode and protocol.',
    labelNames: ['mode', 'protocol'],
    buckets: DURATION_BUCKETS_S,
    registers: [registry],
  })
  const closes = new Counter({
    name: 'viaduct_session_closes_total',
    help: 'Closed sessions by mode and reason (a normal reason or a VIADUCT_ERR_* code).',
    labelNames: ['mode', 'reason'],
    registers: [registry],
  })
  const refusals = new Counter({
    name: 'viaduct_refusals_total',
    help: 'Sessions the gateway refused (access, authentication, limits, bad input), by mode and code.',
    labelNames: ['mode', 'code'],
    registers: [registry],
  })
  const failures = new Counter({
    name: 'viaduct_failures_total',
    help: 'Sessions ended by a failure beyond the gateway (target unreachable, peer reset, upstream error), by mode and code.',
    labelNames: ['mode', 'code'],
    registers: [registry],
  })
  new Gauge({
    name: 'viaduct_relay_pairings_open',
    help: 'Relay pairings (and peers waiting for a partner) open now.',
    registers: [registry],
    collect() {
      this.set(ledger.live('relay').filter((r) => relayKind(r) === 'pairing').length)
    },
  })
  new Gauge({
    name: 'viaduct_relay_allocations_open',
    help: 'TURN allocations open now.',
    registers: [registry],
    collect() {
      this.set(ledger.live('relay').filter((r) => relayKind(r) === 'allocation').length)
    },
  })
  new Counter({
    name: 'viaduct_internal_errors_total',
    help: 'Exceptions in Viaduct\'s own code caught at a boundary (a ledger observer, a frame or connection handler) instead of ending the process, by place. Each place is logged once.',
    labelNames: ['where'],
    registers: [registry],
    collect() {
      this.reset()
      for (const [where, n] of ledger.faults.entries()) this.inc({ where }, n)
    },
  })
  const sseDropped = new Counter({
    name: 'viaduct_admin_sse_dropped_total',
    help: 'Event-stream clients dropped because they did not read fast enough.',
    registers: [registry],
  })

  const onOpen = (r: SessionRecord) => sessionsTotal.inc({ mode: r.mode, protocol: r.protocol })
  // The ledger never reports a negative delta; the guard keeps a counter from throwing if it ever did.
  const onBytes = (b: LedgerEvents['bytes'][0]) => {
    if (b.up > 0) bytesTotal.inc({ mode: b.mode, direction: 'up' }, b.up)
    if (b.down > 0) bytesTotal.inc({ mode: b.mode, direction: 'down' }, b.down)
  }
  const onClose = (r: SessionRecord) => {
    duration.observe({ mode: r.mode, protocol: r.protocol }, (r.durationMs ?? 0) / 1000)
    const reason = r.reason ?? 'unknown'
    closes.inc({ mode: r.mode, reason })
    // endings (idle, a UDP mapping that expired, shutdown) are counted only by reason above
    const kind = closeKind(reason)
    if (kind === 'refusal') refusals.inc({ mode: r.mode, code: reason })
    else if (kind === 'failure') failures.inc({ mode: r.mode, code: reason })
  }
  ledger.on('open', onOpen)
  ledger.on('bytes', onBytes)
  ledger.on('close', onClose)

  return {
    registry,
    sseDropped,
    async render() {
      ledger.sample()
      return registry.metrics()
    },
    stop() {
      ledger.off('open', onOpen)
      ledger.off('bytes', onBytes)
      ledger.off('close', onClose)
    },
  }
}
