/**
 * A minimal pairing-relay TCP peer for the contrast benchmark and `viaduct demo`: connect, send the hello,
 * read statuses until PAIRED (or a refusal), and hand back the socket carrying the peer's bytes.
 * It uses the relay's own codecs (docs/relay-protocol.md); the package's peer client does more.
 */
import { connect, type Socket } from 'node:net'
import { encodeHello } from '../modes/relay/pairing/hello.js'
import { decodeStatus } from '../modes/relay/pairing/status.js'
import { mintToken } from '../modes/relay/pairing/token.js'
import { Side, Status } from '../modes/relay/pairing/constants.js'


export { mintToken }

/** Connect to the relay at host:port and pair in `room` as `side`; rejects on a refusal or after timeoutMs. */
export function pairTcp(opts: { host: string; port: number; room: string; token: string; side: 'A' | 'B'; timeoutMs?: number }): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: opts.host, port: opts.port })
    sock.setNoDelay(true)
    let buf: Buffer = Buffer.alloc(0)
    const timer = setTimeout(() => fail(new Error(`no pairing in ${opts.timeoutMs ?? 10_000} ms (room ${opts.room})`)), opts.timeoutMs ?? 10_000)
    function fail(err: Error) {
      clearTimeout(timer)
      sock.destroy()
      reject(err)
    }
    const onData = (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk
      if (buf.length > 4096) return fail(new Error('status too long'))
      for (;;) {
        let d: ReturnType<typeof decodeStatus>
        try {
          d = decodeStatus(buf)
        } catch (err) {
          return fail(err as Error)
        }
        if (!d) return
        buf = buf.subarray(d.bytesRead)
        if (d.value.status === Status.WAITING) continue
        if (d.value.status === Status.PAIRED) {
          clearTimeout(timer)
          sock.off('data', onData)
          sock.off('error', fail)
          sock.pause()
          if (buf.length) sock.unshift(buf)
          return resolve(sock)
        }
        return fail(new Error(`pairing refused with status ${d.value.status}: ${'message' in d.value ? d.value.message : ''}`))
      }
    }
    sock.on('data', onData)
    sock.on('error', fail)
    sock.once('close', () => fail(new Error('the relay closed the connection before pairing')))
    sock.once('connect', () => sock.write(encodeHello({ id: opts.room, token: opts.token, side: opts.side === 'A' ? Side.A : Side.B })))
    // Once paired, 'close' must not reject any more: resolve() made reject a no-op.
  })
}

/** Pair two TCP peers in a fresh room; returns [A, B]. */
export async function pairTwo(host: string, port: number, secret: string, room: string): Promise<[Socket, Socket]> {
  const token = mintToken({ secret, room, ttlS: 600, nowMs: Date.now() })
  const a = pairTcp({ host, port, room, token, side: 'A' })
  const b = pairTcp({ host, port, room, token, side: 'B' })
  const [sa, sb] = await Promise.allSettled([a, b])
  if (sa.status === 'rejected' || sb.status === 'rejected') {
    if (sa.status === 'fulfilled') sa.value.destroy()
    if (sb.status === 'fulfilled') sb.value.destroy()
    throw (sa.status === 'rejected' ? sa.reason : (sb as PromiseRejectedResult).reason) as Error
  }
  return [sa.value, sb.value]
}
