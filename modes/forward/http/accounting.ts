/**
 * Ledger records for the HTTP listener, with bytes counted at the client socket's edge.
 *
 * One client connection carries many sessions in turn (keep-alive: one per request; then maybe a CONNECT
 * tunnel or an upgrade). The socket's own counters are split between them: each session owns the bytes from
 * where the previous one stopped to where it stops, so the sessions of one connection add up exactly to what
 * crossed the socket. A request that arrives while another is still answered on the same connection
 * (pipelining) starts counting when the one before it closes.
 */
import type { Socket } from 'node:net'
import type { Ledger, SessionHandle, SessionInit } from '../../../src/core/ledger.js'
import { remoteOf } from '../../../src/core/service.js'
import { receivedBytes, sentBytes } from '../../../src/core/meter.js'
import { MODE_NAME } from '../context.js'

interface SocketBook {
  listener: string
  /** The client's "ip:port", formatted once per connection (not once per request). */
  client?: string
  /** Counter values where the last closed session stopped. */
  read: number
  written: number
  /** The session counting right now, and those waiting for it to close. */
  owner?: SessionHandle
  waiting: SessionHandle[]
}

const books = new WeakMap<Socket, SocketBook>()

/** Start the books of an accepted client socket (before any byte was consumed by the HTTP parser). */
export function registerSocket(socket: Socket, listener: string): void {
  books.set(socket, { listener, read: 0, written: 0, waiting: [] })
}

export function listenerOf(socket: Socket): string {
  return books.get(socket)?.listener ?? 'http'
}

function start(book: SocketBook, socket: Socket, s: SessionHandle): void {
  book.owner = s
  s.add(receivedBytes(socket) - book.read, sentBytes(socket) - book.written)
  s.track(socket)
}

/** The set of live sessions, so destroy() can close them with a reason. */
export class LiveSessions {
  private readonly set = new Set<SessionHandle>()
  add(s: SessionHandle): void {
    this.set.add(s)
  }
  delete(s: SessionHandle): void {
    this.set.delete(s)
  }
  closeAll(reason: string): void {
    for (const s of this.set) s.close(reason)
    this.set.clear()
  }
  get size(): number {
    return this.set.size
  }
}

export interface OpenedSession {
  handle: SessionHandle
  /** Close once with a reason (a CloseReason or a VIADUCT_ERR_* code) and hand the counters on. */
  close(reason: string, detail?: string): void
}

/** Open a ledger record for one request, tunnel or upgrade arriving on `socket`. */
export function openSession(ledger: Ledger, live: LiveSessions, socket: Socket, init: Omit<SessionInit, 'mode' | 'client' | 'listener'>): OpenedSession {
  let book = books.get(socket)
  if (!book) {
    registerSocket(socket, 'http')
    book = books.get(socket)!
  }
  book.client ??= remoteOf(socket)
  const handle = ledger.open({ mode: MODE_NAME, client: book.client, listener: book.listener, ...init })
  live.add(handle)
  if (!book.owner || book.owner.closed) start(book, socket, handle)
  else book.waiting.push(handle)
  return new SocketSession(handle, book, socket, live)
}

/** An OpenedSession as a class: one object per HTTP request instead of a closure and its context. */
class SocketSession implements OpenedSession {
  constructor(
    readonly handle: SessionHandle,
    private readonly book: SocketBook,
    private readonly socket: Socket,
    private readonly live: LiveSessions,
  ) {}

  close(reason: string, detail?: string): void {
    const { handle, book: b, socket } = this
    if (handle.closed) return
    this.live.delete(handle)
    if (b.owner === handle) {
      handle.close(reason, detail)
      // where this session's meter stopped (the same counters it read: bytes handed to the kernel)
      b.read = Math.max(b.read, receivedBytes(socket))
      b.written = Math.max(b.written, sentBytes(socket))
      b.owner = undefined
      const next = b.waiting.shift()
      if (next && !next.closed) start(b, socket, next)
    } else {
      b.waiting = b.waiting.filter((w) => w !== handle)
      handle.close(reason, detail)
    }
  }
}
