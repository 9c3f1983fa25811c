/**
 * Byte counting at the socket or datagram edge.
 *
 * A stream socket already counts what crossed it, so a meter reads those counters instead of listening to
 * 'data' (which would fight with pipe() and with node:http, which consumes the socket handle directly). A
 * meter remembers the counters at the moment it was attached, so one socket can be accounted to several
 * sessions in turn (HTTP keep-alive: one session per request). Datagram edges count by hand with the
 * session's `add()`.
 *
 * What the counts mean (docs/architecture.md "Sessions and bytes"):
 * - bytes up (read) = bytes Node read from the kernel for this socket: `socket.bytesRead`.
 * - bytes down (written) = bytes handed to the kernel: what Node's write completed, never what is still
 *   queued in the stream's buffer. Node's own `socket.bytesWritten` counts queued bytes too, and drops them
 *   again when a destroyed socket discards its queue: a client that reset a tunnel with megabytes queued
 *   made the count go backwards, and the negative increment crashed the metrics (issue 16). `sentBytes()`
 *   subtracts what is still queued (`writableLength`). Once the socket is closed nothing is queued any
 *   more and the count is every byte Node dispatched (a write the kernel had not finished when a reset
 *   cancelled it is counted; nothing later is).
 * Both are monotonic by construction as well: a meter never returns less than it returned before.
 */

/** Anything with socket-style counters: net.Socket, tls.TLSSocket, a ws WebSocket's underlying socket. */
export interface CountingSocket {
  readonly bytesRead: number
  readonly bytesWritten: number
  /** Bytes still queued in the stream (a Writable's `writableLength`); absent = nothing queued. */
  readonly writableLength?: number
}

/** Bytes of a socket handed to the kernel so far (`bytesWritten` without what is still queued). */
export function sentBytes(socket: CountingSocket): number {
  const n = safe(socket.bytesWritten) - safe(socket.writableLength)
  return n > 0 ? n : 0
}

/** Bytes read from a socket so far. */
export function receivedBytes(socket: CountingSocket): number {
  return safe(socket.bytesRead)
}

export interface Meter {
  /** Bytes counted so far, up = from the client (or peer A), down = to the client (or from peer B). */
  up(): number
  down(): number
  /** Stop following the socket; later reads return the last value. */
  freeze(): void
}

/**
 * Follow a socket's counters. `role: 'client'` means bytes read from the socket are "up" (client to
 * target) and bytes written to it are "down". `role: 'target'` is the mirror image, for the far side of a
 * relay pairing where what we read from peer B goes down to peer A. `fromStart`: count from the socket's
 * first byte, not from now (a session that owns the whole connection, such as SOCKS on the mixed port,
 * whose first bytes were read to sniff the protocol before the session opened).
 */
export function socketMeter(socket: CountingSocket, role: 'client' | 'target' = 'client', fromStart = false): SocketMeter {
  return new SocketMeter(socket, role, fromStart)
}

/**
 * A socket meter as a class with number fields: the ledger opens one per HTTP request, so it avoids the
 * closures and result objects a busy proxy would allocate for every request. `up()` and `down()` each read
 * one counter (node's `bytesWritten` getter copies the socket's write queue, so it is read only when needed).
 */
export class SocketMeter implements Meter {
  private readonly baseRead: number
  private readonly baseWritten: number
  private frozen = false
  /** The highest values returned so far (and the final ones once frozen). */
  private lastRead = 0
  private lastWritten = 0

  constructor(
    private readonly socket: CountingSocket,
    private readonly role: 'client' | 'target',
    fromStart = false,
  ) {
    this.baseRead = fromStart ? 0 : receivedBytes(socket)
    this.baseWritten = fromStart ? 0 : sentBytes(socket)
  }

  private readDelta(): number {
    if (!this.frozen) {
      const n = receivedBytes(this.socket) - this.baseRead
      if (n > this.lastRead) this.lastRead = n
    }
    return this.lastRead
  }

  private writtenDelta(): number {
    if (!this.frozen) {
      const n = sentBytes(this.socket) - this.baseWritten
      if (n > this.lastWritten) this.lastWritten = n
    }
    return this.lastWritten
  }

  up(): number {
    return this.role === 'client' ? this.readDelta() : this.writtenDelta()
  }

  down(): number {
    return this.role === 'client' ? this.writtenDelta() : this.readDelta()
  }

  freeze(): void {
    if (this.frozen) return
    this.readDelta()
    this.writtenDelta()
    this.frozen = true
  }
}

function safe(n: number | undefined): number {
  return typeof n === 'number' && Number.isFinite(n) ? n : 0
}
