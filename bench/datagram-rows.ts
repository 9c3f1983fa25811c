/**
 * The per-path measurement loop shared by the TURN and datagram-contrast scenarios: for each datagram
 * path, one-at-a-time round trips (p50/p99 rows) and then a windowed rate on a fresh path (pkt/s, loss %
 * and, when asked, MiB/s rows). A scenario lists its paths and says which groups and notes its rows carry;
 * the runner fills in the ratio to direct.
 */
import { nowMs, percentile } from './stats.js'
import type { BenchOptions, BenchRow } from './types.js'
import { RATE_DATAGRAM_BYTES, roundTrips, windowedRate, type Path } from './datagram-paths.js'

/** A path to measure: its row name and how to open it (opened afresh for each measurement). */
export type NamedPath = [path: string, open: () => Promise<Path>]

export type RoundTripResult = Awaited<ReturnType<typeof roundTrips>>
export type RateResult = Awaited<ReturnType<typeof windowedRate>>

/** Which groups and notes a scenario's datagram rows carry. */
export interface DatagramRowSpec {
  /** The p50 ms and p99 ms rows (same note on both). */
  roundTrips: { group: string; note(r: RoundTripResult): string }
  /** The pkt/s row (with this note), the loss % row (no note), and a MiB/s row of 1,200-byte payloads when `mibPerS`. */
  rate: { group: string; note(w: RateResult): string; mibPerS?: boolean }
  /** The metric of the one NaN row a path that fails gets: p50 ms in the round-trip group, pkt/s in the rate group. */
  failedMetric: 'p50 ms' | 'pkt/s'
}

/** Lost datagrams as a percentage of those sent (NaN when none were sent). */
export function lossPct(w: RateResult): number {
  return w.sent ? (100 * (w.sent - w.back)) / w.sent : NaN
}

/**
 * Measures each path in turn and returns its rows. A path that fails gets one NaN row (see
 * `failedMetric`) after whatever rows it had already produced; the next path still runs.
 */
export async function measureDatagramPaths(opts: BenchOptions, paths: readonly NamedPath[], spec: DatagramRowSpec): Promise<BenchRow[]> {
  const q = opts.quick
  const seconds = Math.max(0.2, opts.seconds)
  const rows: BenchRow[] = []
  for (const [path, open] of paths) {
    try {
      opts.progress(`${path}: round trips`)
      let p = await open()
      const r = await roundTrips(p, q ? 300 : 5000, nowMs() + seconds * 1000)
      await p.close()
      const note = spec.roundTrips.note(r)
      rows.push({ group: spec.roundTrips.group, path, metric: 'p50 ms', value: percentile(r.samples, 50), note })
      rows.push({ group: spec.roundTrips.group, path, metric: 'p99 ms', value: percentile(r.samples, 99), note })
      opts.progress(`${path}: rate`)
      p = await open()
      const w = await windowedRate(p, q ? 20_000 : 2_000_000, seconds)
      await p.close()
      rows.push({ group: spec.rate.group, path, metric: 'pkt/s', value: w.pps, note: spec.rate.note(w) })
      if (spec.rate.mibPerS) rows.push({ group: spec.rate.group, path, metric: 'MiB/s', value: (w.pps * RATE_DATAGRAM_BYTES) / (1024 * 1024), note: 'echoed payload per second' })
      rows.push({ group: spec.rate.group, path, metric: 'loss %', value: lossPct(w) })
    } catch (err) {
      opts.progress(`${path}: failed (${(err as Error).message})`)
      const group = spec.failedMetric === 'p50 ms' ? spec.roundTrips.group : spec.rate.group
      rows.push({ group, path, metric: spec.failedMetric, value: NaN, note: `failed: ${(err as Error).message}` })
    }
  }
  return rows
}
