/**
 * The access check of plain-HTTP destinations, remembered for a moment.
 *
 * Every forwarded request is checked against forward.access (deny and allow lists, private ranges, our own
 * listeners) before it goes out, even on a pooled keep-alive connection. For an IP literal that check builds
 * several BlockList lookups, which profiling showed as one of the largest costs of a small GET. A keep-alive
 * client sends the same host:port again and again, so an ALLOWED answer is kept for TTL_MS (refusals are
 * never kept: they are rare and must carry their own error each time). The answer depends only on the policy
 * object, which is compared by identity, so a new policy starts afresh. Bounded: at most MAX_ENTRIES names,
 * and the whole map is dropped when it is full.
 */
import type { Clock } from '../../../src/core/clock.js'
import type { AccessPolicy } from '../access.js'

export const TTL_MS = 1000
export const MAX_ENTRIES = 1024

export class DestinationChecks {
  private readonly allowed = new Map<string, number>()
  private policy: AccessPolicy | undefined

  constructor(
    private readonly current: () => AccessPolicy,
    private readonly clock: Clock,
  ) {}

  /** Throws the policy's ViaductError when host:port may not be reached by plain HTTP. */
  check(host: string, port: number): void {
    const policy = this.current()
    if (policy !== this.policy) {
      this.allowed.clear()
      this.policy = policy
    }
    const key = `${port} ${host}`
    const now = this.clock.now()
    const until = this.allowed.get(key)
    if (until !== undefined && until > now) return
    policy.checkDestination(host, port, false)
    if (this.allowed.size >= MAX_ENTRIES) this.allowed.clear()
    this.allowed.set(key, now + TTL_MS)
  }
}
