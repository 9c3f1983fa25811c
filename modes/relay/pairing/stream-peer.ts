/**
 * A stream peer (TCP socket or WebSocket) from accept to pairing: reads the hello (bounded, with the
 * hello timeout), then holds the connection paused while it waits, answers statuses, and becomes one
 * end of a Splice. A TCP connection whose first byte is "G" is an HTTP request: with WebSocket enabled
 * it is handed to the HTTP server for the Upgrade (docs/relay-protocol.md "Transports").
 */
import type { Socket } from 'node:net'
import { createWebSocketStream, type WebSocket } from 'ws'
import type { Duplex } from 'node:stream'
import { ViaductError, CoreErrors } from '../../../src/core/errors.js'
import type { Clock, Timer } from '../../../src/core/clock.js'
import { CloseReason } from '../../../src/core/ledger.js'
import { normalizeIp } from '../../../src/core/net-policy.js'
import { formatHostPort } from '../../../src/core/service.js'
import { MAX_HELLO_BYTES, WS_REFUSAL_BASE } from './constants.js'
import { PairErrors, statusForError } from './errors.js'
import { decodeHello, type Hello } from './hello.js'
import { encodeRefusal, type PeerAddress } from './status.js'
import type { SpliceEnd } from './splice.js'

/** WebSocket close codes for a pairing that ends after it spliced (refusals use 4000 + status). */
export const WS_CLOSE_CODES: Record<string, number> = {
  [PairErrors.VIADUCT_ERR_PAIR_PEER_RESET]: 4100,
  [PairErrors.VIADUCT_ERR_PAIR_BYTES_LIMIT]: 4101,
  [PairErrors.VIADUCT_ERR_PAIR_DURATION_LIMIT]: 4102,
  [CoreErrors.VIADUCT_ERR_SESSION_IDLE]: 4103,
  [CloseReason.SHUTDOWN]: 4104,
  [PairErrors.VIADUCT_ERR_PAIR_SHUTDOWN]: 4104,
}

/** Most bytes a WebSocket peer may send before it is paired (beyond its hello). */
export const MAX_WS_EARLY_BYTES = 1024 * 1024
/** How long a gracefully closed side may take to finish before it is destroyed. */
const GRACE_MS = 2000

export interface StreamPeerEvents {
  /** A complete hello arrived (the connection is paused now). */
  hello(peer: StreamPeer, hello: Hello): void
  /** The hello was bad or late: refuse with this error. */
  bad(peer: StreamPeer, err: ViaductError): void
  /** The connection closed before pairing (while reading the hello or waiting). */
  gone(peer: StreamPeer): void
  /** A TCP connection started with "G": an HTTP request (WebSocket upgrade). Absent: refused as malformed. */
  http?(socket: Socket, first: Buffer): void
}

export abstract class StreamPeer {
  abstract readonly transport: 'tcp' | 'ws'
  readonly observed: PeerAddress
  readonly addr: string
  readonly ip: string
  /** Bytes the peer sent after its hello, before pairing; forwarded first. */
  head: Buffer[] = []
  headBytes = 0
  paired = false
  protected helloTimer: Timer | undefined
  protected done = false

  constructor(
    remoteAddress: string | undefined,
    remotePort: number | undefined,
    readonly listener: string,
    protected readonly clock: Clock,
    protected readonly events: StreamPeerEvents,
    helloTimeoutMs: number,
  ) {
    const n = normalizeIp(remoteAddress ?? '') ?? { ip: '0.0.0.0', family: 4 as const }
    this.ip = n.ip
    this.observed = { address: n.ip, family: n.family, port: remotePort ?? 0 }
    this.addr = formatHostPort(n.ip, remotePort ?? 0)
    if (helloTimeoutMs > 0) {
      this.helloTimer = clock.setTimeout(() => {
        this.helloTimer = undefined
        if (!this.done) this.bad(new ViaductError(PairErrors.VIADUCT_ERR_PAIR_HELLO_TIMEOUT, `no complete hello in ${helloTimeoutMs} ms`))
      }, helloTimeoutMs)
    }
  }

  /** Send a status message (WAITING, PAIRED). */
  abstract send(status: Buffer): void
  /** Send a refusal status for `err` and close. */
  abstract refuse(err: ViaductError): void
  /** Become a splice end: the stream to read and write, paused. */
  abstract toSpliceEnd(): SpliceEnd
  /** Close now (shutdown while waiting). */
  abstract kill(code: string): void

  protected gotHello(hello: Hello): void {
    this.done = true
    this.clock.clearTimeout(this.helloTimer)
    this.events.hello(this, hello)
  }

  protected bad(err: ViaductError): void {
    this.done = true
    this.clock.clearTimeout(this.helloTimer)
    this.events.bad(this, err)
  }

  protected left(): void {
    this.clock.clearTimeout(this.helloTimer)
    if (!this.paired) this.events.gone(this)
  }
}

export class TcpPeer extends StreamPeer {
  readonly transport = 'tcp' as const
  private buf: Buffer = Buffer.alloc(0)

