/** What the HTTP proxy's handlers (forward, tunnel, upgrade) share. */
import type { ForwardContext } from '../context.js'
import type { LiveSessions } from './accounting.js'
import type { UpstreamPools } from './agents.js'
import type { DestinationChecks } from './destinations.js'

export interface HttpEnv {
  ctx: ForwardContext
  pools: UpstreamPools
  live: LiveSessions
  /** forward.access checks of plain-HTTP destinations (allowed answers remembered for a moment). */
  destinations: DestinationChecks
  /** Via pseudonym, or null when Via is off. */
  via: string | null
  /** Realm of the 407 challenge. */
  realm: string
  /** "host:port" the proxy listens on, for the info page. */
  address(): string
}

/** The client's IP (IPv4-mapped IPv6 shown as IPv4), for X-Forwarded-For. */
export function clientIp(remoteAddress: string | undefined): string {
  const a = remoteAddress ?? 'unknown'
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a
}
