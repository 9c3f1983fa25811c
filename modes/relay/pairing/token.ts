/**
 * Pairing tokens: time-limited credentials for one room, made from a shared secret, in the spirit of
 * the TURN REST API credential scheme (draft-uberti-behave-turn-rest-00 §2.2: the user name carries an
 * expiry timestamp and the password is an HMAC of it with a secret the relay and the web service share).
 *
 *   token   = "1." expiry "." signature
 *   expiry  = Unix time in seconds (decimal, no leading zeros)
 *   message = "viaduct-pair:1:" expiry ":" room
 *   signature = base64url(HMAC-SHA256(secret, message)), no padding (43 characters)
 *
 * Pure: the caller passes the time. Several secrets verify, so a secret can be rotated: add the new one
 * first (it mints), keep the old one until its tokens expired.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { CoreErrors, ViaductError } from '../../../src/core/errors.js'
import { PairErrors } from './errors.js'
import { isValidId } from './hello.js'

export const TOKEN_VERSION = '1'
export const DEFAULT_TOKEN_TTL_S = 3600
/** The shortest relay secret: relay.pairing.secrets refuses shorter ones, so nothing shorter may mint. */
export const MIN_SECRET_CHARS = 8

export function tokenMessage(room: string, expiry: number): string {
  return `viaduct-pair:${TOKEN_VERSION}:${expiry}:${room}`
}

function sign(secret: string, room: string, expiry: number): string {
  return createHmac('sha256', secret).update(tokenMessage(room, expiry)).digest('base64url')
}

/**
 * Mint a token for `room`, valid until now + ttlS (now: `nowMs`, default the system clock). A secret
 * shorter than the relay accepts, a bad room or a lifetime that is not a positive whole number of seconds
 * is refused with VIADUCT_ERR_CONFIG_INVALID (a caller's mistake, not a refusal by a relay).
 */
export function mintToken(opts: { secret: string; room: string; ttlS?: number; nowMs?: number }): string {
  if (!isValidId(opts.room)) throw new ViaductError(CoreErrors.VIADUCT_ERR_CONFIG_INVALID, 'a room id is 1..128 printable ASCII characters (no spaces)')
  if (typeof opts.secret !== 'string' || opts.secret.length < MIN_SECRET_CHARS) {
    throw new ViaductError(CoreErrors.VIADUCT_ERR_CONFIG_INVALID, `a relay secret needs at least ${MIN_SECRET_CHARS} characters (the relay refuses shorter ones, so its tokens could never verify)`)
  }
  const ttl = opts.ttlS ?? DEFAULT_TOKEN_TTL_S
  if (!Number.isInteger(ttl) || ttl <= 0) throw new ViaductError(CoreErrors.VIADUCT_ERR_CONFIG_INVALID, `the token lifetime is a positive whole number of seconds, got ${ttl}`)
  const expiry = Math.floor((opts.nowMs ?? Date.now()) / 1000) + ttl
  return `${TOKEN_VERSION}.${expiry}.${sign(opts.secret, opts.room, expiry)}`
}

export interface TokenInfo {
  expiry: number
}

/**
 * Verify a token for `room` against every secret. Throws TOKEN_INVALID (bad shape or signature: one
 * code for both, so a prober learns nothing) or TOKEN_EXPIRED (valid signature, expiry passed).
 */
export function verifyToken(opts: { token: string; room: string; secrets: readonly string[]; nowMs: number }): TokenInfo {
  const m = /^1\.([1-9][0-9]{0,11})\.([A-Za-z0-9_-]{43})$/.exec(opts.token)
  if (!m) throw new ViaductError(PairErrors.VIADUCT_ERR_PAIR_TOKEN_INVALID, 'the pairing token is not a version-1 token')
  const expiry = Number(m[1])
  const given = Buffer.from(m[2], 'base64url')
  let ok = false
  for (const secret of opts.secrets) {
    const want = Buffer.from(sign(secret, opts.room, expiry), 'base64url')
    // Compare with every secret (no early exit) so timing does not tell which one matched.
    if (want.length === given.length && timingSafeEqual(want, given)) ok = true
  }
  if (!ok) throw new ViaductError(PairErrors.VIADUCT_ERR_PAIR_TOKEN_INVALID)
  if (expiry * 1000 <= opts.nowMs) {
    throw new ViaductError(PairErrors.VIADUCT_ERR_PAIR_TOKEN_EXPIRED, `the pairing token expired at ${new Date(expiry * 1000).toISOString()}`)
  }
  return { expiry }
}
