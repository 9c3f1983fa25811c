/**
 * One port for HTTP proxy and SOCKS4/5 (forward.mixed.listen, off by default).
 *
 * The first byte decides: 0x04 or 0x05 is a SOCKS version (no HTTP method starts with a control byte),
 * anything else goes to the HTTP proxy. The byte is read, then unshifted, so the chosen handler sees the
 * connection from its first byte. A client that sends nothing within forward.mixed.firstByteTimeoutMs is
 * closed (server-first protocols are not served here).
 */
import { createServer, type Server, type Socket } from 'node:net'
import { defineErrors } from '../../src/core/errors.js'
import { listenTcp, once, remoteOf, stopAccepting, type ListenerInfo } from '../../src/core/service.js'
import { MODE_NAME, type ForwardContext, type ForwardService, type SocketAcceptor } from './context.js'

export const MixedErrors = defineErrors({
  VIADUCT_ERR_MIXED_TIMEOUT: { message: 'the client sent nothing on the mixed port in time' },
})

/** Which handler a first byte belongs to. */
export function sniffMixed(firstByte: number): 'socks' | 'http' {
  return firstByte === 0x04 || firstByte === 0x05 ? 'socks' : 'http'
}

export class MixedListener implements ForwardService {
  private server: Server | undefined
  /** Sockets still waiting for their first byte (handed-over ones belong to their handler). */
  private readonly waiting = new Set<Socket>()

  constructor(
    readonly ctx: ForwardContext,
    readonly http: SocketAcceptor,
    readonly socks: SocketAcceptor,
  ) {}

  async listen(): Promise<ListenerInfo[]> {
    const at = this.ctx.config.mixed.listen
    if (!at) return []
    // the same socket options as the HTTP server (http.Server uses allowHalfOpen) and the SOCKS server
    const server = createServer({ allowHalfOpen: true, noDelay: true })
    server.on('connection', (s) => this.sniff(s))
    this.server = server
    const a = await listenTcp(server, at)
    return [{ ...a, listener: 'mixed', transport: 'tcp', mode: MODE_NAME }]
  }

  private sniff(socket: Socket): void {
    this.waiting.add(socket)
    socket.once('close', () => this.waiting.delete(socket))
    const clock = this.ctx.core.clock
    const ms = this.ctx.config.mixed.firstByteTimeoutMs
    const onError = () => done()
    const onEnd = () => {
      done()
      socket.destroy()
    }
    const timer =
      ms > 0
        ? clock.setTimeout(() => {
            done()
            const rec = this.ctx.core.ledger.open({ mode: MODE_NAME, protocol: 'mixed', client: remoteOf(socket), listener: 'mixed' })
            rec.close(MixedErrors.VIADUCT_ERR_MIXED_TIMEOUT, `no byte within ${ms} ms`)
            socket.destroy()
          }, ms)
        : undefined
    const onReadable = () => {
      const chunk = socket.read() as Buffer | null
      if (chunk === null || chunk.length === 0) return
      done()
      socket.unshift(chunk)
      const to = sniffMixed(chunk[0]) === 'socks' ? this.socks : this.http
      to.accept(socket, 'mixed')
    }
    const done = () => {
      this.waiting.delete(socket)
      clock.clearTimeout(timer)
      socket.off('readable', onReadable)
      socket.off('error', onError)
      socket.off('end', onEnd)
    }
    socket.on('error', onError)
    socket.on('end', onEnd)
    socket.on('readable', onReadable)
  }

  // The handlers own the sessions handed to them; the mode closes them with the mode (mode.ts), even
  // when their own listeners are off. This listener only owns the sockets still waiting for a byte.
  close = once(async () => {
    if (this.server) await stopAccepting(this.server)
    for (const s of this.waiting) s.destroy()
  })

  destroy = once(async () => {
    if (this.server) await stopAccepting(this.server)
    for (const s of this.waiting) s.destroy()
  })
}
