/**
 * Per-source rate limit for 401 replies over UDP. A 401 answers an unauthenticated request, so an
 * attacker who spoofs a victim's address could otherwise make the server send the victim one reply per
 * forged request (a reflector). Over TCP and TLS the handshake proves the address, so no limit applies.
 * Fixed one-second windows per IP; the table is bounded.
 */
import type { Clock } from '../../../src/core/clock.js'

export const MAX_TRACKED_SOURCES = 10_000

export class SourceRateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>()

  constructor(
    private readonly perSecond: number,
    private readonly clock: Clock,
  ) {}

  /** True when a reply to `ip` may be sent now (and counts it). 0 per second = unlimited. */
  allow(ip: string): boolean {
    if (this.perSecond <= 0) return true
    const now = this.clock.now()
    let w = this.windows.get(ip)
    if (!w || now - w.start >= 1000) {
      if (!w && this.windows.size >= MAX_TRACKED_SOURCES) {
        this.prune(now)
        if (this.windows.size >= MAX_TRACKED_SOURCES) return false
      }
      w = { start: now, count: 0 }
      this.windows.set(ip, w)
    }
    if (w.count >= this.perSecond) return false
    w.count++
    return true
  }

  private prune(now: number): void {
    for (const [ip, w] of this.windows) if (now - w.start >= 1000) this.windows.delete(ip)
  }

  get size(): number {
    return this.windows.size
  }
}
