/**
 * One SOCKS client connection: buffer the handshake, decode it with the pure codec, authenticate,
 * check the rules, then CONNECT (splice), UDP ASSOCIATE (udp.ts) or BIND (bind.ts).
 *
 * Every failure is answered with the protocol's own reply (the error's wire mapping), written once,
 * recorded once in the ledger (which logs it), and never affects other sessions.
 */
import type { Socket } from 'node:net'
import type { Timer } from '../../../src/core/clock.js'
import { isViaductError, ViaductError } from '../../../src/core/errors.js'
import { CloseReason, type SessionHandle, type SessionPatch } from '../../../src/core/ledger.js'
import { formatHostPort, remoteOf } from '../../../src/core/service.js'
import type { ForwardContext } from '../context.js'
import { ForwardErrors } from '../errors.js'
import {
  decodeGreeting,
  decodeSocks4Request,
  decodeSocks5Request,
  decodeUserPass,
  encodeAuthReply,
  encodeMethodReply,
  encodeSocks4Reply,
  encodeSocks5Reply,
  sniffVersion,
} from './codec.js'
import { Command, Method, Reply, Socks4Reply } from './constants.js'
import { SocksErrors } from './errors.js'
import { splice, type SpliceHandle } from '../splice.js'
import { ReadPump } from '../http/read-pump.js'
import { UdpAssociation, type Resolver } from './udp.js'
import { bindOnce } from './bind.js'

/** What a request asks for, whatever the version. */
export interface SocksRequest {
  version: 4 | 5
  command: number
  host: string
  port: number
  protocol: 'socks4' | 'socks4a' | 'socks5'
}

type Stage = 'version' | 'greeting' | 'auth' | 'request5' | 'request4' | 'working' | 'done'

/** Bytes a client may send after its request, before the reply, that we hold while dialling. */
const MAX_EARLY_BYTES = 64 * 1024

/** How long a refused client gets to read its reply before the socket is destroyed. */
const LINGER_MS = 2000

export class SocksSession {
  readonly record: SessionHandle
  private stage: Stage = 'version'
  /** True once CONNECT/BIND is spliced or a UDP association runs: they report their own end. */
  private relaying = false
  private pending: SessionPatch = {}
  private buf: Buffer = Buffer.alloc(0)
  private handshakeTimer: Timer | undefined
  private version: 4 | 5 | undefined
  private user: string | undefined
  /** Created only while a dial or BIND waits (an AbortController per session costs at high connection rates). */
  private abort: AbortController | undefined
  private spliced: SpliceHandle | undefined
  private udp: UdpAssociation | undefined
  private readonly onData = (chunk: Buffer) => this.receive(chunk)

  constructor(
    private readonly ctx: ForwardContext,
    private readonly socket: Socket,
    private readonly listener: string,
    private readonly onEnd: (s: SocksSession) => void,
    private readonly resolve?: Resolver,
  ) {
    this.record = ctx.core.ledger.open({ mode: 'forward', protocol: 'socks', client: remoteOf(socket), listener })
    // from the socket's first byte: on the mixed port the first bytes were read to sniff the protocol
    // before this session opened, and the docs promise the handshake is counted
    this.record.track(socket, 'client', true)
  }

  start(): void {
    const { socket } = this
    socket.on('data', this.onData)
    socket.on('error', (err: NodeJS.ErrnoException) => this.finish(CloseReason.CLIENT_CLOSED, err.code ?? err.message))
    // A client that shuts down its side before its tunnel is up has left (it could not read the reply).
    socket.on('end', () => {
      if (this.relaying || this.stage === 'done') return
      this.finish(CloseReason.CLIENT_CLOSED, 'closed before the tunnel was up')
      socket.destroy()
    })
    socket.on('close', () => {
      this.abort?.abort()
      if (!this.relaying) this.finish(CloseReason.CLIENT_CLOSED)
    })
    const ms = this.ctx.config.socks.handshakeTimeoutMs
    if (ms > 0) {
      this.handshakeTimer = this.ctx.core.clock.setTimeout(() => {
        if (this.stage === 'working' || this.stage === 'done') return
        this.refuse(new ViaductError(SocksErrors.VIADUCT_ERR_SOCKS_HANDSHAKE_TIMEOUT, `no complete SOCKS handshake within ${ms} ms`))
      }, ms)
    }
  }

