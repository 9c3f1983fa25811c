/**
 * Join a client socket and a target socket both ways, with backpressure (pipe, or pooled reads from
 * src/core/user-buffer.ts), half-close passed on in each direction, an idle timeout on the clock, and one
 * outcome once both sockets are closed.
 */
import type { Socket } from 'node:net'
import type { Clock, Timer } from '../../../src/core/clock.js'
import { CoreErrors, ViaductError } from '../../../src/core/errors.js'
import { CloseReason } from '../../../src/core/ledger.js'
import { pipePooled } from '../../../src/core/user-buffer.js'
import { mapDialError } from '../dial.js'
import type { ReadPump } from '../http/read-pump.js'

export interface SpliceOutcome {
  /** A CloseReason value or a VIADUCT_ERR_* code. */
  reason: string
  detail?: string
}

export interface SpliceHandle {
  /** End both sockets now (shutdown); the outcome still arrives once. */
  destroy(reason: string, detail?: string): void
  readonly done: Promise<SpliceOutcome>
}

/** `pump`: the ReadPump `target` was dialled with (its `onread`); target-to-client bytes then go through it. */
export function splice(client: Socket, target: Socket, opts: { clock: Clock; idleTimeoutMs: number; pump?: ReadPump }): SpliceHandle {
  let outcome: SpliceOutcome | undefined
  const settle = (o: SpliceOutcome) => {
    outcome ??= o
  }
  // Each direction ends its destination when its source ends; a socket that received FIN keeps writing.
  ;(client as Socket & { allowHalfOpen: boolean }).allowHalfOpen = true
  ;(target as Socket & { allowHalfOpen: boolean }).allowHalfOpen = true
  client.on('end', () => settle({ reason: CloseReason.CLIENT_CLOSED }))
  target.on('end', () => settle({ reason: CloseReason.TARGET_CLOSED }))
  client.on('error', (err: NodeJS.ErrnoException) => {
    settle({ reason: CloseReason.CLIENT_CLOSED, detail: err.code ?? err.message })
    target.destroy()
  })
  target.on('error', (err) => {
    const e = mapDialError(err, 'target')
    settle({ reason: e.code, detail: e.message })
    client.destroy()
  })
  // client-to-target bytes: read into reused buffers when the client socket can (src/core/user-buffer.ts)
  if (!pipePooled(client, target)) client.pipe(target)
  if (opts.pump) opts.pump.attach(target, client)
  else target.pipe(client)

  let timer: Timer | undefined
  let last = -1
  const activity = () => client.bytesRead + client.bytesWritten + target.bytesRead + target.bytesWritten
  const check = () => {
    const now = activity()
    if (now === last) {
      const e = new ViaductError(CoreErrors.VIADUCT_ERR_SESSION_IDLE, `no traffic for ${opts.idleTimeoutMs} ms`)
      settle({ reason: e.code, detail: e.message })
      client.destroy()
      target.destroy()
      return
    }
    last = now
    timer = opts.clock.setTimeout(check, opts.idleTimeoutMs)
  }
  if (opts.idleTimeoutMs > 0) check()

  let closed = 0
  const done = new Promise<SpliceOutcome>((resolve) => {
    const onClose = () => {
      if (++closed < 2) return
      opts.clock.clearTimeout(timer)
      resolve(outcome ?? { reason: CloseReason.CLIENT_CLOSED })
    }
    client.once('close', onClose)
    target.once('close', onClose)
  })
  // a fully half-closed pair: both directions ended, so close both
  let ends = 0
  const onEnd = () => {
    if (++ends === 2) {
      client.destroySoon()
      target.destroySoon()
    }
  }
  client.once('end', onEnd)
  target.once('end', onEnd)
  return {
    done,
    destroy(reason, detail) {
      settle({ reason, detail })
      client.destroy()
      target.destroy()
    },
  }
}
