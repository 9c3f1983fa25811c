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
