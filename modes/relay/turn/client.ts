/**
 * A small TURN client (RFC 8656 client side) over UDP, TCP or TLS, used by the tests and the benchmark.
 * It follows the long-term credential flow (401 -> retry with REALM/NONCE, 438 -> retry with the new
 * nonce), retransmits requests over UDP, and surfaces error responses as TurnClientError with the STUN
 * code.
 */
import { randomBytes } from 'node:crypto'
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { EventEmitter } from 'node:events'
import { connect as tcpConnect, type Socket } from 'node:net'
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls'
import { decodeDatagram, encodeChannelData, StreamFramer, type Frame } from './channel-data.js'
import {
  Attr,
  Class,
  Method,
  TRANSPORT_UDP,
  decodeErrorCode,
  decodeText,
  decodeUint32,
  decodeXorAddress,
  encode,
  encodeChannelNumber,
  encodeRequestedTransport,
  encodeText,
  encodeUint32,
  encodeXorAddress,
  getAttr,
  longTermKey,
  type DecodedMessage,
  type StunAttribute,
  type TransportAddress,
} from './stun/index.js'

export class TurnClientError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    readonly response?: DecodedMessage,
  ) {
    super(`TURN error ${status} ${reason}`)
    this.name = 'TurnClientError'
  }
}

export interface TurnClientOptions {
  host: string
  port: number
  transport?: 'udp' | 'tcp' | 'tls'
  username?: string
  password?: string
  /** TLS options (ca, servername, rejectUnauthorized). */
  tls?: ConnectionOptions
  /** First UDP retransmission timeout; doubled each time (RFC 8489 §6.2.1 RTO). */
  rtoMs?: number
  /** Requests sent at most this many times over UDP. */
  attempts?: number
  /** Add FINGERPRINT to requests. */
  fingerprint?: boolean
}

export interface AllocateResult {
  relayed: TransportAddress
  mapped: TransportAddress
  lifetime: number
}

export interface TurnClientEvents {
  /** Data from a peer (Data indication or ChannelData). */
  data: [data: Buffer, peer: TransportAddress, channel?: number]
  /** Anything the server sent that was not a response to a pending request, decoded. */
  message: [DecodedMessage]
  error: [Error]
  close: []
}

interface Pending {
  resolve(m: DecodedMessage): void
  reject(e: Error): void
  timer?: NodeJS.Timeout
}

export class TurnClient extends EventEmitter<TurnClientEvents> {
  realm?: string
  nonce?: string
  private readonly pending = new Map<string, Pending>()
  private readonly channels = new Map<number, TransportAddress>()
  private udp?: UdpSocket
  private stream?: Socket
  private closed = false

  private constructor(readonly opts: TurnClientOptions) {
    super()
  }

  static async connect(opts: TurnClientOptions): Promise<TurnClient> {
    const c = new TurnClient(opts)
    await c.open()
    return c
  }

  get transport(): 'udp' | 'tcp' | 'tls' {
    return this.opts.transport ?? 'udp'
  }

  /** The client's local address. */
  local(): { address: string; port: number } {
    if (this.udp) return this.udp.address()
    return { address: this.stream!.localAddress ?? '', port: this.stream!.localPort ?? 0 }
  }