  /** End the session now (gateway shutdown). */
  destroy(reason: string = CloseReason.SHUTDOWN): void {
    if (this.spliced) return this.spliced.destroy(reason)
    this.udp?.close(reason)
    this.finish(reason)
    this.socket.destroy()
  }

  private receive(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk])
    if (this.stage === 'working') {
      if (this.buf.length > MAX_EARLY_BYTES) this.socket.pause()
      return
    }
    try {
      this.step()
    } catch (err) {
      this.refuse(err)
    }
  }

  private consume(n: number): void {
    this.buf = this.buf.subarray(n)
  }

  private write(bytes: Buffer): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(bytes)
  }

  /** Advance through the handshake as far as the buffered bytes allow. */
  private step(): void {
    for (;;) {
      switch (this.stage) {
        case 'version': {
          const v = sniffVersion(this.buf)
          if (v === null) return
          this.version = v
          this.stage = v === 5 ? 'greeting' : 'request4'
          this.note({ protocol: v === 5 ? 'socks5' : 'socks4' })
          continue
        }
        case 'greeting': {
          const d = decodeGreeting(this.buf)
          if (!d) return
          this.consume(d.bytesRead)
          this.ctx.policy.checkClient(this.socket.remoteAddress)
          const method = this.chooseMethod(d.value.methods)
          this.write(encodeMethodReply(method))
          this.stage = method === Method.USERPASS ? 'auth' : 'request5'
          continue
        }
        case 'auth': {
          const d = decodeUserPass(this.buf)
          if (!d) return
          this.consume(d.bytesRead)
          if (this.ctx.auth.required) this.user = this.ctx.auth.verify(d.value.user, d.value.password)
          // RFC 1929 §2: "A STATUS field of X'00' indicates success."
          this.write(encodeAuthReply(true))
          if (this.user) this.note({ user: this.user })
          this.stage = 'request5'
          continue
        }
        case 'request5': {
          const d = decodeSocks5Request(this.buf)
          if (!d) return
          this.consume(d.bytesRead)
          this.begin({ version: 5, command: d.value.command, host: d.value.host, port: d.value.port, protocol: 'socks5' })
          return
        }
        case 'request4': {
          const d = decodeSocks4Request(this.buf)
          if (!d) return
          this.consume(d.bytesRead)
          const r = d.value
          this.note({ protocol: r.socks4a ? 'socks4a' : 'socks4', target: formatHostPort(r.host, r.port) })
          if (!this.ctx.config.socks.socks4) throw new ViaductError(SocksErrors.VIADUCT_ERR_SOCKS_DISABLED, 'SOCKS4 is disabled (forward.socks.socks4 = false)')
          this.ctx.policy.checkClient(this.socket.remoteAddress)
          this.checkSocks4User(r.userId)
          this.begin({ version: 4, command: r.command, host: r.host, port: r.port, protocol: r.socks4a ? 'socks4a' : 'socks4' })
          return
        }
        default:
          return
      }
    }
  }

  /**
   * RFC 1928 §3: "If the selected METHOD is X'FF', none of the methods listed by the client are
   * acceptable, and the client MUST close the connection." With users configured only 0x02 will do.
   * Without users, no-auth is preferred; a client that offers only 0x02 gets it and any credentials pass.
   */
  private chooseMethod(methods: number[]): number {
    if (this.ctx.auth.required) {
      if (methods.includes(Method.USERPASS)) return Method.USERPASS
      throw new ViaductError(ForwardErrors.VIADUCT_ERR_AUTH_REQUIRED, 'users are configured and the client offered no username/password method')
    }
    if (methods.includes(Method.NO_AUTH)) return Method.NO_AUTH
    if (methods.includes(Method.USERPASS)) return Method.USERPASS
    throw new ViaductError(SocksErrors.VIADUCT_ERR_SOCKS_NO_METHOD, `the client offered methods ${methods.join(',')}, none of which is no-auth or username/password`)
  }

  /**
   * SOCKS4 has no password field, only a USERID. With users configured the USERID must carry
   * "alice:password", which is checked like a SOCKS5 password; a bare "alice" (identification, not
   * authentication: anyone can send it) is admitted only with forward.socks.socks4IdentOnly. The record's
   * meta.auth says which rule admitted the session.
   */
  private checkSocks4User(userId: string): void {
    if (!this.ctx.auth.required) return
    if (userId === '') throw new ViaductError(ForwardErrors.VIADUCT_ERR_AUTH_REQUIRED, 'users are configured and the SOCKS4 USERID is empty')
    const i = userId.indexOf(':')
    const socks = this.ctx.config.socks
    if (i > 0) {
      this.user = this.ctx.auth.verify(userId.slice(0, i), userId.slice(i + 1))
      this.note({ user: this.user, meta: { auth: 'socks4 USERID name:password' } })
    } else if (!(socks.socks4IdentOnly || socks.socks4RequirePassword === false)) {
      throw new ViaductError(
        ForwardErrors.VIADUCT_ERR_AUTH_FAILED,
        'users are configured: the SOCKS4 USERID must be "name:password" (a bare user name proves nothing; forward.socks.socks4IdentOnly admits it)',
      )
    } else if (this.ctx.auth.has(userId)) {
      this.user = userId
      this.note({ user: this.user, meta: { auth: 'socks4 USERID name only (socks4IdentOnly)' } })
    } else {
      throw new ViaductError(ForwardErrors.VIADUCT_ERR_AUTH_FAILED, `SOCKS4 USERID "${userId.slice(0, 64)}" is not a configured user`)
    }
  }

  /**
   * The handshake is complete. Reading goes on while the target is dialled, so a client that leaves is
   * noticed (and the dial aborted); early data is kept, up to MAX_EARLY_BYTES, then reading pauses.
   */
  private begin(req: SocksRequest): void {
    this.stage = 'working'
    this.ctx.core.clock.clearTimeout(this.handshakeTimer)
    if (this.buf.length > MAX_EARLY_BYTES) this.socket.pause()
    this.note({ protocol: req.protocol, target: formatHostPort(req.host, req.port) })
    this.flush()
    this.run(req).catch((err) => this.refuse(err))
  }

  /** Stop buffering: the relay takes the socket over; returns what the client sent early. */
  private takeEarly(): Buffer {
    this.socket.off('data', this.onData)
    const early = this.buf
    this.buf = Buffer.alloc(0)
    return early
  }

  private async run(req: SocksRequest): Promise<void> {
    switch (req.command) {
      case Command.CONNECT:
        return this.connect(req)
      case Command.UDP_ASSOCIATE:
        if (req.version === 5 && this.ctx.config.socks.udp) return this.associate(req)
        throw new ViaductError(SocksErrors.VIADUCT_ERR_SOCKS_COMMAND, req.version === 4 ? 'SOCKS4 has no UDP ASSOCIATE' : 'UDP ASSOCIATE is disabled (forward.socks.udp = false)')
      case Command.BIND:
        if (this.ctx.config.socks.bind) return this.bind(req)
        throw new ViaductError(SocksErrors.VIADUCT_ERR_SOCKS_COMMAND, 'BIND is disabled (forward.socks.bind = false)')
      default:
        throw new ViaductError(SocksErrors.VIADUCT_ERR_SOCKS_COMMAND, `command 0x${req.command.toString(16).padStart(2, '0')} is not CONNECT, BIND or UDP ASSOCIATE`)
    }
  }

  private async connect(req: SocksRequest): Promise<void> {
    this.ctx.policy.checkDestination(req.host, req.port, true)
    this.abort = new AbortController()
    const pump = new ReadPump()
    const { socket: target, remote, onread } = await this.ctx.dialer.dial({ host: req.host, port: req.port, signal: this.abort.signal, onread: pump.onread })
    this.abort = undefined
    if (this.socket.destroyed || this.stage === 'done') {
      target.destroy()
      return
    }
    this.record.update({ meta: { remote } })
    // RFC 1928 §6: "In the reply to a CONNECT, BND.PORT contains the port number that the server assigned
    // to connect to the target host, while BND.ADDR contains the associated IP address."
    this.succeed(req, target.localAddress ?? '0.0.0.0', target.localPort ?? 0)
    const early = this.takeEarly()
    if (early.length > 0) target.write(early)
    this.relaying = true
    this.spliced = splice(this.socket, target, { onEnd: 'half-open', clock: this.ctx.core.clock, idleTimeoutMs: this.ctx.config.limits.idleTimeoutMs, pump: onread ? pump : undefined })
    this.socket.resume()
    const out = await this.spliced.done
    this.finish(out.reason, out.detail)
  }

  private async associate(req: SocksRequest): Promise<void> {
    this.record.update({ protocol: 'socks5-udp' })
    const udp = new UdpAssociation(this.ctx, this.socket, this.record, req, this.resolve)
    this.udp = udp
    const bound = await udp.open()
    if (this.socket.destroyed || this.stage === 'done') return udp.close(CloseReason.CLIENT_CLOSED)
    this.relaying = true
    // RFC 1928 §6: "In the reply to a UDP ASSOCIATE request, the BND.PORT and BND.ADDR fields indicate
    // the port number/address where the client MUST send UDP request messages to be relayed."
    this.write(encodeSocks5Reply(Reply.SUCCEEDED, bound.address, bound.port))
    // RFC 1928 §7: "A UDP association terminates when the TCP connection that the UDP ASSOCIATE request
    // arrived on terminates." Anything else sent on it is read and discarded.
    this.takeEarly()
    this.socket.on('data', () => undefined)
    this.socket.resume()
    const out = await udp.done
    this.finish(out.reason, out.detail)
    this.socket.destroy()
  }

  private async bind(req: SocksRequest): Promise<void> {
    this.abort = new AbortController()
    const result = await bindOnce(this.ctx, this.socket, req, this.abort.signal, (addr, port) => this.succeed(req, addr, port), this.resolve)
    this.abort = undefined
    if (this.socket.destroyed || this.stage === 'done') {
      result.socket.destroy()
      return
    }
    this.record.update({ peer: result.peer })
    this.succeed(req, result.socket.remoteAddress ?? '0.0.0.0', result.socket.remotePort ?? 0)
    const early = this.takeEarly()
    if (early.length > 0) result.socket.write(early)
    this.relaying = true
    this.spliced = splice(this.socket, result.socket, { onEnd: 'half-open', clock: this.ctx.core.clock, idleTimeoutMs: this.ctx.config.limits.idleTimeoutMs })
    this.socket.resume()
    const out = await this.spliced.done
    this.finish(out.reason, out.detail)
  }

  private succeed(req: SocksRequest, address: string, port: number): void {
    const ip = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address
    if (req.version === 5) this.write(encodeSocks5Reply(Reply.SUCCEEDED, ip, port))
    else this.write(encodeSocks4Reply(Socks4Reply.GRANTED, port, ip))
  }

  /** Answer an error with the protocol's reply for the current stage, then close. */
  private refuse(err: unknown): void {
    if (this.stage === 'done') return
    const e = isViaductError(err) ? err : new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_FAILED, (err as Error)?.message ?? String(err), { cause: err })
    if (this.version === 5) {
      if (this.stage === 'greeting') {
        // "no acceptable methods" is the only refusal a greeting has: for a client that may not use the
        // proxy, one that offers no usable method, and a malformed greeting alike.
        this.write(encodeMethodReply(Method.NO_ACCEPTABLE))
      } else if (this.stage === 'auth') {
        // RFC 1929 §2: "If the server returns a `failure' (STATUS value other than X'00') status, it MUST
        // close the connection."
        this.write(encodeAuthReply(false))
      } else if ((this.stage === 'request5' || this.stage === 'working') && e.wire.socks5 !== undefined) {
        this.write(encodeSocks5Reply(e.wire.socks5))
      }
    } else if (this.version === 4 && (this.stage === 'request4' || this.stage === 'working') && e.wire.socks4 !== undefined) {
      this.write(encodeSocks4Reply(e.wire.socks4))
    }
    this.finish(e.code, e.message)
    const s = this.socket
    s.off('data', this.onData)
    s.on('data', () => undefined) // drain whatever else arrives until the close
    s.resume()
    s.end()
    const t = setTimeout(() => s.destroy(), LINGER_MS)
    t.unref()
    s.once('close', () => clearTimeout(t))
  }

  /** Collect record changes during the handshake; one update at its end (a busy proxy opens thousands a second). */
  private note(patch: SessionPatch): void {
    Object.assign(this.pending, patch)
  }

  private flush(): void {
    if (Object.keys(this.pending).length === 0) return
    this.record.update(this.pending)
    this.pending = {}
  }

  private finish(reason: string, detail?: string): void {
    if (this.stage === 'done') return
    this.stage = 'done'
    this.flush()
    this.ctx.core.clock.clearTimeout(this.handshakeTimer)
    this.abort?.abort()
    this.record.close(reason, detail)
    this.onEnd(this)
  }
}
