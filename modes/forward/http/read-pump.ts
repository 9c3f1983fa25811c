/**
 * Target-to-client bytes of a tunnel (CONNECT, SOCKS CONNECT) read into a few reused buffers instead of one
 * new 64 KiB buffer per read.
 *
 * Why: with `pipe`, node allocates a fresh buffer for every read and the garbage collector frees them in
 * batches of tens of MiB; glibc then hands the top of its heap back to the kernel and takes it again on
 * the next reads, so every relayed byte also costs a page fault and a page clear. Profiling a CONNECT
 * download showed the relay spending about twice the CPU per GiB of a plain node relay for this reason
 * (docs/benchmarks-forward.md). net.connect's `onread` lets the socket read into buffers we own: a small
 * pool per tunnel, each buffer handed back once the client socket has flushed it.
 *
 * Backpressure: at most MAX_IN_FLIGHT buffers wait to be written to the client; then the target socket stops
 * reading until one write completes, so a slow reader holds the target back (the same bound as `pipe`, a
 * few buffers). Before the tunnel is attached (while the proxy still answers its client), what the target
 * sends first (an SSH or SMTP banner) is copied aside and reading stops until attach.
 *
 * Only sockets created with `onread` (ours, dialled directly) can do this; splice code falls back to `pipe`
 * when `attached` is false on a socket the pump never saw.
 */
import type { Socket } from 'node:net'

/** First buffer of a tunnel: small, so 1,000 idle tunnels hold little. */
export const FIRST_BUFFER = 4 * 1024
/** Buffers grow to this when reads fill them (a bulk transfer). */
export const MAX_BUFFER = 64 * 1024
/** Buffers written to the client but not yet flushed, before the target is paused. */
export const MAX_IN_FLIGHT = 4

export interface OnRead {
  buffer: () => Uint8Array
  callback: (bytes: number, buf: Uint8Array) => boolean
}

export class ReadPump {
  /** Pass as net.connect's `onread`. */
  readonly onread: OnRead
  /** True once a socket read through this pump (so it was created with `onread`). */
  used = false
  private size = FIRST_BUFFER
  private readonly free: Buffer[] = []
  private inFlight = 0
  private src: Socket | undefined
  private dest: Socket | undefined
  /** Copies of what arrived before attach (reading stops after the first). */
  private early: Buffer[] = []
  private waiting = false

  constructor() {
    this.onread = {
      buffer: () => this.next(),
      callback: (n, buf) => this.onData(n, buf as Buffer),
    }
  }

  /** Start moving target bytes to `dest`; `src` is the socket created with this pump's `onread`. */
  attach(src: Socket, dest: Socket): void {
    this.src = src
    this.dest = dest
    for (const b of this.early) dest.write(b)
    this.early = []
    src.once('end', () => dest.end())
    // flowing, so 'end' is emitted (no 'data' events come in onread mode)
    src.resume()
  }

  private next(): Buffer {
    for (;;) {
      const b = this.free.pop()
      if (!b) return Buffer.allocUnsafeSlow(this.size)
      if (b.length === this.size) return b
      // a smaller buffer from before the pool grew: let it go
    }
  }

  private onData(n: number, buf: Buffer): boolean {
    this.used = true
    if (n === buf.length && this.size < MAX_BUFFER) this.size = Math.min(MAX_BUFFER, this.size * 4)
    const dest = this.dest
    if (!dest) {
      // not attached yet: keep a copy, stop reading until attach
      this.early.push(Buffer.from(buf.subarray(0, n)))
      this.free.push(buf)
      return false
    }
    this.inFlight++
    dest.write(buf.subarray(0, n), () => {
      // flushed (or failed: the socket is gone either way): the buffer is ours again
      this.inFlight--
      this.free.push(buf)
      if (this.waiting && this.inFlight < MAX_IN_FLIGHT) {
        this.waiting = false
        if (!this.src!.destroyed) this.src!.resume()
      }
    })
    if (this.inFlight >= MAX_IN_FLIGHT) {
      this.waiting = true
      this.src!.pause()
    }
    return true
  }
}
