/**
 * The peer side of the pairing protocol, as a small typed API:
 *
 *   const stream = await connectPeer({ relay: '127.0.0.1:7070', id: 'room1', token })      // TCP: a Duplex
 *   const ws = await connectPeer({ relay, id, token, transport: 'ws' })                     // WebSocket: a Duplex
 *   const dgram = await connectPeer({ relay, id, token, transport: 'udp' })                 // UDP: PeerDatagram
 *
 * Each resolves once the relay answered PAIRED (after any number of WAITING), with `pairing` telling
 * both observed addresses, and rejects with a ViaductError whose code names the refusal.
 */
import { connect as tcpConnect, isIP, type Socket } from 'node:net'
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { EventEmitter } from 'node:events'
import type { Duplex } from 'node:stream'
import { WebSocket, createWebSocketStream } from 'ws'
import { ViaductError } from '../../../src/core/errors.js'
import { parseListenAddress } from '../../../src/config/types.js'
import { DEFAULT_UDP_HELLO_RETRY_MS, DEFAULT_UDP_KEEPALIVE_MS, Side, Status, WS_REFUSAL_BASE, type SideValue, type TransportName } from './constants.js'
import { codeForStatus, PairErrors } from './errors.js'
import { encodeHello } from './hello.js'
import { decodeStatus, type PeerAddress, type StatusMessage } from './status.js'

export type { PeerAddress, TransportName }

export interface ConnectPeerOptions {
  /** The relay: "host:port" or { host, port }. */
  relay: string | { host: string; port: number }
  /** The room (pairing id): 1..128 printable ASCII characters. */
  id: string
  /** A pairing token for this room (`viaduct token`, or mintToken()). */
  token: string
  /** 'tcp' (default), 'ws' or 'udp'. */
  transport?: TransportName
  /** Take side 'a' or 'b' of the room (two peers on the same side are refused); default any. */
  side?: 'any' | 'a' | 'b'
  /** Give up when not paired within this many ms (default 120 000). */
  timeoutMs?: number
  /** Called on each WAITING status. */
  onWaiting?(info: { waitTimeoutMs: number }): void
  /** WebSocket: the URL (default ws://HOST:PORT/). */
  url?: string
  /** UDP: empty keepalive datagram interval after pairing (default 15 000 ms; 0 = none). */
  keepaliveMs?: number
  /** UDP: hello retransmission interval until PAIRED (default 1 000 ms). */
  helloRetryMs?: number
  signal?: AbortSignal
}

export interface PairingInfo {
  /** This peer's address as the relay observed it (its public address behind NAT). */
  self: PeerAddress
  /** The other peer's address as the relay observed it. */
  peer: PeerAddress
  selfTransport: TransportName
  peerTransport: TransportName
}

/** A paired stream peer: bytes written arrive at the other peer; end() half-closes (TCP). */
export type PeerStream = Duplex & { pairing: PairingInfo }

export interface PeerDatagramEvents {
  message: [Buffer]
  error: [Error]
  close: []
}

/** A paired UDP peer: each send() is one datagram to the other peer (unreliable, unordered). */
export class PeerDatagram extends EventEmitter<PeerDatagramEvents> {
  private keepalive: NodeJS.Timeout | undefined
  private pairedAt = 0
  private pairedBytes: Buffer | undefined
  private closed = false

  constructor(
    readonly socket: UdpSocket,
    readonly pairing: PairingInfo,
    pairedStatus: Buffer,
    keepaliveMs: number,
  ) {
    super()
    this.pairedAt = Date.now()
    this.pairedBytes = pairedStatus
    socket.on('message', (msg) => {
      // A duplicate PAIRED (answer to a hello retransmitted just before pairing) is not peer data.
      if (this.pairedBytes && Date.now() - this.pairedAt < 5000 && msg.equals(this.pairedBytes)) return
      this.emit('message', msg)
    })
    socket.on('error', (err) => this.emit('error', err))
    if (keepaliveMs > 0) {
      this.keepalive = setInterval(() => this.socket.send(Buffer.alloc(0), () => undefined), keepaliveMs)
      this.keepalive.unref()
    }
  }

  /** Send one datagram (not empty: an empty datagram is a keepalive and is not forwarded). */
  send(data: Uint8Array, cb?: (err: Error | null) => void): void {
    if (data.length === 0) throw new RangeError('an empty datagram is a keepalive; the relay does not forward it')
    this.socket.send(data, (err) => cb?.(err ?? null))
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    clearInterval(this.keepalive)
    try {
      this.socket.close()
    } catch {
      // already closed
    }
    this.emit('close')
  }
}

