/**
 * The only thing tests may mock. Every timeout, expiry and timestamp in the gateway goes through a Clock
 * so a test can move time without sleeping.
 */
export interface Timer {
  unref?(): unknown
}

export interface Clock {
  /** Wall-clock milliseconds since the epoch (records, token expiry). */
  now(): number
  setTimeout(fn: () => void, ms: number): Timer
  clearTimeout(timer: Timer | undefined): void
  setInterval(fn: () => void, ms: number): Timer
  clearInterval(timer: Timer | undefined): void
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout | undefined),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (t) => clearInterval(t as NodeJS.Timeout | undefined),
}

/** A timer that does not hold the process open (housekeeping, expiry sweeps). */
export function unrefTimer<T extends Timer>(t: T): T {
  t.unref?.()
  return t
}

/**
 * A manual clock for tests: time moves only when `tick(ms)` is called, and due timers fire in order.
 */
export class ManualClock implements Clock {
  private t: number
  private seq = 0
  private readonly timers = new Map<number, { at: number; fn: () => void; every?: number }>()

  constructor(start = 1_700_000_000_000) {
    this.t = start
  }

  now(): number {
    return this.t
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const id = ++this.seq
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn })
    return { id } as Timer
  }

  setInterval(fn: () => void, ms: number): Timer {
    const id = ++this.seq
    const every = Math.max(1, ms)
    this.timers.set(id, { at: this.t + every, fn, every })
    return { id } as Timer
  }

  clearTimeout(timer: Timer | undefined): void {
    if (timer) this.timers.delete((timer as { id: number }).id)
  }

  clearInterval(timer: Timer | undefined): void {
    this.clearTimeout(timer)
  }

  /** Advance time by `ms`, firing every timer that falls due, earliest first. */
  tick(ms: number): void {
    const end = this.t + ms
    for (;;) {
      let nextId = -1
      let next: { at: number; fn: () => void; every?: number } | undefined
      for (const [id, tm] of this.timers) {
        if (tm.at <= end && (!next || tm.at < next.at)) {
          next = tm
          nextId = id
        }
      }
      if (!next) break
      this.t = Math.max(this.t, next.at)
      if (next.every) next.at += next.every
      else this.timers.delete(nextId)
      next.fn()
    }
    this.t = end
  }

  get pending(): number {
    return this.timers.size
  }
}
