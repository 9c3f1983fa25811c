/**
 * What the two upstream clients of plain forwarding share (forward.ts sends requests with a body through
 * node's client, dispatch.ts the bodiless ones through undici): the error mapping, which methods may be
 * sent again, and how the upstream is named in messages.
 */
import { ViaductError, isViaductError } from '../../../src/core/errors.js'
import { mapDialError, type HttpUpstream } from '../dial.js'
import { HttpErrors } from './errors.js'
import type { HttpTarget } from './target.js'

/** RFC 9110 §9.2.2: the idempotent methods, which a client (or proxy) may send again after a failure. */
export const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])

/** "host[:port]" of the origin, or the upstream proxy and the URL sent to it, for error details. */
export function upstreamName(t: HttpTarget, up: HttpUpstream | undefined): string {
  return up ? `upstream proxy ${up.host}:${up.port} for ${t.url}` : t.hostHeader
}

/** Map an error of the upstream request (before or during the response) to a forward error. */
export function upstreamError(err: unknown, what: string): ViaductError {
  if (isViaductError(err)) return err
  const code = (err as NodeJS.ErrnoException)?.code ?? ''
  if (code.startsWith('HPE_')) return new ViaductError(HttpErrors.VIADUCT_ERR_HTTP_BAD_RESPONSE, `${what}: ${(err as Error).message}`, { cause: err })
  return mapDialError(err, what)
}
