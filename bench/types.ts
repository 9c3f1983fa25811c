/**
 * The benchmark contract. `viaduct bench` (one code path; `npm run bench` calls it) runs scenarios; each
 * scenario measures a DIRECT path and the same workload THROUGH Viaduct (and other programs, when
 * installed) in the same run, on loopback only, bounded in count and time, and reports rows. The runner
 * prints a table with ratios to direct and can write an HTML report. No pass/fail on absolute times.
 */

export interface BenchOptions {
  /** Smaller counts and shorter durations (tests and `viaduct demo`). */
  quick: boolean
  /** Seconds each timed measurement may run at most. */
  seconds: number
  /** Report progress (the runner draws a progress bar from it). */
  progress(message: string): void
}

import type { Metric } from './metrics.js'

export interface BenchRow {
  /** Scenario group, e.g. "http-get-1k", "connect-throughput", "turn-udp". */
  group: string
  /** The path measured: "direct", "viaduct http", "viaduct socks5", "tinyproxy", "coturn", ... */
  path: string
  /** What was measured, one of the metrics declared with their better direction in metrics.ts. */
  metric: Metric
  value: number
  /** value / direct value for the same group and metric, when a direct row exists (filled by the runner). */
  ratio?: number
  /** Free text: counts, sizes, caveats. */
  note?: string
}

export interface Scenario {
  name: string
  description: string
  run(opts: BenchOptions): Promise<BenchRow[]>
}