function relayOf(r: ConnectPeerOptions['relay']): { host: string; port: number } {
  if (typeof r !== 'string') return r
  const hp = parseListenAddress(r)
  if (!hp || hp.port === 0) throw new ViaductError(PairErrors.VIADUCT_ERR_PAIR_CONNECT, `bad relay address "${r}" (expected HOST:PORT)`)
  return hp
}

function sideOf(s: ConnectPeerOptions['side']): SideValue {
  return s === 'a' ? Side.A : s === 'b' ? Side.B : Side.ANY
}

function refusal(m: StatusMessage): ViaductError {
  const msg = 'message' in m && m.message ? m.message : undefined
  return new ViaductError(codeForStatus(m.status), msg ? `relay refused: ${msg}` : undefined, { details: { status: m.status } })
}

function connectError(why: string, cause?: unknown): ViaductError {
  return new ViaductError(PairErrors.VIADUCT_ERR_PAIR_CONNECT, why, { cause })
}

export function connectPeer(opts: ConnectPeerOptions & { transport: 'udp' }): Promise<PeerDatagram>
export function connectPeer(opts: ConnectPeerOptions & { transport?: 'tcp' | 'ws' }): Promise<PeerStream>
export function connectPeer(opts: ConnectPeerOptions): Promise<PeerStream | PeerDatagram>
export function connectPeer(opts: ConnectPeerOptions): Promise<PeerStream | PeerDatagram> {
  const relay = relayOf(opts.relay)
  const hello = encodeHello({ id: opts.id, token: opts.token, side: sideOf(opts.side) })
  const t = opts.transport ?? 'tcp'
  if (t === 'udp') return connectUdp(relay, hello, opts)
  if (t === 'ws') return connectWs(relay, hello, opts)
  return connectTcp(relay, hello, opts)
}

/** Common wait logic: timeout and abort. */
function guard<T>(opts: ConnectPeerOptions, cleanup: () => void, run: (ok: (v: T) => void, fail: (e: Error) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false
    const timeoutMs = opts.timeoutMs ?? 120_000
    const timer = setTimeout(() => fail(connectError(`not paired within ${timeoutMs} ms`)), timeoutMs)
    const onAbort = () => fail(connectError('aborted'))
    opts.signal?.addEventListener('abort', onAbort, { once: true })
    function done() {
      settled = true
      clearTimeout(timer)
      opts.signal?.removeEventListener('abort', onAbort)
    }
    function ok(v: T) {
      if (settled) return
      done()
      resolve(v)
    }
    function fail(e: Error) {
      if (settled) return
      done()
      cleanup()
      reject(e)
    }
    if (opts.signal?.aborted) return fail(connectError('aborted'))
    run(ok, fail)
  })
}

function pairingOf(m: StatusMessage): PairingInfo {
  const p = m as Extract<StatusMessage, { status: 1 }>
  return { self: p.self, peer: p.peer, selfTransport: p.selfTransport, peerTransport: p.peerTransport }
}

function connectTcp(relay: { host: string; port: number }, hello: Buffer, opts: ConnectPeerOptions): Promise<PeerStream> {
  let sock: Socket | undefined
  return guard<PeerStream>(
    opts,
    () => sock?.destroy(),
    (ok, fail) => {
      const s = tcpConnect({ host: relay.host, port: relay.port, allowHalfOpen: true, noDelay: true })
      sock = s
      let buf: Buffer = Buffer.alloc(0)
      const onReadable = () => {
        let chunk: Buffer | null
        while ((chunk = s.read() as Buffer | null) !== null) {
          buf = buf.length ? Buffer.concat([buf, chunk]) : chunk
          for (;;) {
            let r
            try {
              r = decodeStatus(buf)
            } catch (err) {
              return fail(err as Error)
            }
            if (!r) break
            buf = buf.subarray(r.bytesRead)
            const m = r.value
            if (m.status === Status.WAITING) {
              opts.onWaiting?.(m as { waitTimeoutMs: number })
              continue
            }
            if (m.status !== Status.PAIRED) return fail(refusal(m))
            s.off('readable', onReadable)
            s.off('error', onError)
            s.off('close', onClose)
            if (buf.length) s.unshift(Buffer.from(buf))
            return ok(Object.assign(s, { pairing: pairingOf(m) }))
          }
        }
      }
      const onError = (err: Error) => fail(connectError(`relay ${relay.host}:${relay.port}: ${err.message}`, err))
      const onClose = () => fail(connectError('the relay closed the connection before pairing'))
      s.once('connect', () => s.write(hello))
      s.on('readable', onReadable)
      s.on('error', onError)
      s.on('close', onClose)
    },
  )
}

