/**
 * Internal faults: an exception in our own code that was caught at a boundary instead of reaching a socket,
 * timer or dgram handler (where it would be uncaught and end the process).
 *
 * The boundaries (docs/architecture.md "Failure boundaries"): every ledger observer (metrics, logs, the
 * event feed) runs inside the ledger's publish loop, one try/catch per observer; a mode's per-frame or
 * per-connection handler catches what its own code throws and ends only that session. Each caught fault is
 * counted by where it happened (`viaduct_internal_errors_total{where}`) and logged once per place, with its
 * stack, so an operator sees the bug without a log line per packet.
 */
import type { Logger } from './log.js'

export class Faults {
  private readonly counts = new Map<string, number>()
  private readonly logged = new Set<string>()
  private log: Logger | undefined

  constructor(log?: Logger) {
    this.log = log
  }

  /** Where to log the first fault of each place (the gateway sets its logger). */
  setLogger(log: Logger): void {
    this.log = log
  }

  /** Count a caught fault; the first one of each `where` is logged at error level with its stack. */
  report(where: string, err: unknown, fields?: Record<string, unknown>): void {
    this.counts.set(where, (this.counts.get(where) ?? 0) + 1)
    if (this.logged.has(where)) return
    this.logged.add(where)
    try {
      this.log?.error({ event: 'internal_error', where, err, ...fields }, `internal error in ${where}, caught (logged once; counted in viaduct_internal_errors_total)`)
    } catch {
      // a logger that throws must not turn a caught fault into an uncaught one
    }
  }

  /** Faults counted so far, by place. */
  entries(): Array<[string, number]> {
    return [...this.counts]
  }

  get total(): number {
    let n = 0
    for (const v of this.counts.values()) n += v
    return n
  }
}
