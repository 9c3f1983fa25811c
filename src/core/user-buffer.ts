/**
 * Read an accepted TCP socket into a few reused buffers instead of one new 64 KiB buffer per read.
 *
 * Why: node allocates a fresh buffer for every read of a socket; the garbage collector frees them in
 * batches of tens of MiB, glibc hands the top of its heap back to the kernel and takes it again on the next
 * reads, so every relayed byte also costs a page fault and a page clear. The pairing relay spent about
 * twice the CPU per GiB of a 20-line node `pipe` relay (docs/benchmarks-relay.md). The forward proxy reads
 * the sockets it dials through net.connect's `onread` option (modes/forward/http/read-pump.ts); both sides
 * of a pairing are accepted sockets, which node creates without that option. Node keeps `onread`'s state in
 * three symbols on the socket (kBuffer, kBufferCb, kBufferGen) and reads into that buffer once the handle
 * is told to (`useUserBuffer`). The symbols are taken from a probe socket made with `onread`; if this node
 * does not have them, `userBufferReads` says so and the caller keeps 'data' events.
 *
 * Used by the pairing relay (both sides) and by forward tunnels for client-to-target bytes (pipePooled):
 * SOCKS5 uploads cost about 2.5x the CPU per GiB of a plain node relay with `pipe`.
 *
 * Backpressure is the caller's: it pauses the socket (pause() stops the handle reading in this mode) when
 * the other side's write buffer is full. A buffer is reused only after the write that carried it finished,
 * so the pool holds only the buffers in flight (a few, bounded by that pause).
 */
import { Socket } from 'node:net'

/** First buffer of a socket: small, so 1,000 quiet pairings hold little. */
export const FIRST_BUFFER = 4 * 1024
/** Buffers grow to this (what node uses per read) once reads fill them: a bulk transfer. */
export const MAX_BUFFER = 64 * 1024

interface OnreadSymbols {
  buffer: symbol
  callback: symbol
  generator: symbol
}

function findSymbols(): OnreadSymbols | undefined {
  try {
    const opts = { onread: { buffer: Buffer.alloc(1), callback: () => true } }
    const probe = new Socket(opts as ConstructorParameters<typeof Socket>[0])
    const syms = Object.getOwnPropertySymbols(probe)
    const by = (d: string) => syms.find((s) => s.description === d)
    const buffer = by('kBuffer')
    const callback = by('kBufferCb')
    const generator = by('kBufferGen')
    probe.destroy()
    return buffer && callback && generator ? { buffer, callback, generator } : undefined
  } catch {
    return undefined
  }
}

const SYMBOLS = findSymbols()

type Handle = { useUserBuffer?: (buf: Uint8Array) => void }

/** True when `s` is a plain TCP socket (not TLS, not a WebSocket stream) and this node supports the switch. */
export function userBufferReads(s: unknown): s is Socket {
  if (!SYMBOLS || !(s instanceof Socket) || Object.getPrototypeOf(s) !== Socket.prototype) return false
  const h = (s as unknown as { _handle?: Handle })._handle
  return typeof h?.useUserBuffer === 'function' && !s.destroyed
}

/**
 * Switch `s` (checked with userBufferReads) to reads into pooled buffers. `onChunk` gets each read as a
 * view of a pooled buffer and must call `release` once that view is no longer needed (after its write
 * completed); until then the buffer is not reused. The socket emits no more 'data' events for new reads
 * (what it had buffered before still comes as 'data'); 'end', 'error' and 'close' are unchanged.
 */
export function readIntoPool(s: Socket, onChunk: (chunk: Buffer, release: () => void) => void): void {
  const syms = SYMBOLS!
  const free: Buffer[] = []
  let size = FIRST_BUFFER
  const take = (): Buffer => {
    for (;;) {
      const b = free.pop()
      if (!b) return Buffer.allocUnsafeSlow(size)
      if (b.length === size) return b
      // a smaller buffer from before the pool grew: let it go
    }
  }
  const first = take()
  const wasPaused = s.isPaused()
  const o = s as unknown as Record<symbol, unknown>
  o[syms.buffer] = first
  o[syms.callback] = (n: number, buf: Buffer) => {
    if (n === buf.length && size < MAX_BUFFER) size = Math.min(MAX_BUFFER, size * 4)
    onChunk(buf.subarray(0, n), () => free.push(buf))
    return true
  }
  o[syms.generator] = take
  // With kBuffer set, pause() stops the handle reading (so no read lands in the new buffer before what
  // the socket already buffered has been emitted); resume() starts it again.
  s.pause()
  ;(s as unknown as { _handle: Handle })._handle.useUserBuffer!(first)
  if (!wasPaused) s.resume()
}

/**
 * `src.pipe(dst)` (backpressure, 'end' passed on as dst.end(), src set flowing) with src read into pooled
 * buffers. Returns false, doing nothing, when src cannot (userBufferReads): the caller pipes. What src had
 * buffered before the switch is written first, in order; a chunk arriving once dst is ended or destroyed is
 * dropped (pipe unpipes then too).
 */
export function pipePooled(src: Socket, dst: Socket): boolean {
  if (!userBufferReads(src)) return false
  const write = (chunk: Buffer, release?: () => void) => {
    if (dst.destroyed || dst.writableEnded) return release?.()
    const ok = release ? dst.write(chunk, () => release()) : dst.write(chunk)
    if (!ok && !src.isPaused()) {
      src.pause()
      dst.once('drain', () => {
        if (!src.destroyed) src.resume()
      })
    }
  }
  // what src buffered before the switch still comes as 'data', ahead of the pooled reads
  src.on('data', (chunk: Buffer) => write(chunk))
  readIntoPool(src, write)
  src.once('end', () => {
    if (!dst.writableEnded) dst.end()
  })
  src.resume()
  return true
}
