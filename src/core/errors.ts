/**
 * One error class for the whole gateway, with stable codes.
 *
 * A code (`VIADUCT_ERR_<AREA>_<WHAT>`) never changes once released; its message may. A protocol error
 * carries its wire mapping (HTTP status, SOCKS reply, STUN error code, pairing status) so that only the
 * session turns it into bytes. Every code has a row in docs/errors.md; test/unit/errors-doc.test.ts
 * fails when the code tables and the document disagree.
 */

/** How an error maps onto each wire protocol that can report it. */
export interface WireMapping {
  /** HTTP status for the HTTP proxy and the admin API. */
  http?: number
  /** SOCKS5 reply code (RFC 1928 §6). */
  socks5?: number
  /** SOCKS4 reply code (0x5B..0x5D). */
  socks4?: number
  /** STUN/TURN ERROR-CODE (RFC 8489 §14.8). */
  stun?: number
  /** Pairing protocol refusal status (docs/relay-protocol.md). */
  pairing?: number
}

/**
 * What a session that closed with a code counts as (metrics, log level, dashboard):
 * - 'refusal' (the default): the gateway refused a request (access, authentication, limits, bad input);
 * - 'failure': something beyond the gateway failed (a target unreachable, a peer reset, an upstream error);
 * - 'ending': a limit or timeout ended a session that had worked (idle, a UDP mapping expired, shutdown).
 * Normal close reasons (client_closed, ...) are 'normal'.
 */
export type CloseKind = 'normal' | 'ending' | 'refusal' | 'failure'

export interface ErrorSpec extends WireMapping {
  /** Default message; a thrower may give a more specific one. */
  message: string
  /** As a close reason: 'refusal' unless said otherwise. */
  kind?: Exclude<CloseKind, 'normal'>
}

export type ErrorTable = Readonly<Record<string, ErrorSpec>>

const registry = new Map<string, ErrorSpec>()

/**
 * Declare a table of codes. Each area (core, config, a mode) calls this once at module load with its
 * own codes; a code declared twice is a programming error and throws at start.
 */
export function defineErrors<T extends Record<string, ErrorSpec>>(table: T): { readonly [K in keyof T]: K } {
  const codes = {} as { [K in keyof T]: K }
  for (const [code, spec] of Object.entries(table)) {
    if (!/^VIADUCT_ERR_[A-Z0-9]+_[A-Z0-9_]+$/.test(code)) throw new Error(`bad error code name ${code}`)
    const prev = registry.get(code)
    if (prev && prev !== spec) throw new Error(`error code ${code} declared twice`)
    registry.set(code, spec)
    ;(codes as Record<string, string>)[code] = code
  }
  return codes
}

/** Every code declared so far (the docs test imports every table first). */
export function registeredErrors(): ReadonlyMap<string, ErrorSpec> {
  return registry
}

export function errorSpec(code: string): ErrorSpec | undefined {
  return registry.get(code)
}

/** What a close reason counts as: normal for a non-code reason, else its code's kind (refusal by default). */
export function closeKind(reason: string | undefined): CloseKind {
  if (!reason?.startsWith('VIADUCT_ERR_')) return 'normal'
  return registry.get(reason)?.kind ?? 'refusal'
}

export class ViaductError extends Error {
  readonly code: string
  readonly wire: WireMapping
  /** Extra structured facts for logs (never secrets). */
  readonly details?: Record<string, unknown>

  constructor(code: string, message?: string, options?: { cause?: unknown; details?: Record<string, unknown>; wire?: WireMapping }) {
    const spec = registry.get(code)
    super(message ?? spec?.message ?? code, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'ViaductError'
    this.code = code
    const { message: _m, ...wire } = spec ?? { message: '' }
    this.wire = { ...wire, ...options?.wire }
    if (options?.details) this.details = options.details
  }
}

export function isViaductError(err: unknown, code?: string): err is ViaductError {
  return err instanceof ViaductError && (code === undefined || err.code === code)
}

/** The core's own codes: configuration, listeners and lifecycle. */
export const CoreErrors = defineErrors({
  VIADUCT_ERR_CONFIG_INVALID: { message: 'the configuration is invalid' },
  VIADUCT_ERR_CONFIG_FILE: { message: 'the configuration file cannot be read or parsed' },
  VIADUCT_ERR_CONFIG_UNSAFE: { message: 'the configuration would run an open proxy or relay on a public address' },
  VIADUCT_ERR_LISTEN_IN_USE: { message: 'the address is already in use' },
  VIADUCT_ERR_LISTEN_DENIED: { message: 'permission denied to listen on the address' },
  VIADUCT_ERR_LISTEN_ADDRESS: { message: 'the listen address is not available on this machine' },
  VIADUCT_ERR_LISTEN_FAILED: { message: 'the listener could not start' },
  VIADUCT_ERR_CLI_USAGE: { message: 'bad command-line usage' },
  VIADUCT_ERR_SESSION_SHUTDOWN: { message: 'the gateway is shutting down', kind: 'ending' },
  VIADUCT_ERR_SESSION_LIMIT: { message: 'too many concurrent sessions', http: 503, socks5: 0x01, socks4: 0x5b, stun: 486, pairing: 12 },
  VIADUCT_ERR_SESSION_IDLE: { message: 'the session was idle for too long', kind: 'ending' },
})