function connectWs(relay: { host: string; port: number }, hello: Buffer, opts: ConnectPeerOptions): Promise<PeerStream> {
  let ws: WebSocket | undefined
  return guard<PeerStream>(
    opts,
    () => ws?.terminate(),
    (ok, fail) => {
      const host = isIP(relay.host) === 6 ? `[${relay.host}]` : relay.host
      const w = new WebSocket(opts.url ?? `ws://${host}:${relay.port}/`, { perMessageDeflate: false, maxPayload: 1024 * 1024 })
      ws = w
      let refused: ViaductError | undefined
      const onMessage = (data: Buffer) => {
        let r
        try {
          r = decodeStatus(data)
          if (!r) throw new ViaductError(PairErrors.VIADUCT_ERR_PAIR_MALFORMED, 'truncated status message')
        } catch (err) {
          return fail(err as Error)
        }
        const m = r.value
        if (m.status === Status.WAITING) return opts.onWaiting?.(m as { waitTimeoutMs: number })
        if (m.status !== Status.PAIRED) {
          refused = refusal(m)
          return fail(refused)
        }
        w.off('message', onMessage)
        w.off('close', onClose)
        w.off('error', onError)
        const stream = createWebSocketStream(w, { allowHalfOpen: false })
        // ws's stream can miss its 'close' when its readable side ended first; the WebSocket's close is the truth.
        w.once('close', () =>
          setImmediate(() => {
            if (!stream.destroyed) stream.destroy()
          }),
        )
        ok(Object.assign(stream, { pairing: pairingOf(m) }))
      }
      const onError = (err: Error) => fail(connectError(`relay ${relay.host}:${relay.port}: ${err.message}`, err))
      const onClose = (code: number) => {
        if (code >= WS_REFUSAL_BASE && code < WS_REFUSAL_BASE + 100) return fail(refused ?? new ViaductError(codeForStatus(code - WS_REFUSAL_BASE)))
        fail(connectError(`the relay closed the WebSocket (${code}) before pairing`))
      }
      w.binaryType = 'nodebuffer'
      w.once('open', () => w.send(hello))
      w.on('message', onMessage)
      w.on('error', onError)
      w.on('close', onClose)
    },
  )
}

function connectUdp(relay: { host: string; port: number }, hello: Buffer, opts: ConnectPeerOptions): Promise<PeerDatagram> {
  const sock = createSocket(isIP(relay.host) === 6 ? 'udp6' : 'udp4')
  let retry: NodeJS.Timeout | undefined
  return guard<PeerDatagram>(
    opts,
    () => {
      clearInterval(retry)
      try {
        sock.close()
      } catch {
        // already closed
      }
    },
    (ok, fail) => {
      const onMessage = (msg: Buffer) => {
        let r
        try {
          r = decodeStatus(msg)
        } catch {
          return // not a status (a stray datagram): ignore while pairing
        }
        if (!r) return
        const m = r.value
        if (m.status === Status.WAITING) return opts.onWaiting?.(m as { waitTimeoutMs: number })
        clearInterval(retry)
        if (m.status !== Status.PAIRED) return fail(refusal(m))
        sock.off('message', onMessage)
        sock.off('error', onError)
        ok(new PeerDatagram(sock, pairingOf(m), Buffer.from(msg), opts.keepaliveMs ?? DEFAULT_UDP_KEEPALIVE_MS))
      }
      const onError = (err: Error) => fail(connectError(`relay ${relay.host}:${relay.port}: ${err.message}`, err))
      sock.on('message', onMessage)
      sock.on('error', onError)
      sock.connect(relay.port, relay.host, () => {
        const sendHello = () => sock.send(hello, () => undefined)
        sendHello()
        retry = setInterval(sendHello, opts.helloRetryMs ?? DEFAULT_UDP_HELLO_RETRY_MS)
      })
    },
  )
}

export { mintToken } from './token.js'
