/**
 * Byte counting at the socket or datagram edge.
 *
 * A stream socket already counts what crossed it (`bytesRead`, `bytesWritten`), so a meter reads those
 * counters instead of listening to 'data' (which would fight with pipe() and with node:http, which
 * consumes the socket handle directly). A meter remembers the counters at the moment it was attached, so
 * one socket can be accounted to several sessions in turn (HTTP keep-alive: one session per request).
 * Datagram edges count by hand with the session's `add()`.
 */

/** Anything with socket-style counters: net.Socket, tls.TLSSocket, a ws WebSocket's underlying socket. */
export interface CountingSocket {
  readonly bytesRead: number
  readonly bytesWritten: number
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
 * relay pairing where what we read from peer B goes down to peer A.
 */
export function socketMeter(socket: CountingSocket, role: 'client' | 'target' = 'client'): SocketMeter {
  return new SocketMeter(socket, role)
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
  private frozenUp = 0
  private frozenDown = 0

  constructor(
    private readonly socket: CountingSocket,
    private readonly role: 'client' | 'target',
  ) {
    this.baseRead = safe(socket.bytesRead)
    this.baseWritten = safe(socket.bytesWritten)
  }

  private readDelta(): number {
    return safe(this.socket.bytesRead) - this.baseRead
  }

  private writtenDelta(): number {
    return safe(this.socket.bytesWritten) - this.baseWritten
  }

  up(): number {
    if (this.frozen) return this.frozenUp
    return this.role === 'client' ? this.readDelta() : this.writtenDelta()
  }

  down(): number {
    if (this.frozen) return this.frozenDown
    return this.role === 'client' ? this.writtenDelta() : this.readDelta()
  }

  freeze(): void {
    if (this.frozen) return
    this.frozenUp = this.up()
    this.frozenDown = this.down()
    this.frozen = true
  }
}

function safe(n: number | undefined): number {
  return typeof n === 'number' && Number.isFinite(n) ? n : 0
}
