/**
 * Proxy users, shared by HTTP (Basic, RFC 7617 via Proxy-Authorization) and SOCKS5 (RFC 1929).
 * Passwords are compared in constant time over their SHA-256 digests.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { ViaductError } from '../../src/core/errors.js'
import type { UserCredential } from '../../src/config/types.js'
import { ForwardErrors } from './errors.js'

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest()
}

export class ProxyAuth {
  private readonly users = new Map<string, Buffer>()

  constructor(users: readonly UserCredential[]) {
    for (const u of users) this.users.set(u.name, digest(u.password))
  }

  /** True when users are configured, so every request must authenticate. */
  get required(): boolean {
    return this.users.size > 0
  }

  /** Check a name and password; returns the user name or throws AUTH_FAILED. */
  verify(name: string, password: string): string {
    const want = this.users.get(name)
    const got = digest(password)
    // compare against something even for an unknown user so timing does not tell which names exist
    const ok = timingSafeEqual(want ?? digest('\0no-such-user'), got) && want !== undefined
    if (!ok) throw new ViaductError(ForwardErrors.VIADUCT_ERR_AUTH_FAILED, `wrong user name or password for "${name.slice(0, 64)}"`)
    return name
  }

  /** Does this user exist (SOCKS4 USERID, which carries no password)? */
  has(name: string): boolean {
    return this.users.has(name)
  }

  /**
   * Check an HTTP `Proxy-Authorization` header value. Returns the user name (or undefined when no users
   * are configured); throws AUTH_REQUIRED when missing, AUTH_FAILED when wrong or malformed.
   */
  checkBasic(header: string | undefined): string | undefined {
    if (!this.required) return undefined
    if (!header) throw new ViaductError(ForwardErrors.VIADUCT_ERR_AUTH_REQUIRED)
    const m = /^\s*basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header)
    if (!m) throw new ViaductError(ForwardErrors.VIADUCT_ERR_AUTH_FAILED, 'Proxy-Authorization is not Basic credentials')
    const decoded = Buffer.from(m[1], 'base64').toString('utf8')
    const i = decoded.indexOf(':')
    if (i < 0) throw new ViaductError(ForwardErrors.VIADUCT_ERR_AUTH_FAILED, 'Basic credentials without ":"')
    return this.verify(decoded.slice(0, i), decoded.slice(i + 1))
  }
}
