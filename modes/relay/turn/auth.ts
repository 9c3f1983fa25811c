/**
 * The long-term credential mechanism (RFC 8489 §9.2) over two user sources: static users
 * (key = MD5(user:realm:pass)) and TURN REST ephemeral credentials checked against one or more shared
 * secrets. Nonces are stateless: they carry their expiry and an HMAC over it and the client's IP with a
 * key made at start, so the server keeps no nonce table and a stale or foreign nonce gets 438.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Clock } from '../../../src/core/clock.js'
import { restExpiry, restPassword } from './credentials.js'
import { longTermKey } from './stun/integrity.js'

export interface AuthConfig {
  realm: string
  users: ReadonlyArray<{ name: string; password: string }>
  secrets: readonly string[]
  nonceTtlS: number
}

export type NonceCheck = 'ok' | 'stale'

export class TurnAuth {
  readonly realm: string
  private readonly users = new Map<string, Buffer>()
  private readonly secrets: readonly string[]
  private readonly nonceKey = randomBytes(32)
  private readonly nonceTtlMs: number

  constructor(
    cfg: AuthConfig,
    private readonly clock: Clock,
  ) {
    this.realm = cfg.realm
    for (const u of cfg.users) this.users.set(u.name, longTermKey(u.name, cfg.realm, u.password))
    this.secrets = cfg.secrets
    this.nonceTtlMs = cfg.nonceTtlS * 1000
  }

  /** True when no credentials are configured: an open relay (only allowed on loopback or knowingly). */
  get open(): boolean {
    return this.users.size === 0 && this.secrets.length === 0
  }

  /**
   * The candidate keys for a username: the static user's key, or one key per REST secret while the
   * username's expiry is in the future. Empty = unknown or expired user.
   */
  keysFor(username: string): Buffer[] {
    const stat = this.users.get(username)
    if (stat) return [stat]
    if (this.secrets.length === 0) return []
    const exp = restExpiry(username)
    if (exp === null || exp * 1000 <= this.clock.now()) return []
    return this.secrets.map((s) => longTermKey(username, this.realm, restPassword(s, username)))
  }

  /** A fresh nonce for a client IP: "<expiry hex>.<mac>" (RFC 8489 §9.2: the server chooses its format). */
  nonce(clientIp: string): string {
    const exp = Math.floor((this.clock.now() + this.nonceTtlMs) / 1000).toString(16)
    return `${exp}.${this.mac(exp, clientIp)}`
  }

  /**
   * RFC 8489 §9.2.4: "If the NONCE is no longer valid, the server MUST generate an error response with
   * an error code of 438 (Stale Nonce)." A nonce we did not make for this IP is not valid either.
   */
  checkNonce(nonce: string, clientIp: string): NonceCheck {
    const m = /^([0-9a-f]{1,12})\.([A-Za-z0-9_-]{22})$/.exec(nonce)
    if (!m) return 'stale'
    const want = Buffer.from(this.mac(m[1], clientIp))
    const got = Buffer.from(m[2])
    if (want.length !== got.length || !timingSafeEqual(want, got)) return 'stale'
    return parseInt(m[1], 16) * 1000 > this.clock.now() ? 'ok' : 'stale'
  }

  private mac(expHex: string, ip: string): string {
    return createHmac('sha256', this.nonceKey).update(`${expHex}|${ip}`).digest('base64url').slice(0, 22)
  }
}
