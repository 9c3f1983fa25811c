/**
 * BIND (RFC 1928 §4 and SOCKS4): for protocols where the server connects back to the client (active
 * FTP). The proxy listens on one port for ONE incoming connection from the address the client names.
 *
 * RFC 1928 §6: "Two replies are sent from the SOCKS server to the client during a BIND operation. The
 * first is sent after the server creates and binds a new socket. The BND.PORT field contains the port
 * number that the SOCKS server assigned to listen for an incoming connection. The BND.ADDR field
 * contains the associated IP address. The second reply occurs only after the anticipated incoming
 * connection succeeds or fails. In the second reply, the BND.PORT and BND.ADDR fields contain the
 * address and port number of the connecting host."
 */
import { createServer, isIP, type Socket } from 'node:net'
import { ViaductError } from '../../../src/core/errors.js'
import { normalizeIp } from '../../../src/core/net-policy.js'
import { formatHostPort, listenTcp, remoteOf } from '../../../src/core/service.js'
import type { ForwardContext } from '../context.js'
import { mapDialError } from '../dial.js'
import { ForwardErrors } from '../errors.js'
import type { SocksRequest } from './session.js'
import { systemResolve, type Resolver } from './udp.js'

export interface BindResult {
  socket: Socket
  /** The connecting host, "ip:port". */
  peer: string
}

export async function bindOnce(
  ctx: ForwardContext,
  client: Socket,
  req: SocksRequest,
  signal: AbortSignal,
  firstReply: (address: string, port: number) => void,
  resolve: Resolver = systemResolve,
): Promise<BindResult> {
  // "the SOCKS server checks the IP address of the originating host against the value of DSTIP" (SOCKS4);
  // RFC 1928 §4: "The SOCKS server will typically evaluate the DST.ADDR and DST.PORT fields".
  ctx.policy.checkDestination(req.host, req.port === 0 ? 1 : req.port, false)
  const bare = req.host.replace(/^\[|\]$/g, '')
  let expected: string
  try {
    expected = isIP(bare) ? bare : ((await resolve(bare))[0] ?? '')
    if (!expected) throw new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_DNS, `${req.host}: no addresses`)
  } catch (err) {
    throw mapDialError(err, req.host)
  }
  const exp = normalizeIp(expected)!.ip
  ctx.policy.checkAddress(exp, req.port === 0 ? 1 : req.port, req.host)

  const server = createServer({ allowHalfOpen: true, noDelay: true })
  const local = normalizeIp(client.localAddress ?? '127.0.0.1')?.ip ?? '127.0.0.1'
  const bound = await listenTcp(server, { host: local, port: 0 })
  const timeoutMs = ctx.config.socks.bindTimeoutMs
  return new Promise<BindResult>((resolve, reject) => {
    let timer: ReturnType<typeof ctx.core.clock.setTimeout> | undefined
    const finish = (err: Error | null, sock?: Socket) => {
      ctx.core.clock.clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      server.close()
      if (err) reject(err)
      else resolve({ socket: sock!, peer: remoteOf(sock!) })
    }
    const onAbort = () => finish(new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_TIMEOUT, 'client closed while waiting for the BIND connection'))
    server.on('connection', (sock) => {
      // only the named host may connect; anyone else is turned away and the wait goes on
      if (normalizeIp(sock.remoteAddress ?? '')?.ip !== exp) {
        sock.destroy()
        return
      }
      finish(null, sock)
    })
    server.on('error', (err) => finish(mapDialError(err, 'bind listener')))
    if (timeoutMs > 0) {
      timer = ctx.core.clock.setTimeout(
        () => finish(new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_TIMEOUT, `no connection from ${formatHostPort(exp, req.port)} within ${timeoutMs} ms`)),
        timeoutMs,
      )
    }
    if (signal.aborted) return onAbort()
    signal.addEventListener('abort', onAbort, { once: true })
    firstReply(bound.address, bound.port)
  })
}
