/**
 * Byte counting at the socket or datagram edge.
 *
 * A stream socket already counts what crossed it (`bytesRead`, `bytesWritten`), so a meter reads those
 * counters instead of listening to 'data' (which would fight with pipe() and with node:http, which
 * consumes the socket handle directly). A meter remembers the counters at the moment it was attached, so
 * one socket can be accounted to several sessions in turn (HTTP keep-alive: one session per request).
 * Datagram edges count by hand with `add()`.
 */

/** Anything with socket-style counters: net.Socket, tls.TLSSocket, a ws WebSocket's underlying socket. */
export interface CountingSocket {
  readonly bytesRead: number
  readonly bytesWritten: number
}

export interface ByteCount {
  up: number
  down: number
}

export interface Meter {
  /** Bytes counted so far, up = from the client (or peer A), down = to the client (or from peer B). */
  read(): ByteCount
  /** Stop following the socket; later reads return the last value. */
  freeze(): void
}

/**
 * Follow a socket's counters. `role: 'client'` means bytes read from the socket are "up" (client to
 * target) and bytes written to it are "down". `role: 'target'` is the mirror image, for the far side of a
 * relay pairing where what we read from peer B goes down to peer A.
 */
export function socketMeter(socket: CountingSocket, role: 'client' | 'target' = 'client'): Meter {
  const baseRead = safe(socket.bytesRead)
  const baseWritten = safe(socket.bytesWritten)
  let frozen: ByteCount | undefined
  const read = (): ByteCount => {
    if (frozen) return frozen
    const r = safe(socket.bytesRead) - baseRead
    const w = safe(socket.bytesWritten) - baseWritten
    return role === 'client' ? { up: r, down: w } : { up: w, down: r }
  }
  return {
    read,
    freeze() {
      if (!frozen) frozen = read()
    },
  }
}

/** A hand-driven counter for datagram edges. */
export class DatagramMeter implements Meter {
  private up = 0
  private down = 0
  private frozen = false

  add(up: number, down: number): void {
    if (this.frozen) return
    this.up += up
    this.down += down
  }

  read(): ByteCount {
    return { up: this.up, down: this.down }
  }

  freeze(): void {
    this.frozen = true
  }
}

function safe(n: number | undefined): number {
  return typeof n === 'number' && Number.isFinite(n) ? n : 0
}
