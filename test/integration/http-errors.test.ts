/**
 * Every error answer of the HTTP proxy: a status, a short body naming the cause, a ledger close reason, and
 * the proxy still serving other clients afterwards.
 */
import t from 'tap'
import fc from 'fast-check'
import { settle } from '../helpers/gateway.js'
import { rawExchange, rawSocket, readUntil, startOrigin, startProxy } from '../helpers/http-origin.js'
import { closedPort } from '../helpers/socks-fixtures.js'

function status(text: string): number {
  return Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0)
}

const get = (url: string, extra = '') => `GET ${url} HTTP/1.1\r\nHost: x\r\n${extra}Connection: close\r\n\r\n`

t.test('400 for malformed requests, each recorded once', async (t) => {
  const proxy = await startProxy(t)
  const origin = await startOrigin(t)
  const cases: Array<[string, string, string]> = [
    ['garbage request line', 'HELLO THERE\r\n\r\n', 'VIADUCT_ERR_HTTP_MALFORMED'],
    ['Content-Length with Transfer-Encoding', `POST ${origin.url}/ HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 'VIADUCT_ERR_HTTP_MALFORMED'],
    ['two different Content-Length', `POST ${origin.url}/ HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd`, 'VIADUCT_ERR_HTTP_MALFORMED'],
    ['obs-fold', `GET ${origin.url}/ HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n`, 'VIADUCT_ERR_HTTP_MALFORMED'],
    ['userinfo in URL', get(`http://user@127.0.0.1:${origin.port}/`), 'VIADUCT_ERR_HTTP_MALFORMED'],
    ['bad host', get('http://exa%6dple.com/'), 'VIADUCT_ERR_HTTP_MALFORMED'],
    ['two Host fields', `GET ${origin.url}/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n`, 'VIADUCT_ERR_HTTP_MALFORMED'],
    ['https in absolute form', get('https://127.0.0.1/'), 'VIADUCT_ERR_HTTP_SCHEME'],
    ['no Host in HTTP/1.1', `GET ${origin.url}/ HTTP/1.1\r\n\r\n`, 'VIADUCT_ERR_HTTP_MALFORMED'],
  ]
  for (const [name, req, code] of cases) {
    const r = await rawExchange(proxy.port, req)
    t.equal(status(r.text), 400, `${name}: 400`)
    t.match(r.text, code, `${name}: body names ${code}`)
  }
  const recs = await settle(proxy.gw)
  t.equal(recs.filter((x) => x.reason === 'VIADUCT_ERR_HTTP_MALFORMED').length, cases.length - 1, 'one record per malformed request')
  const ok = await rawExchange(proxy.port, get(`${origin.url}/after`))
  t.equal(status(ok.text), 200, 'the proxy still serves')
})

t.test('origin-form: info page for GET /, 400 otherwise or when the page is off', async (t) => {
  const proxy = await startProxy(t)
  const page = await rawExchange(proxy.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  t.equal(status(page.text), 200)
  t.match(page.text, /Viaduct HTTP proxy/)
  t.match(page.text, new RegExp(`127\\.0\\.0\\.1:${proxy.port}`), 'the page names the proxy address')
  const other = await rawExchange(proxy.port, 'GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  t.equal(status(other.text), 400)
  t.match(other.text, /VIADUCT_ERR_HTTP_ORIGIN_FORM/)
  const off = await startProxy(t, { http: { infoPage: false } })
  const r = await rawExchange(off.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  t.equal(status(r.text), 400)
})

t.test('403 for denied destinations, private addresses and CONNECT ports; 508 for loops', async (t) => {
  const origin = await startOrigin(t)
  const proxy = await startProxy(t, { access: { denyHosts: ['*.blocked.test', '127.0.0.2/32'], connectPorts: ['443'] } })
  const deny = await rawExchange(proxy.port, get('http://a.blocked.test/'))
  t.equal(status(deny.text), 403)
  t.match(deny.text, /VIADUCT_ERR_ACCESS_DESTINATION/)
  const denyIp = await rawExchange(proxy.port, get(`http://127.0.0.2:${origin.port}/`))
  t.match(denyIp.text, /^HTTP\/1\.1 403[\s\S]*VIADUCT_ERR_ACCESS_DESTINATION/)
  const port = await rawExchange(proxy.port, `CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`)
  t.match(port.text, /^HTTP\/1\.1 403[\s\S]*VIADUCT_ERR_ACCESS_PORT/)
  t.ok(port.closed, 'a refused CONNECT closes the connection')
  const loop = await rawExchange(proxy.port, get(`http://127.0.0.1:${proxy.port}/`))
  t.match(loop.text, /^HTTP\/1\.1 508[\s\S]*VIADUCT_ERR_ACCESS_LOOP/)
  const strict = await startProxy(t, { access: { allowPrivate: [] } })
  const priv = await rawExchange(strict.port, get(`${origin.url}/`))
  t.match(priv.text, /^HTTP\/1\.1 403[\s\S]*VIADUCT_ERR_ACCESS_PRIVATE/)
  const privName = await rawExchange(strict.port, get(`http://localhost:${origin.port}/`))
  t.match(privName.text, /^HTTP\/1\.1 403[\s\S]*VIADUCT_ERR_ACCESS_PRIVATE/, 'a name resolving to loopback is caught after DNS')
  const recs = await settle(proxy.gw)
  t.ok(recs.some((r) => r.reason === 'VIADUCT_ERR_ACCESS_PORT' && r.protocol === 'connect'))
})

t.test('403 for a client outside forward.access.clients', async (t) => {
  const proxy = await startProxy(t, { access: { clients: ['10.0.0.0/8'] } })
  const r = await rawExchange(proxy.port, get('http://example.test/'))
  t.match(r.text, /^HTTP\/1\.1 403[\s\S]*VIADUCT_ERR_ACCESS_CLIENT/)
})

t.test('502 unknown host (a .invalid name, answered without DNS), 502 refused, 504 timeout', async (t) => {
  const proxy = await startProxy(t, { http: { responseTimeoutMs: 300 } })
  const dns = await rawExchange(proxy.port, get('http://nowhere.invalid/'))
  t.match(dns.text, /^HTTP\/1\.1 502[\s\S]*VIADUCT_ERR_TARGET_DNS/)
  const dnsTunnel = await rawExchange(proxy.port, 'CONNECT nowhere.invalid:443 HTTP/1.1\r\nHost: nowhere.invalid:443\r\n\r\n')
  t.match(dnsTunnel.text, /^HTTP\/1\.1 502[\s\S]*VIADUCT_ERR_TARGET_DNS/)
  const port = await closedPort()
  const refused = await rawExchange(proxy.port, get(`http://127.0.0.1:${port}/`))
  t.match(refused.text, /^HTTP\/1\.1 502[\s\S]*VIADUCT_ERR_TARGET_REFUSED/)
  const refusedTunnel = await rawExchange(proxy.port, `CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: x\r\n\r\n`)
  t.match(refusedTunnel.text, /^HTTP\/1\.1 502[\s\S]*VIADUCT_ERR_TARGET_REFUSED/)
  const silent = await startOrigin(t, () => undefined)
  const t0 = Date.now()
  const timeout = await rawExchange(proxy.port, get(`${silent.url}/`))
  t.match(timeout.text, /^HTTP\/1\.1 504[\s\S]*VIADUCT_ERR_TARGET_TIMEOUT/)
  t.ok(Date.now() - t0 < 2500, 'answered after about responseTimeoutMs')
  const recs = await settle(proxy.gw)
  for (const code of ['VIADUCT_ERR_TARGET_DNS', 'VIADUCT_ERR_TARGET_REFUSED', 'VIADUCT_ERR_TARGET_TIMEOUT']) t.ok(recs.some((r) => r.reason === code), `ledger has ${code}`)
})

t.test('origin reset mid-body: the client connection is closed, not left hanging', async (t) => {
  const origin = await startOrigin(t, (_req, res) => {
    res.writeHead(200, { 'Content-Length': '100000' })
    res.write(Buffer.alloc(1000, 97), () => setTimeout(() => res.socket?.destroy(), 50))
  })
  const proxy = await startProxy(t)
  const s = await rawSocket(proxy.port)
  s.write(`GET ${origin.url}/ HTTP/1.1\r\nHost: x\r\n\r\n`)
  const t0 = Date.now()
  const text = await readUntil(s, () => false, 5000)
  t.ok(s.destroyed || s.readableEnded, 'client connection closed')
  t.ok(Date.now() - t0 < 4000, 'promptly')
  t.match(text, /^HTTP\/1\.1 200/)
  t.ok(text.length < 100000, 'truncated body')
  const recs = await settle(proxy.gw)
  t.ok(recs.some((r) => r.reason === 'VIADUCT_ERR_TARGET_RESET'), 'ledger reason TARGET_RESET')
})

t.test('431 for an oversized head, 408 for a slow head', async (t) => {
  const proxy = await startProxy(t, { http: { maxHeaderBytes: 2048 }, limits: { headerTimeoutMs: 300 } })
  const big = await rawExchange(proxy.port, `GET http://a.test/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(4000)}\r\n\r\n`)
  t.match(big.text, /^HTTP\/1\.1 431[\s\S]*VIADUCT_ERR_HTTP_HEADERS_TOO_LARGE/)
  const s = await rawSocket(proxy.port)
  s.write('GET http://a.test/ HTTP/1.1\r\nHost: x\r\n')
  const t0 = Date.now()
  const slow = await readUntil(s, () => false, 3000)
  t.match(slow, /^HTTP\/1\.1 408[\s\S]*VIADUCT_ERR_HTTP_HEADER_TIMEOUT/)
  t.ok(Date.now() - t0 < 2000, 'within the header timeout and a check period')
  const recs = await settle(proxy.gw)
  t.ok(recs.some((r) => r.reason === 'VIADUCT_ERR_HTTP_HEADER_TIMEOUT'))
})

t.test('503 beyond forward.limits.maxConnections; a slot frees when a client leaves', async (t) => {
  const origin = await startOrigin(t)
  const proxy = await startProxy(t, { limits: { maxConnections: 2 } })
  const a = await rawSocket(proxy.port)
  const b = await rawSocket(proxy.port)
  const third = await rawExchange(proxy.port, get(`${origin.url}/`))
  t.match(third.text, /^HTTP\/1\.1 503[\s\S]*VIADUCT_ERR_SESSION_LIMIT/)
  a.destroy()
  await new Promise((r) => setTimeout(r, 100))
  const fourth = await rawExchange(proxy.port, get(`${origin.url}/`))
  t.equal(status(fourth.text), 200, 'served once a slot is free')
  b.destroy()
})

t.test('random bytes never crash the proxy; other clients are unharmed', async (t) => {
  const origin = await startOrigin(t)
  const proxy = await startProxy(t, { limits: { headerTimeoutMs: 500 } })
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 300 }), async (bytes) => {
      const r = await rawExchange(proxy.port, Buffer.from(bytes), 1500)
      // an answer, if any, is a well-formed error status line
      return r.text === '' || /^HTTP\/1\.1 (4\d\d|5\d\d) /.test(r.text)
    }),
    { numRuns: 25 },
  )
  const ok = await rawExchange(proxy.port, get(`${origin.url}/still`))
  t.equal(status(ok.text), 200)
})
