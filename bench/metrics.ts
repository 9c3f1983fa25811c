/**
 * Every metric a benchmark row may carry, declared once with the direction that is better. A row's
 * `metric` is typed from this table, so a new metric cannot be reported without saying which way is
 * better (the report used to guess from the unit and labelled "CPU µs/req" and "datagrams/s" backwards).
 */
export const METRICS = {
  'req/s': 'higher',
  'conn/s': 'higher',
  'pkt/s': 'higher',
  'datagrams/s': 'higher',
  'MiB/s': 'higher',
  'decode+MI/s': 'higher',
  'encode+MI/s': 'higher',
  'ChannelData/s': 'higher',
  'p50 ms': 'lower',
  'p99 ms': 'lower',
  'rtt ms': 'lower',
  's': 'lower',
  'loss %': 'lower',
  'peak RSS MiB': 'lower',
  'CPU µs/req': 'lower',
  'CPU µs/datagram': 'lower',
  'CPU ms/GiB': 'lower',
} as const satisfies Record<string, 'higher' | 'lower'>

export type Metric = keyof typeof METRICS

/** Which way is better for a metric (declared in METRICS). */
export function betterDirection(metric: Metric): 'higher' | 'lower' {
  return METRICS[metric]
}
