/**
 * Splice two sockets both ways with backpressure (pipe, or for client-to-target bytes pooled reads
 * (src/core/user-buffer.ts) and for target-to-client bytes the target's ReadPump), half-close passed on,
 * an idle timeout, and one close reason: who ended first, or the error that ended it.
 */
import type { Socket } from 'node:net'
import { CoreErrors } from '../../../src/core/errors.js'
import { CloseReason } from '../../../src/core/ledger.js'
import { pipePooled } from '../../../src/core/user-buffer.js'
import { mapDialError } from '../dial.js'
import type { ReadPump } from './read-pump.js'

/** After one side closed gracefully, how long the other may still flush before it is destroyed. */
export const GRACE_MS = 2000

export interface SpliceOptions {
  /** Close both when neither side moved a byte for this long; 0 = never. */
  idleMs: number
  /** For error messages: "host:port". */
  what: string
  /** The pump `target` was dialled with (its `onread`): target-to-client bytes go through it, not pipe. */
  pump?: ReadPump
}

/** Resolves (never rejects) with the close reason and detail once both sockets are closed. */
export function splice(client: Socket, target: Socket, opts: SpliceOptions): Promise<{ reason: string; detail?: string }> {
  return new Promise((resolve) => {
    let reason: string | undefined
    let detail: string | undefined
    let closed = 0
    const set = (r: string, d?: string) => {
      reason ??= r
      detail ??= d
    }
    const onClose = (self: Socket, other: Socket) => (hadError: boolean) => {
      // an abrupt end on one side ends the other now; a graceful one was passed on by pipe or pipePooled (end)
      if (hadError || !self.readableEnded) other.destroy()
      else if (!other.destroyed) {
        // the other side gets what is queued, then goes: nobody is left to receive what it would still send
        other.end()
        setTimeout(() => other.destroy(), GRACE_MS).unref()
      }
      if (++closed === 2) resolve({ reason: reason ?? CloseReason.CLIENT_CLOSED, detail })
    }
    client.on('error', (e: NodeJS.ErrnoException) => set(CloseReason.CLIENT_CLOSED, `client: ${e.code ?? e.message}`))
    target.on('error', (e) => {
      const err = mapDialError(e, opts.what)
      set(err.code, err.message)
    })
    client.once('end', () => set(CloseReason.CLIENT_CLOSED))
    target.once('end', () => set(CloseReason.TARGET_CLOSED))
    client.once('close', onClose(client, target))
    target.once('close', onClose(target, client))
    if (opts.idleMs > 0) {
      const idle = () => {
        set(CoreErrors.VIADUCT_ERR_SESSION_IDLE, `no traffic for ${opts.idleMs} ms`)
        client.destroy()
        target.destroy()
      }
      client.setTimeout(opts.idleMs, idle)
      target.setTimeout(opts.idleMs, idle)
    }
    // client-to-target bytes: read into reused buffers when the client socket can (src/core/user-buffer.ts)
    if (!pipePooled(client, target)) client.pipe(target)
    if (opts.pump) opts.pump.attach(target, client)
    else target.pipe(client)
    client.resume()
  })
}
