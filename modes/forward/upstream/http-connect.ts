/**
 * CONNECT through an HTTP upstream proxy (RFC 9110 §9.3.6). The response-head parser is pure: bytes in,
 * null (need more) or { value, bytesRead } or a ViaductError when the head is malformed or too long.
 */
import type { Socket } from 'node:net'
import { ViaductError } from '../../../src/core/errors.js'
import { formatHostPort } from '../../../src/core/service.js'
import { ForwardErrors } from '../errors.js'
import type { Decoded } from '../socks/codec.js'

export const MAX_CONNECT_HEAD_BYTES = 16_384

export interface ConnectResponse {
  status: number
  reason: string
}

/** "HTTP/1.1 200 Connection established\r\n...\r\n\r\n" */
export function decodeConnectResponse(buf: Uint8Array): Decoded<ConnectResponse> | null {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length)
  const end = b.indexOf('\r\n\r\n')
  if (end < 0) {
    if (b.length > MAX_CONNECT_HEAD_BYTES) throw new ViaductError(ForwardErrors.VIADUCT_ERR_UPSTREAM_FAILED, `upstream response head longer than ${MAX_CONNECT_HEAD_BYTES} bytes`)
    return null
  }
  if (end > MAX_CONNECT_HEAD_BYTES) throw new ViaductError(ForwardErrors.VIADUCT_ERR_UPSTREAM_FAILED, `upstream response head longer than ${MAX_CONNECT_HEAD_BYTES} bytes`)
  const line = b.subarray(0, b.indexOf('\r\n')).toString('latin1')
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(line)
  if (!m) throw new ViaductError(ForwardErrors.VIADUCT_ERR_UPSTREAM_FAILED, `upstream answered "${line.slice(0, 80)}", not an HTTP status line`)
  return { value: { status: Number(m[1]), reason: m[2] ?? '' }, bytesRead: end + 4 }
}

/** What a non-2xx answer to CONNECT means for our client. */
export function connectStatusError(status: number, reason: string, what: string): ViaductError {
  const msg = `${what}: upstream answered ${status} ${reason}`.trim()
  if (status === 407) return new ViaductError(ForwardErrors.VIADUCT_ERR_UPSTREAM_AUTH, msg)
  if (status === 504) return new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_TIMEOUT, msg)
  // a refusal by the upstream's rules is a ruleset refusal for a SOCKS client too
  if (status === 403) return new ViaductError(ForwardErrors.VIADUCT_ERR_UPSTREAM_FAILED, msg, { wire: { socks5: 0x02 } })
  return new ViaductError(ForwardErrors.VIADUCT_ERR_UPSTREAM_FAILED, msg)
}

export function basicAuthorization(user: string, password = ''): string {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`
}

/** Send CONNECT on an open socket to the upstream and wait for its answer; bytes after the head are unshifted. */
export function httpConnect(socket: Socket, host: string, port: number, authorization: string | undefined, timeoutMs: number, signal?: AbortSignal): Promise<Socket> {
  const authority = formatHostPort(host, port)
  const what = `${authority} via http upstream`
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0)
    let timer: NodeJS.Timeout | undefined
    const cleanup = () => {
      if (timer) clearTimeout(timer)
      socket.off('data', onData)
      socket.off('error', onError)
      socket.off('close', onClose)
      signal?.removeEventListener('abort', onAbort)
    }
    const fail = (err: ViaductError) => {
      cleanup()
      socket.destroy()
      reject(err)
    }
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      let d
      try {
        d = decodeConnectResponse(buf)
      } catch (err) {
        return fail(err as ViaductError)
      }
      if (!d) return
      if (d.value.status < 200 || d.value.status > 299) return fail(connectStatusError(d.value.status, d.value.reason, what))
      cleanup()
      socket.pause()
      const rest = buf.subarray(d.bytesRead)
      if (rest.length > 0) socket.unshift(rest)
      resolve(socket)
    }
    const onError = (err: Error) => fail(new ViaductError(ForwardErrors.VIADUCT_ERR_UPSTREAM_FAILED, `${what}: ${err.message}`, { cause: err }))
    const onClose = () => fail(new ViaductError(ForwardErrors.VIADUCT_ERR_UPSTREAM_FAILED, `${what}: upstream closed the connection before answering CONNECT`))
    const onAbort = () => fail(new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_TIMEOUT, `${what}: aborted`))
    if (timeoutMs > 0) timer = setTimeout(() => fail(new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_TIMEOUT, `${what}: no answer to CONNECT within ${timeoutMs} ms`)), timeoutMs)
    if (signal?.aborted) return onAbort()
    signal?.addEventListener('abort', onAbort, { once: true })
    socket.on('data', onData)
    socket.on('error', onError)
    socket.on('close', onClose)
    const head = [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`]
    if (authorization) head.push(`Proxy-Authorization: ${authorization}`)
    socket.write(`${head.join('\r\n')}\r\n\r\n`)
  })
}
