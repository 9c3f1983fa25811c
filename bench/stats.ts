/** Small measurement helpers shared by the benchmark scenarios. */

/** The p-th percentile (0..100) of samples (nearest-rank). */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN
  const sorted = [...samples].sort((a, b) => a - b)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]
}

/** High-resolution milliseconds. */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6
}

/** Samples this process's RSS every `everyMs` until stopped; returns the peak in MiB. */
export function rssSampler(everyMs = 50): { stop(): number } {
  let peak = process.memoryUsage.rss()
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss())
  }, everyMs)
  timer.unref()
  return {
    stop() {
      clearInterval(timer)
      peak = Math.max(peak, process.memoryUsage.rss())
      return peak / (1024 * 1024)
    },
  }
}

/** Fill `ratio` on each row from the "direct" row of the same group and metric. */
export function withRatios<T extends { group: string; path: string; metric: string; value: number; ratio?: number }>(rows: T[]): T[] {
  for (const r of rows) {
    const d = rows.find((x) => x.group === r.group && x.metric === r.metric && x.path === 'direct')
    if (d && d.value > 0 && r.path !== 'direct') r.ratio = r.value / d.value
  }
  return rows
}

/** The median of samples (mean of the middle two for an even count). */
export function median(samples: readonly number[]): number {
  if (samples.length === 0) return NaN
  const s = [...samples].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/**
 * Measure every path in turn, A/B/C/A/B/C..., for up to `rounds` rounds, and stop early (between whole
 * rounds, so every path has as many samples) once `deadlineMs` (a nowMs() value) has passed. Each round
 * starts one path later, so no path always runs right after the same other one. Returns the samples by
 * path, in the order of `paths`.
 */
export async function interleave<P>(paths: readonly P[], rounds: number, deadlineMs: number, measure: (path: P, round: number) => Promise<number>): Promise<Map<P, number[]>> {
  const samples = new Map<P, number[]>(paths.map((p) => [p, []]))
  for (let r = 0; r < rounds; r++) {
    if (r > 0 && nowMs() > deadlineMs) break
    for (let i = 0; i < paths.length; i++) {
      const p = paths[(i + r) % paths.length]
      samples.get(p)!.push(await measure(p, r))
    }
  }
  return samples
}

/** "median of 5 (min-max)" for a note. */
export function spread(samples: readonly number[], digits = 0): string {
  if (samples.length === 0) return 'no samples'
  return `median of ${samples.length} (${Math.min(...samples).toFixed(digits)}-${Math.max(...samples).toFixed(digits)})`
}