  private async open(): Promise<void> {
    const { host, port } = this.opts
    if (this.transport === 'udp') {
      const s = createSocket(host.includes(':') ? 'udp6' : 'udp4')
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject)
        s.connect(port, host, () => {
          s.off('error', reject)
          resolve()
        })
      })
      s.on('message', (b) => this.onBytes(b))
      s.on('error', (e) => this.onError(e))
      this.udp = s
      return
    }
    const sock =
      this.transport === 'tls'
        ? tlsConnect({ host, port, ...this.opts.tls })
        : tcpConnect({ host, port })
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject)
      sock.once(this.transport === 'tls' ? 'secureConnect' : 'connect', () => {
        sock.off('error', reject)
        resolve()
      })
    })
    sock.setNoDelay(true)
    const framer = new StreamFramer()
    sock.on('data', (chunk: Buffer) => {
      let frames: Frame[]
      try {
        frames = framer.push(chunk)
      } catch (e) {
        this.onError(e as Error)
        sock.destroy()
        return
      }
      for (const f of frames) this.onFrame(f)
    })
    sock.on('error', (e) => this.onError(e))
    sock.on('close', () => {
      this.failAll(new Error('connection closed'))
      this.emit('close')
    })
    this.stream = sock
  }

  /**
   * A socket error fails the pending requests (over UDP an ICMP "port unreachable" shows up as
   * ECONNREFUSED); it is re-emitted only when someone listens, so an unheard error never crashes.
   */
  private onError(e: Error): void {
    this.failAll(e)
    if (this.listenerCount('error') > 0) this.emit('error', e)
  }

  private onBytes(b: Buffer): void {
    let f: Frame
    try {
      f = decodeDatagram(b)
    } catch {
      return
    }
    this.onFrame(f)
  }

  private onFrame(f: Frame): void {
    if (f.kind === 'channel') {
      const peer = this.channels.get(f.channel.channel)
      if (peer) this.emit('data', f.channel.data, peer, f.channel.channel)
      return
    }
    const m = f.message
    const p = this.pending.get(m.transactionId.toString('hex'))
    if (p && (m.cls === Class.SUCCESS || m.cls === Class.ERROR)) {
      this.pending.delete(m.transactionId.toString('hex'))
      clearTimeout(p.timer)
      p.resolve(m)
      return
    }
    if (m.method === Method.DATA && m.cls === Class.INDICATION) {
      const pa = getAttr(m, Attr.XOR_PEER_ADDRESS)
      const d = getAttr(m, Attr.DATA)
      if (pa && d) this.emit('data', Buffer.from(d.value), decodeXorAddress(pa.value, m.transactionId))
      return
    }
    this.emit('message', m)
  }

  /** Send raw bytes to the server (tests use this for malformed input). */
  sendRaw(b: Buffer): void {
    if (this.udp) this.udp.send(b)
    else this.stream!.write(b)
  }

  private key(): Buffer | undefined {
    if (!this.opts.username || this.realm === undefined) return undefined
    return longTermKey(this.opts.username, this.realm, this.opts.password ?? '')
  }

  /** One transaction, no authentication retry. */
  transact(method: number, attributes: StunAttribute[], auth = true): Promise<DecodedMessage> {
    const transactionId = randomBytes(12)
    const attrs = [...attributes]
    const key = auth ? this.key() : undefined
    if (key) {
      attrs.push({ type: Attr.USERNAME, value: encodeText(this.opts.username!) })
      attrs.push({ type: Attr.REALM, value: encodeText(this.realm!) })
      attrs.push({ type: Attr.NONCE, value: encodeText(this.nonce ?? '') })
    }
    const bytes = encode({ method, cls: Class.REQUEST, transactionId, attributes: attrs }, { key, fingerprint: this.opts.fingerprint })
    return this.roundTrip(transactionId, bytes)
  }

  /** Send pre-encoded request bytes and wait for the response to their transaction id. */
  roundTrip(transactionId: Buffer, bytes: Buffer): Promise<DecodedMessage> {
    if (this.closed) return Promise.reject(new Error('client closed'))
    const id = transactionId.toString('hex')
    return new Promise((resolve, reject) => {
      const p: Pending = { resolve, reject }
      this.pending.set(id, p)
      if (this.udp) {
        let rto = this.opts.rtoMs ?? 250
        let left = (this.opts.attempts ?? 6) - 1
        const tick = () => {
          if (left-- <= 0) {
            this.pending.delete(id)
            reject(new Error('TURN request timed out'))
            return
          }
          this.udp?.send(bytes)
          rto *= 2
          p.timer = setTimeout(tick, rto)
        }
        this.udp.send(bytes)
        p.timer = setTimeout(tick, rto)
      } else {
        this.stream!.write(bytes)
        p.timer = setTimeout(() => {
          this.pending.delete(id)
          reject(new Error('TURN request timed out'))
        }, 10_000)
      }
    })
  }

  /**
   * A request with the long-term credential flow: on 401 (first time) or 438, take REALM and NONCE from
   * the error and retry once more. Other errors throw TurnClientError.
   */
  async request(method: number, attributes: StunAttribute[]): Promise<DecodedMessage> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const res = await this.transact(method, attributes)
      if (res.cls === Class.SUCCESS) return res
      const ec = getAttr(res, Attr.ERROR_CODE)
      const err = ec ? decodeErrorCode(ec.value) : { code: 0, reason: 'no ERROR-CODE' }
      const realm = getAttr(res, Attr.REALM)
      const nonce = getAttr(res, Attr.NONCE)
      // 401 on the first attempt is the challenge; 438 asks for the new nonce. Anything else is final.
      if (((err.code === 401 && attempt === 0 && this.opts.username) || err.code === 438) && realm && nonce) {
        this.realm = decodeText(realm.value)
        this.nonce = decodeText(nonce.value)
        continue
      }
      throw new TurnClientError(err.code, err.reason, res)
    }
    throw new TurnClientError(401, 'Unauthorized')
  }

  async binding(): Promise<TransportAddress> {
    const res = await this.transact(Method.BINDING, [], false)
    const x = getAttr(res, Attr.XOR_MAPPED_ADDRESS)
    if (!x) throw new Error('Binding response without XOR-MAPPED-ADDRESS')
    return decodeXorAddress(x.value, res.transactionId)
  }

  async allocate(opts: { lifetime?: number; transport?: number; extra?: StunAttribute[] } = {}): Promise<AllocateResult> {
    const attrs: StunAttribute[] = [{ type: Attr.REQUESTED_TRANSPORT, value: encodeRequestedTransport(opts.transport ?? TRANSPORT_UDP) }]
    if (opts.lifetime !== undefined) attrs.push({ type: Attr.LIFETIME, value: encodeUint32(opts.lifetime) })
    attrs.push(...(opts.extra ?? []))
    const res = await this.request(Method.ALLOCATE, attrs)
    const r = getAttr(res, Attr.XOR_RELAYED_ADDRESS)
    const m = getAttr(res, Attr.XOR_MAPPED_ADDRESS)
    const l = getAttr(res, Attr.LIFETIME)
    if (!r || !m || !l) throw new Error('Allocate success without XOR-RELAYED-ADDRESS, XOR-MAPPED-ADDRESS or LIFETIME')
    return { relayed: decodeXorAddress(r.value, res.transactionId), mapped: decodeXorAddress(m.value, res.transactionId), lifetime: decodeUint32(l.value, 'LIFETIME') }
  }

  async refresh(lifetime?: number): Promise<number> {
    const res = await this.request(Method.REFRESH, lifetime === undefined ? [] : [{ type: Attr.LIFETIME, value: encodeUint32(lifetime) }])
    const l = getAttr(res, Attr.LIFETIME)
    return l ? decodeUint32(l.value, 'LIFETIME') : 0
  }

  async createPermission(...peers: Array<{ address: string; port?: number; family?: 4 | 6 }>): Promise<void> {
    await this.requestWithPeers(Method.CREATE_PERMISSION, peers.map((p) => ({ family: p.family ?? (p.address.includes(':') ? 6 : 4), address: p.address, port: p.port ?? 0 })), [])
  }

  async channelBind(channel: number, peer: TransportAddress): Promise<void> {
    await this.requestWithPeers(Method.CHANNEL_BIND, [peer], [{ type: Attr.CHANNEL_NUMBER, value: encodeChannelNumber(channel) }])
    this.channels.set(channel, peer)
  }

  /** XOR addresses depend on the transaction id, so these requests are encoded per attempt. */
  private async requestWithPeers(method: number, peers: TransportAddress[], extra: StunAttribute[]): Promise<DecodedMessage> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const transactionId = randomBytes(12)
      const attrs: StunAttribute[] = [...extra, ...peers.map((p) => ({ type: Attr.XOR_PEER_ADDRESS, value: encodeXorAddress(p, transactionId) }))]
      const key = this.key()
      if (key) {
        attrs.push({ type: Attr.USERNAME, value: encodeText(this.opts.username!) })
        attrs.push({ type: Attr.REALM, value: encodeText(this.realm!) })
        attrs.push({ type: Attr.NONCE, value: encodeText(this.nonce ?? '') })
      }
      const res = await this.roundTrip(transactionId, encode({ method, cls: Class.REQUEST, transactionId, attributes: attrs }, { key, fingerprint: this.opts.fingerprint }))
      if (res.cls === Class.SUCCESS) return res
      const ec = getAttr(res, Attr.ERROR_CODE)
      const err = ec ? decodeErrorCode(ec.value) : { code: 0, reason: 'no ERROR-CODE' }
      const nonce = getAttr(res, Attr.NONCE)
      if (err.code === 438 && nonce) {
        this.nonce = decodeText(nonce.value)
        continue
      }
      throw new TurnClientError(err.code, err.reason, res)
    }
    throw new TurnClientError(438, 'Stale Nonce')
  }

  /** Send indication (no response). */
  send(peer: TransportAddress, data: Buffer): void {
    const transactionId = randomBytes(12)
    this.sendRaw(
      encode({
        method: Method.SEND,
        cls: Class.INDICATION,
        transactionId,
        attributes: [
          { type: Attr.XOR_PEER_ADDRESS, value: encodeXorAddress(peer, transactionId) },
          { type: Attr.DATA, value: data },
        ],
      }),
    )
  }

  /** ChannelData (padded over TCP/TLS). */
  sendChannel(channel: number, data: Buffer): void {
    this.sendRaw(encodeChannelData({ channel, data }, this.transport !== 'udp'))
  }

  private failAll(err: Error): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer)
      p.reject(err)
      this.pending.delete(id)
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.failAll(new Error('client closed'))
    if (this.udp) {
      const u = this.udp
      await new Promise<void>((r) => u.close(() => r()))
    }
    if (this.stream) {
      const s = this.stream
      await new Promise<void>((r) => {
        if (s.destroyed) return r()
        s.once('close', () => r())
        s.end()
        setTimeout(() => s.destroy(), 500).unref()
      })
    }
  }
}
