/**
 * CONNECT through a SOCKS4/4a/5 upstream with the `socks` client library, on a socket we opened (so the
 * connect timeout and abort signal are ours), and the upstream's reply mapped onto our codes so the
 * client gets the same refusal (0x05 stays "refused", 0x04 "host unreachable", ...).
 */
import type { Socket } from 'node:net'
import { SocksClient, type SocksClientOptions } from 'socks'
import { ViaductError } from '../../../src/core/errors.js'
import { formatHostPort } from '../../../src/core/service.js'
import { ForwardErrors } from '../errors.js'
import type { UpstreamProxy } from './url.js'

/** Map the `socks` library's error text (it names the upstream's reply) onto a forward code. */
export function mapSocksClientError(message: string, what: string): ViaductError {
  const msg = `${what}: ${message}`
  const reply = /- \(?(\w+)\)?$/.exec(message)?.[1]
  switch (reply) {
    case 'ConnectionRefused':
      return new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_REFUSED, msg)
    case 'HostUnreachable':
      return new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_UNREACHABLE, msg)
    case 'NetworkUnreachable':
      return new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_NETWORK, msg)
    case 'TTLExpired':
      return new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_TIMEOUT, msg)
    case 'NotAllowed':
      return new ViaductError(ForwardErrors.VIADUCT_ERR_UPSTREAM_FAILED, msg, { wire: { socks5: 0x02 } })
    case 'CommandNotSupported':
    case 'AddressNotSupported':
    case 'Failure':
      return new ViaductError(ForwardErrors.VIADUCT_ERR_UPSTREAM_FAILED, msg)
  }
  if (/authentication failed|no accepted authentication type/i.test(message)) return new ViaductError(ForwardErrors.VIADUCT_ERR_UPSTREAM_AUTH, msg)
  if (/timed out/i.test(message)) return new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_TIMEOUT, msg)
  return new ViaductError(ForwardErrors.VIADUCT_ERR_UPSTREAM_FAILED, msg)
}

/**
 * Negotiate CONNECT to host:port on `socket` (already connected to the upstream). `host` is an IP when
 * we resolved it ourselves (socks4://, socks5://) or a name the upstream resolves (socks4a://, socks5h://).
 */
export function socksConnect(socket: Socket, up: UpstreamProxy, host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<Socket> {
  const what = `${formatHostPort(host, port)} via ${up.kind} upstream`
  const type = up.kind === 'socks4' || up.kind === 'socks4a' ? 4 : 5
  const opts: SocksClientOptions = {
    command: 'connect',
    destination: { host, port },
    proxy: {
      host: up.host,
      port: up.port,
      type,
      ...(type === 4 ? { userId: up.password !== undefined ? `${up.user ?? ''}:${up.password}` : up.user } : { userId: up.user, password: up.password }),
    },
    timeout: timeoutMs > 0 ? timeoutMs : 30_000,
    existing_socket: socket,
  }
  return new Promise((resolve, reject) => {
    const client = new SocksClient(opts)
    const onAbort = () => {
      socket.destroy()
      reject(new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_TIMEOUT, `${what}: aborted`))
    }
    if (signal?.aborted) return onAbort()
    signal?.addEventListener('abort', onAbort, { once: true })
    client.once('error', (err: Error) => {
      signal?.removeEventListener('abort', onAbort)
      socket.destroy()
      reject(mapSocksClientError(err.message, what))
    })
    client.once('established', (info: { socket: Socket }) => {
      signal?.removeEventListener('abort', onAbort)
      // The library keeps bytes that arrived with the reply in its receive buffer and never hands them
      // on (a server-first protocol's banner); give them back to the socket.
      const rb = (client as unknown as { receiveBuffer?: { length: number; get(n: number): Buffer } }).receiveBuffer
      if (rb && rb.length > 0) info.socket.unshift(rb.get(rb.length))
      resolve(info.socket)
    })
    client.connect(socket)
  })
}
