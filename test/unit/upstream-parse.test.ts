/** Upstream URLs, the CONNECT response-head parser, and the mapping of upstream answers onto our codes. */
import t from 'tap'
import fc from 'fast-check'
import { ViaductError } from '../../src/core/errors.js'
import { parseUpstream, redactUpstream, resolvesRemotely } from '../../modes/forward/upstream/url.js'
import { connectStatusError, decodeConnectResponse, MAX_CONNECT_HEAD_BYTES } from '../../modes/forward/upstream/http-connect.js'
import { mapSocksClientError } from '../../modes/forward/upstream/socks.js'
import { UpstreamDialer, createDialer } from '../../modes/forward/upstream/index.js'
import { AccessPolicy } from '../../modes/forward/access.js'
import { forwardSchema } from '../../modes/forward/config.js'
import type { Dialer } from '../../modes/forward/dial.js'

t.test('parseUpstream', async (t) => {
  t.same(parseUpstream('socks5h://u%40x:p%3Aw@127.0.0.1:1081'), { kind: 'socks5h', host: '127.0.0.1', port: 1081, user: 'u@x', password: 'p:w' })
  t.same(parseUpstream('http://[::1]:3128'), { kind: 'http', host: '::1', port: 3128 })
  t.same(parseUpstream('socks4://proxy.lan'), { kind: 'socks4', host: 'proxy.lan', port: 1080 })
  t.throws(() => parseUpstream('ftp://x:1'), /scheme/)
  t.throws(() => parseUpstream('http://x:1/path'), /no path/)
  t.throws(() => parseUpstream('nonsense'), /not a URL/)
  t.equal(redactUpstream(parseUpstream('socks5://alice:secret@h:1')), 'socks5://alice:***@h:1')
  t.ok(resolvesRemotely('socks5h') && resolvesRemotely('socks4a') && resolvesRemotely('http'))
  t.notOk(resolvesRemotely('socks5') || resolvesRemotely('socks4'))
  t.throws(() => forwardSchema.parse({ upstream: 'gopher://x:1' }), /scheme/, 'the config refuses a bad upstream')
  t.equal(forwardSchema.parse({ upstream: 'socks5://127.0.0.1:1' }).upstream, 'socks5://127.0.0.1:1')
})

t.test('CONNECT response head', async (t) => {
  t.same(decodeConnectResponse(Buffer.from('HTTP/1.1 200 Connection established\r\n\r\nEXTRA')), { value: { status: 200, reason: 'Connection established' }, bytesRead: 39 })
  t.same(decodeConnectResponse(Buffer.from('HTTP/1.0 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n'))?.value.status, 407)
  t.equal(decodeConnectResponse(Buffer.from('HTTP/1.1 200 OK\r\n')), null)
  t.throws(() => decodeConnectResponse(Buffer.from('SSH-2.0-OpenSSH\r\n\r\n')), ViaductError)
  t.throws(() => decodeConnectResponse(Buffer.alloc(MAX_CONNECT_HEAD_BYTES + 1, 0x41)), /longer than/)
  t.equal(connectStatusError(407, '', 'x').code, 'VIADUCT_ERR_UPSTREAM_AUTH')
  t.equal(connectStatusError(504, '', 'x').code, 'VIADUCT_ERR_TARGET_TIMEOUT')
  t.equal(connectStatusError(403, '', 'x').wire.socks5, 0x02)
  t.equal(connectStatusError(502, '', 'x').code, 'VIADUCT_ERR_UPSTREAM_FAILED')
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (u) => {
      try {
        const d = decodeConnectResponse(Buffer.from(u))
        return d === null || (d.value.status >= 100 && d.value.status <= 999)
      } catch (e) {
        return e instanceof ViaductError
      }
    }),
  )
})

t.test('upstream SOCKS errors keep their meaning', async (t) => {
  const cases: Array<[string, string, number]> = [
    ['Socks5 proxy rejected connection - ConnectionRefused', 'VIADUCT_ERR_TARGET_REFUSED', 0x05],
    ['Socks5 proxy rejected connection - HostUnreachable', 'VIADUCT_ERR_TARGET_UNREACHABLE', 0x04],
    ['Socks5 proxy rejected connection - NetworkUnreachable', 'VIADUCT_ERR_TARGET_NETWORK', 0x03],
    ['Socks5 proxy rejected connection - TTLExpired', 'VIADUCT_ERR_TARGET_TIMEOUT', 0x04],
    ['Socks5 proxy rejected connection - NotAllowed', 'VIADUCT_ERR_UPSTREAM_FAILED', 0x02],
    ['Socks5 Authentication failed', 'VIADUCT_ERR_UPSTREAM_AUTH', 0x01],
    ['Received invalid Socks5 initial handshake (no accepted authentication type)', 'VIADUCT_ERR_UPSTREAM_AUTH', 0x01],
    ['Proxy connection timed out', 'VIADUCT_ERR_TARGET_TIMEOUT', 0x04],
    ['Socks4 Proxy rejected connection - (Rejected)', 'VIADUCT_ERR_UPSTREAM_FAILED', 0x01],
    ['Socket closed', 'VIADUCT_ERR_UPSTREAM_FAILED', 0x01],
  ]
  for (const [msg, code, rep] of cases) {
    const e = mapSocksClientError(msg, 'x')
    t.equal(e.code, code, msg)
    t.equal(e.wire.socks5, rep, `${msg}: SOCKS5 reply`)
  }
})

t.test('per-destination rules and the HTTP upstream hook', async (t) => {
  const cfg = forwardSchema.parse({ upstream: 'http://bob:pw@127.0.0.1:3128', direct: ['*.internal', '10.0.0.0/8', 'intranet'] })
  const policy = new AccessPolicy(cfg.access)
  const direct: Dialer = { dial: async () => Promise.reject(new Error('unused')) }
  const d = createDialer(cfg, direct, policy) as UpstreamDialer
  t.ok(d instanceof UpstreamDialer)
  t.ok(d.isDirect('db.internal'))
  t.ok(d.isDirect('10.1.2.3'))
  t.ok(d.isDirect('intranet'))
  t.notOk(d.isDirect('example.com'))
  t.same(d.httpUpstreamFor('example.com', 80), { host: '127.0.0.1', port: 3128, authorization: `Basic ${Buffer.from('bob:pw').toString('base64')}` })
  t.equal(d.httpUpstreamFor('db.internal', 80), undefined, 'direct destinations are not forwarded upstream')
  const s = createDialer(forwardSchema.parse({ upstream: 'socks5://127.0.0.1:1' }), direct, policy)
  t.equal(s.httpUpstreamFor?.('example.com', 80), undefined, 'a SOCKS upstream takes plain HTTP through dial()')
  t.equal(createDialer(forwardSchema.parse({}), direct, policy), direct, 'no upstream: the direct dialer')
})
