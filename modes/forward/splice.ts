/**
 * Join a client socket and a target socket both ways, for every forward tunnel: HTTP CONNECT and upgrades
 * (http/tunnel.ts, http/upgrade.ts) and SOCKS CONNECT and BIND (socks/session.ts).
 *
 * - Bytes: client-to-target through pooled reads when the client socket can (pipePooled,
 *   src/core/user-buffer.ts), target-to-client through the target's ReadPump when it was dialled with one
 *   (http/read-pump.ts), `pipe` otherwise. Backpressure is theirs: a slow reader holds the writer back.
 * - Close rule (`onEnd`): 'close-both' (HTTP, RFC 9110 §9.3.6) or 'half-open' (SOCKS), see below.
 * - Idle: one timer on the core Clock compares the byte counters of both sockets every idleTimeoutMs; an
 *   unchanged count closes both with VIADUCT_ERR_SESSION_IDLE (so a ManualClock can drive it in tests).
 * - Outcome: one { reason, detail } once both sockets are closed: who ended first (CLIENT_CLOSED,
 *   TARGET_CLOSED), the error that ended it (a client error is CLIENT_CLOSED with the error code as detail;
 *   a target error is mapped with mapDialError), SESSION_IDLE, or the reason given to destroy().
 */
import type { Socket } from 'node:net'
import { unrefTimer, type Clock, type Timer } from '../../src/core/clock.js'
import { CoreErrors } from '../../src/core/errors.js'
import { CloseReason } from '../../src/core/ledger.js'
import { pipePooled } from '../../src/core/user-buffer.js'
import { mapDialError } from './dial.js'
import type { ReadPump } from './http/read-pump.js'

/** With onEnd 'close-both': after one side ended, how long the other may still flush before both are destroyed. */
export const GRACE_MS = 2000

/**
 * What happens when one side sends FIN.
 * - 'close-both': the tunnel closes. The other side gets what came before the FIN, then FIN; GRACE_MS
 *   later whatever is still open is destroyed, even when the other side never closes.
 * - 'half-open': only that direction closes; the side that sent FIN still receives what the other sends.
 *   Both directions ended: both sockets close.
 */
export type OnEnd = 'close-both' | 'half-open'

export interface SpliceOptions {
  onEnd: OnEnd
  /** The core clock: the idle check and the close-both grace run on it. */
  clock: Clock
  /** Close both when neither side moved a byte for this long (checked every idleTimeoutMs); 0 = never. */
  idleTimeoutMs: number
  /** For target error messages: "host:port". Default "target". */
  what?: string
  /** The pump `target` was dialled with (its `onread`): target-to-client bytes go through it, not pipe. */
  pump?: ReadPump
}

export interface SpliceOutcome {
  /** A CloseReason value or a VIADUCT_ERR_* code. */
  reason: string
  detail?: string
}

export interface SpliceHandle {
  /** End both sockets now (shutdown); the outcome still arrives once, with this reason unless one was set. */
  destroy(reason: string, detail?: string): void
  /** Resolves (never rejects) once both sockets are closed. */
  readonly done: Promise<SpliceOutcome>
}

type HalfOpenSocket = Socket & { allowHalfOpen: boolean }

export function splice(client: Socket, target: Socket, opts: SpliceOptions): SpliceHandle {
  const { clock } = opts
  let outcome: SpliceOutcome | undefined
  const settle = (reason: string, detail?: string) => {
    outcome ??= detail === undefined ? { reason } : { reason, detail }
  }
  const destroyBoth = () => {
    client.destroy()
    target.destroy()
  }

  if (opts.onEnd === 'half-open') {
    // Each direction ends its destination when its source ends; a socket that received FIN keeps writing.
    ;(client as HalfOpenSocket).allowHalfOpen = true
    ;(target as HalfOpenSocket).allowHalfOpen = true
  }

  client.on('error', (e: NodeJS.ErrnoException) => settle(CloseReason.CLIENT_CLOSED, `client: ${e.code ?? e.message}`))
  target.on('error', (e) => {
    const err = mapDialError(e, opts.what ?? 'target')
    settle(err.code, err.message)
  })

  let grace: Timer | undefined
  let ends = 0
  const onEndOf = (reason: string) => () => {
    settle(reason)
    if (++ends === 2) {
      // both directions ended: nothing more can move, close both once what is queued is written
      client.destroySoon()
      target.destroySoon()
      return
    }
    // RFC 9110 §9.3.6: "A tunnel is closed when a tunnel intermediary detects that either side has closed
    // its connection: the intermediary MUST attempt to send any outstanding data that came from the closed
    // side to the other side, close both connections, and then discard any remaining data left
    // undelivered." The outstanding data and the FIN go on through pipe / pipePooled / the pump (end());
    // the grace bounds the attempt, then what is left is discarded.
    if (opts.onEnd === 'close-both' && !grace) grace = unrefTimer(clock.setTimeout(destroyBoth, GRACE_MS))
  }
  client.once('end', onEndOf(CloseReason.CLIENT_CLOSED))
  target.once('end', onEndOf(CloseReason.TARGET_CLOSED))

  // client-to-target bytes: read into reused buffers when the client socket can (src/core/user-buffer.ts)
  if (!pipePooled(client, target)) client.pipe(target)
  if (opts.pump) opts.pump.attach(target, client)
  else target.pipe(client)

  let idle: Timer | undefined
  if (opts.idleTimeoutMs > 0) {
    const ms = opts.idleTimeoutMs
    const activity = () => client.bytesRead + client.bytesWritten + target.bytesRead + target.bytesWritten
    let last = activity()
    const check = () => {
      const now = activity()
      if (now === last) {
        settle(CoreErrors.VIADUCT_ERR_SESSION_IDLE, `no traffic for ${ms} ms`)
        return destroyBoth()
      }
      last = now
      idle = unrefTimer(clock.setTimeout(check, ms))
    }
    idle = unrefTimer(clock.setTimeout(check, ms))
  }

  const done = new Promise<SpliceOutcome>((resolve) => {
    let closed = 0
    const onClose = (self: Socket, other: Socket) => (hadError: boolean) => {
      // an abrupt end (an error, or closed without FIN) ends the other side now
      if (hadError || !self.readableEnded) other.destroy()
      else if (opts.onEnd === 'close-both' && !other.destroyed) {
        // the closed side is gone: the other gets what is queued, then FIN (the grace runs since the FIN)
        other.end()
      }
      if (++closed < 2) return
      clock.clearTimeout(idle)
      clock.clearTimeout(grace)
      resolve(outcome ?? { reason: CloseReason.CLIENT_CLOSED })
    }
    client.once('close', onClose(client, target))
    target.once('close', onClose(target, client))
  })

  client.resume()
  return {
    done,
    destroy(reason, detail) {
      settle(reason, detail)
      destroyBoth()
    },
  }
}
