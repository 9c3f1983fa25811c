/**
 * Splice two stream peers (TCP sockets or WebSocket streams) after pairing, without looking at the
 * bytes: every chunk read from one is written to the other; when the other's write buffer is full the
 * reader is paused until 'drain' (a slow receiver slows the sender; at most one chunk per direction is
 * held beyond the socket's high-water mark). An end from one side half-closes the other; an error or an
 * abrupt close resets the other side and ends the pairing with VIADUCT_ERR_PAIR_PEER_RESET. Bytes are
 * counted per chunk, which also enforces the byte limit exactly.
 */
import type { Duplex } from 'node:stream'
import { CloseReason } from '../../../src/core/ledger.js'
import { PairErrors } from './errors.js'
import { readIntoPool, userBufferReads } from '../../../src/core/user-buffer.js'

/** One side of a splice. */
export interface SpliceEnd {
  readonly stream: Duplex
  /** "ip:port" for details. */
  readonly address: string
  /**
   * Close this side because of `code`. graceful: flush what was written, then close (limits);
   * otherwise reset now (the other side reset, shutdown).
   */
  terminate(code: string, graceful: boolean): void
  /**
   * Whether the side closed normally (default: it ended its sending and we finished ours). A WebSocket
   * closes as a whole, so its close code decides.
   */
  cleanClose?(): boolean
}

export interface SpliceOptions {
  /** Bytes both ways together; 0 = unlimited. */
  maxBytes: number
  /** Counted bytes: 'up' = A to B, 'down' = B to A. */
  onBytes(dir: 'up' | 'down', n: number): void
  /** Called once when both sides are closed, with the reason. */
  onEnd(reason: string, detail?: string): void
}

export class Splice {
  private total = 0
  private reason: string | undefined
  private detail: string | undefined
  private firstEnd: 'a' | 'b' | undefined
  private closed = { a: false, b: false }
  private ended = false

  constructor(
    readonly a: SpliceEnd,
    readonly b: SpliceEnd,
    private readonly opts: SpliceOptions,
  ) {}

  /** Start pumping. `headA`/`headB`: bytes each side sent before pairing (after its hello). */
  start(headA?: Buffer, headB?: Buffer): void {
    this.wire(this.a, this.b, 'up', 'a')
    this.wire(this.b, this.a, 'down', 'b')
    if (headA?.length) this.forward(headA, this.a, this.b, 'up')
    if (headB?.length) this.forward(headB, this.b, this.a, 'down')
    this.a.stream.resume()
    this.b.stream.resume()
  }

  /** End the pairing now with `code` (duration or idle limit, shutdown). */
  stop(code: string, detail?: string, graceful = false): void {
    if (this.reason === undefined) {
      this.reason = code
      this.detail = detail
    }
    this.a.terminate(code, graceful)
    this.b.terminate(code, graceful)
  }

  get bytes(): number {
    return this.total
  }

  private wire(src: SpliceEnd, dst: SpliceEnd, dir: 'up' | 'down', name: 'a' | 'b'): void {
    const s = src.stream
    // what the socket buffered before pairing still comes as 'data'
    s.on('data', (chunk: Buffer) => this.forward(chunk, src, dst, dir))
    // new reads of a plain TCP socket go into reused buffers (user-buffer.ts: half the CPU per GiB)
    if (userBufferReads(s)) readIntoPool(s, (chunk, release) => this.forward(chunk, src, dst, dir, release))
    s.on('end', () => {
      // A WebSocket's stream ends first and closes after; its close code (already known here) tells a
      // normal end from a dropped connection, which must reset the other side, not half-close it.
      if (src.cleanClose && !src.cleanClose()) {
        if (this.reason === undefined) {
          this.reason = PairErrors.VIADUCT_ERR_PAIR_PEER_RESET
          this.detail = `${src.address} closed abruptly`
        }
        if (!dst.stream.destroyed) dst.terminate(this.reason, false)
        return
      }
      this.firstEnd ??= name
      if (!dst.stream.destroyed && !dst.stream.writableEnded) dst.stream.end()
    })
    s.on('error', (err: NodeJS.ErrnoException) => {
      if (this.reason === undefined) {
        this.reason = PairErrors.VIADUCT_ERR_PAIR_PEER_RESET
        this.detail = `${src.address}: ${err.code ?? err.message}`
      }
    })
    s.on('close', () => {
      this.closed[name] = true
      const cleanEnd = src.cleanClose ? src.cleanClose() : s.readableEnded && s.writableFinished
      if (!cleanEnd && this.reason === undefined) {
        this.reason = PairErrors.VIADUCT_ERR_PAIR_PEER_RESET
        this.detail = `${src.address} closed abruptly`
      }
      if (!cleanEnd || this.reason !== undefined) {
        if (!dst.stream.destroyed) dst.terminate(this.reason ?? PairErrors.VIADUCT_ERR_PAIR_PEER_RESET, this.reason === PairErrors.VIADUCT_ERR_PAIR_BYTES_LIMIT)
      }
      this.maybeEnd()
    })
  }

  /** `release`: the chunk's pooled buffer may be reused (called once the write finished, or now if none). */
  private forward(chunk: Buffer, src: SpliceEnd, dst: SpliceEnd, dir: 'up' | 'down', release?: () => void): void {
    if (this.reason !== undefined) return release?.()
    let c = chunk
    let limitHit = false
    if (this.opts.maxBytes > 0) {
      const left = this.opts.maxBytes - this.total
      if (c.length >= left) {
        c = c.subarray(0, left)
        limitHit = true
      }
    }
    this.total += c.length
    if (c.length) this.opts.onBytes(dir, c.length)
    if (dst.stream.destroyed || dst.stream.writableEnded) return release?.()
    let ok = true
    if (!c.length) release?.()
    else ok = release ? dst.stream.write(c, release) : dst.stream.write(c)
    if (limitHit) {
      this.stop(PairErrors.VIADUCT_ERR_PAIR_BYTES_LIMIT, `${this.opts.maxBytes} bytes`, true)
      return
    }
    if (!ok && !src.stream.isPaused()) {
      src.stream.pause()
      dst.stream.once('drain', () => {
        if (!src.stream.destroyed) src.stream.resume()
      })
    }
  }

  private maybeEnd(): void {
    if (this.ended || !this.closed.a || !this.closed.b) return
    this.ended = true
    const reason = this.reason ?? (this.firstEnd === 'b' ? CloseReason.TARGET_CLOSED : CloseReason.CLIENT_CLOSED)
    this.opts.onEnd(reason, this.detail)
  }
}
