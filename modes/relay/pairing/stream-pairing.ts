/**
 * One live stream pairing (TCP or WebSocket on each side): the splice, its ledger record, and the
 * duration and idle limits (timers on core.clock so tests can move time).
 */
import { unrefTimer, type Clock, type Timer } from '../../../src/core/clock.js'
import { CoreErrors } from '../../../src/core/errors.js'
import type { SessionHandle } from '../../../src/core/ledger.js'
import type { PairingConfig } from '../config.js'
import { PairErrors } from './errors.js'
import { Splice, type SpliceEnd } from './splice.js'

export class StreamPairing {
  private readonly splice: Splice
  private durationTimer: Timer | undefined
  private idleTimer: Timer | undefined
  private last: number
  private ended = false
  private readonly done: Promise<void>
  private resolveDone!: () => void

  constructor(
    readonly room: string,
    readonly session: SessionHandle,
    a: SpliceEnd,
    b: SpliceEnd,
    private readonly cfg: PairingConfig,
    private readonly clock: Clock,
    onEnd: (p: StreamPairing) => void,
  ) {
    this.last = clock.now()
    this.done = new Promise((r) => (this.resolveDone = r))
    this.splice = new Splice(a, b, {
      maxBytes: cfg.maxBytes,
      onBytes: (dir, n) => {
        this.last = this.clock.now()
        if (dir === 'up') session.add(n, 0)
        else session.add(0, n)
      },
      onEnd: (reason, detail) => {
        this.ended = true
        this.clock.clearTimeout(this.durationTimer)
        this.clock.clearTimeout(this.idleTimer)
        session.close(reason, detail)
        onEnd(this)
        this.resolveDone()
      },
    })
  }

  start(headA?: Buffer, headB?: Buffer): void {
    if (this.cfg.maxDurationMs > 0) {
      this.durationTimer = unrefTimer(this.clock.setTimeout(() => this.stop(PairErrors.VIADUCT_ERR_PAIR_DURATION_LIMIT, `${this.cfg.maxDurationMs} ms`), this.cfg.maxDurationMs))
    }
    if (this.cfg.idleTimeoutMs > 0) this.armIdle(this.cfg.idleTimeoutMs)
    this.splice.start(headA, headB)
  }

  private armIdle(ms: number): void {
    this.idleTimer = unrefTimer(this.clock.setTimeout(() => {
      if (this.ended) return
      const quiet = this.clock.now() - this.last
      if (quiet >= this.cfg.idleTimeoutMs) this.stop(CoreErrors.VIADUCT_ERR_SESSION_IDLE, `no traffic for ${quiet} ms`)
      else this.armIdle(this.cfg.idleTimeoutMs - quiet)
    }, ms))
  }

  /** End the pairing now with `code`; resolves when both sides closed. */
  stop(code: string, detail?: string): Promise<void> {
    if (!this.ended) this.splice.stop(code, detail, false)
    return this.done
  }

  get closed(): Promise<void> {
    return this.done
  }
}