  constructor(
    readonly socket: Socket,
    listener: string,
    clock: Clock,
    events: StreamPeerEvents,
    helloTimeoutMs: number,
    first?: Buffer,
  ) {
    super(socket.remoteAddress, socket.remotePort, listener, clock, events, helloTimeoutMs)
    socket.on('error', () => undefined)
    socket.on('close', () => this.left())
    const onData = (chunk: Buffer) => {
      if (this.done) return
      if (this.buf.length === 0 && chunk[0] === 0x47 && events.http) {
        // "GET ...": not our hello; hand the connection over untouched.
        socket.off('data', onData)
        this.done = true
        this.paired = true // not ours any more: no 'gone' for it
        this.clock.clearTimeout(this.helloTimer)
        events.http(socket, chunk)
        return
      }
      this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk
      let r
      try {
        r = decodeHello(this.buf)
      } catch (err) {
        socket.off('data', onData)
        this.bad(err as ViaductError)
        return
      }
      if (!r) {
        // The decoder refuses any prefix that cannot grow into a hello, so this never holds more than one hello.
        if (this.buf.length > MAX_HELLO_BYTES) {
          socket.off('data', onData)
          this.bad(new ViaductError(PairErrors.VIADUCT_ERR_PAIR_MALFORMED, 'hello too long'))
        }
        return
      }
      socket.off('data', onData)
      socket.pause()
      const rest = this.buf.subarray(r.bytesRead)
      if (rest.length) {
        this.head.push(Buffer.from(rest))
        this.headBytes += rest.length
      }
      this.buf = Buffer.alloc(0)
      this.gotHello(r.value)
    }
    socket.on('data', onData)
    if (first?.length) onData(first)
  }

  send(status: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(status)
  }

  refuse(err: ViaductError): void {
    this.done = true
    const s = this.socket
    if (s.destroyed) return
    s.removeAllListeners('data')
    s.on('data', () => undefined) // discard whatever else it sends
    s.resume()
    s.end(encodeRefusal(statusForError(err), `${err.message} [${err.code}]`))
    graceDestroy(s)
  }

  kill(): void {
    this.socket.destroy()
  }

  toSpliceEnd(): SpliceEnd {
    const s = this.socket
    this.paired = true
    return {
      stream: s,
      address: this.addr,
      terminate(_code, graceful) {
        if (s.destroyed) return
        if (graceful) {
          s.resume()
          s.end()
          graceDestroy(s)
        } else if (s.writableEnded) {
          // Our FIN is already queued: libuv cannot reset after a shutdown (reset would fail and never
          // emit 'close'), so just close.
          s.destroy()
        } else s.resetAndDestroy()
      },
    }
  }
}

export class WsPeer extends StreamPeer {
  readonly transport = 'ws' as const
  private readonly onMessage: (data: Buffer, isBinary: boolean) => void

  constructor(
    readonly ws: WebSocket,
    remoteAddress: string | undefined,
    remotePort: number | undefined,
    listener: string,
    clock: Clock,
    events: StreamPeerEvents,
    helloTimeoutMs: number,
  ) {
    super(remoteAddress, remotePort, listener, clock, events, helloTimeoutMs)
    ws.on('error', () => undefined)
    ws.on('close', () => this.left())
    this.onMessage = (data, isBinary) => {
      if (this.done) {
        // Early payload while waiting: kept (bounded) and forwarded after pairing.
        if (this.paired) return
        this.headBytes += data.length
        if (this.headBytes > MAX_WS_EARLY_BYTES) {
          this.refuse(new ViaductError(PairErrors.VIADUCT_ERR_PAIR_MALFORMED, `more than ${MAX_WS_EARLY_BYTES} bytes sent before pairing`))
          return
        }
        this.head.push(data)
        return
      }
      if (!isBinary) return this.bad(new ViaductError(PairErrors.VIADUCT_ERR_PAIR_MALFORMED, 'the hello must be a binary WebSocket message'))
      let r
      try {
        r = decodeHello(data)
      } catch (err) {
        return this.bad(err as ViaductError)
      }
      if (!r) return this.bad(new ViaductError(PairErrors.VIADUCT_ERR_PAIR_MALFORMED, 'the hello message is truncated (one message must hold the whole hello)'))
      if (r.bytesRead < data.length) {
        this.head.push(data.subarray(r.bytesRead))
        this.headBytes += data.length - r.bytesRead
      }
      this.gotHello(r.value)
    }
    ws.on('message', this.onMessage)
  }

  send(status: Buffer): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(status)
  }

  refuse(err: ViaductError): void {
    this.done = true
    if (this.ws.readyState !== this.ws.OPEN) return
    const status = statusForError(err)
    this.ws.send(encodeRefusal(status, `${err.message} [${err.code}]`))
    this.ws.close(WS_REFUSAL_BASE + status, err.code)
  }

  kill(code: string): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.close(WS_CLOSE_CODES[code] ?? 4104, code)
    else this.ws.terminate()
  }

  toSpliceEnd(): SpliceEnd {
    const ws = this.ws
    this.paired = true
    ws.off('message', this.onMessage)
    const stream: Duplex = createWebSocketStream(ws, { allowHalfOpen: false })
    stream.pause()
    let closeCode = 0
    // ws's stream can miss its own 'close' when its readable side ended before its writable side
    // finished; the WebSocket's close is the truth.
    ws.once('close', (code: number) => {
      closeCode = code
      setImmediate(() => {
        if (!stream.destroyed) stream.destroy()
      })
    })
    return {
      stream,
      address: this.addr,
      cleanClose: () => closeCode === 1000 || closeCode === 1005,
      terminate(code, graceful) {
        if (ws.readyState === ws.OPEN) ws.close(WS_CLOSE_CODES[code] ?? 1000, code)
        if (!graceful) setTimeout(() => ws.terminate(), GRACE_MS).unref()
      },
    }
  }
}

function graceDestroy(s: Socket): void {
  const t = setTimeout(() => s.destroy(), GRACE_MS)
  t.unref()
  s.once('close', () => clearTimeout(t))
}
