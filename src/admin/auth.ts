/**
 * Who may talk to the admin server.
 *
 * With `admin.token` set, every endpoint but /healthz needs `Authorization: Bearer TOKEN` (or
 * `?token=TOKEN`, for a browser's first page load and for EventSource, which cannot send headers; the
 * page answered to such a load sets an HttpOnly SameSite=Strict cookie that its CSS, script and API
 * calls then carry).
 * Without a token the server only listens on loopback, and then answers only requests whose Host is a
 * loopback name, so a web page elsewhere cannot reach it through DNS rebinding.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { isIP } from 'node:net'
import type { IncomingMessage } from 'node:http'
import { isLoopbackHost } from '../core/net-policy.js'

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

/** Constant-time comparison of a presented token with the configured one. */
export function tokenMatches(presented: string | undefined, token: string): boolean {
  if (presented === undefined) return false
  return timingSafeEqual(digest(presented), digest(token))
}

/** The cookie the dashboard page sets after a `?token=` load, so its CSS, script and API calls carry it. */
export const TOKEN_COOKIE = 'viaduct_admin_token'

/** The Set-Cookie value for a token: HttpOnly, SameSite=Strict, the whole admin server. */
export function tokenCookie(token: string): string {
  return `${TOKEN_COOKIE}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict`
}

function cookieToken(header: string | undefined): string | undefined {
  if (!header) return undefined
  for (const part of header.split(';')) {
    const i = part.indexOf('=')
    if (i > 0 && part.slice(0, i).trim() === TOKEN_COOKIE) {
      try {
        return decodeURIComponent(part.slice(i + 1).trim())
      } catch {
        return undefined
      }
    }
  }
  return undefined
}

/**
 * The token a request presents: the Bearer credential, else the `token` query parameter, else the
 * dashboard's cookie. A malformed Authorization header presents nothing (it is not mixed with the rest).
 */
export function presentedToken(req: IncomingMessage, url: URL): string | undefined {
  const h = req.headers.authorization
  if (h) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h)
    return m ? m[1] : undefined
  }
  return url.searchParams.get('token') ?? cookieToken(req.headers.cookie)
}

/** The host part of a Host header: "127.0.0.1:8081" -> "127.0.0.1", "[::1]:8081" -> "::1". */
export function hostOfHeader(host: string): string {
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(host)
  if (v6) return v6[1]
  const i = host.lastIndexOf(':')
  return (i > 0 && !host.slice(0, i).includes(':') ? host.slice(0, i) : host).toLowerCase()
}

/** Without a token: is this Host header a loopback name or address? (No Host header: HTTP/1.0, allowed.) */
export function loopbackHostHeader(host: string | undefined): boolean {
  if (host === undefined || host === '') return true
  const h = hostOfHeader(host)
  return isLoopbackHost(h) || (isIP(h) === 4 && h.startsWith('127.'))
}
