/**
 * TURN REST ephemeral credentials (draft-uberti-behave-turn-rest, as coturn's use-auth-secret): the
 * username is "EXPIRY:USER" (EXPIRY in Unix seconds), the password is base64(HMAC-SHA1(secret, username)).
 * An application server that knows the secret mints them; the TURN server checks them with no database.
 */
import { createHmac } from 'node:crypto'

export const DEFAULT_REST_TTL_S = 86_400

export interface RestCredentials {
  username: string
  password: string
  /** Seconds the credentials stay valid. */
  ttl: number
  /** Unix seconds at which they expire. */
  expiresAt: number
}

export function restPassword(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username, 'utf8').digest('base64')
}

export function mintRestCredentials(secret: string, user: string, ttlS = DEFAULT_REST_TTL_S, nowMs = Date.now()): RestCredentials {
  const expiresAt = Math.floor(nowMs / 1000) + ttlS
  const username = user ? `${expiresAt}:${user}` : String(expiresAt)
  return { username, password: restPassword(secret, username), ttl: ttlS, expiresAt }
}

/** The expiry of a REST username ("1700000000:alice" or "1700000000"), or null when it is not one. */
export function restExpiry(username: string): number | null {
  const m = /^(\d{1,12})(?::|$)/.exec(username)
  return m ? Number(m[1]) : null
}
