/**
 * Structured logging: pino, one event schema for every mode.
 *
 * Every line has `time`, `level`, `event` and `msg`; session lines add `mode`, `protocol`, `session`,
 * `client`, `target` or `peer`, `bytesUp`, `bytesDown`, `reason`. Modes log through child loggers that
 * carry `{ mode }` (and `{ session }` per session). When stdout is a terminal the output is pino-pretty's
 * one line per event; otherwise newline-delimited JSON.
 */
import { pino, type Logger, type LevelWithSilent, type DestinationStream } from 'pino'
import pretty from 'pino-pretty'
import type { Ledger, SessionRecord } from './ledger.js'
import { closeKind } from './errors.js'

export type { Logger }

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

export interface LogOptions {
  level?: LevelWithSilent
  /** Pretty one-line output; default: when stdout is a TTY. */
  pretty?: boolean
  /** Where to write (tests pass a stream). Default stdout. */
  destination?: DestinationStream | NodeJS.WritableStream
}

export function createLogger(opts: LogOptions = {}): Logger {
  const level = opts.level ?? 'info'
  const base = { level, base: { app: 'viaduct' }, timestamp: pino.stdTimeFunctions.isoTime }
  const usePretty = opts.pretty ?? (opts.destination === undefined && process.stdout.isTTY === true)
  if (usePretty) {
    return pino(
      base,
      pretty({
        sync: true,
        colorize: true,
        translateTime: 'HH:MM:ss.l',
        ignore: 'pid,hostname,app',
        singleLine: true,
        destination: (opts.destination as NodeJS.WritableStream | undefined) ?? 1,
      }),
    )
  }
  return pino(base, (opts.destination as DestinationStream | undefined) ?? pino.destination({ dest: 1, sync: false }))
}

/** A logger that writes nothing (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}

/** The fields every session log line carries, from a ledger record. */
export function sessionFields(r: SessionRecord): Record<string, unknown> {
  const f: Record<string, unknown> = {
    session: r.id,
    mode: r.mode,
    protocol: r.protocol,
    client: r.client,
  }
  if (r.listener) f.listener = r.listener
  if (r.target) f.target = r.target
  if (r.peer) f.peer = r.peer
  if (r.user) f.user = r.user
  if (r.method) f.method = r.method
  if (r.status) f.status = r.status
  // which rule admitted the session, where a mode records it (SOCKS4: name:password or ident only)
  if (r.meta?.auth !== undefined) f.auth = r.meta.auth
  if (r.state === 'closed') {
    f.bytesUp = r.bytesUp
    f.bytesDown = r.bytesDown
    f.durationMs = r.durationMs
    f.reason = r.reason
    if (r.detail) f.detail = r.detail
  }
  return f
}

/**
 * Log every session's open and close from the ledger, in one place, so all modes share one schema.
 * Opens are debug (a busy proxy opens thousands a second), closes are info; refusals and failures are
 * warn; endings by a limit or timeout (idle, a UDP mapping that expired) are info (core/errors.ts CloseKind).
 */
export function logLedger(ledger: Ledger, log: Logger): () => void {
  // Build the fields only when the line will be written: a busy proxy closes thousands of sessions a second.
  const onOpen = (r: SessionRecord) => {
    if (log.isLevelEnabled('debug')) log.debug({ event: 'session.open', ...sessionFields(r) }, 'session open')
  }
  const onClose = (r: SessionRecord) => {
    const kind = closeKind(r.reason)
    const warn = kind === 'refusal' || kind === 'failure'
    if (!log.isLevelEnabled(warn ? 'warn' : 'info')) return
    const fields = { event: 'session.close', kind, ...sessionFields(r) }
    if (warn) log.warn(fields, `session ${kind === 'refusal' ? 'refused' : 'failed'}: ${r.reason}${r.detail ? ` (${r.detail})` : ''}`)
    else if (kind === 'ending') log.info(fields, `session ended: ${r.reason}${r.detail ? ` (${r.detail})` : ''}`)
    else log.info(fields, 'session closed')
  }
  // With debug off, no 'open' listener: the ledger then skips building an open snapshot altogether.
  if (log.isLevelEnabled('debug')) ledger.on('open', onOpen)
  ledger.on('close', onClose)
  return () => {
    ledger.off('open', onOpen)
    ledger.off('close', onClose)
  }
}
