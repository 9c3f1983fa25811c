/**
 * curl -x against the HTTP proxy: plain HTTP, a CONNECT tunnel (-p) to a plain origin, HTTPS to a local
 * TLS origin with the self-signed test certificate, and proxy authentication.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { requireProgram } from '../helpers/programs.js'
import { rawHeader, run, startOrigin, startProxy, type Echo } from '../helpers/http-origin.js'
import { settle } from '../helpers/gateway.js'

const CERT = new URL('../fixtures/tls/cert.pem', import.meta.url)
const KEY = new URL('../fixtures/tls/key.pem', import.meta.url)

t.test('plain http through curl -x', async (t) => {
  const curl = requireProgram(t, 'curl')
  if (!curl) return
  const origin = await startOrigin(t)
  const proxy = await startProxy(t)
  const r = await run(curl, ['-sS', '-x', proxy.url, `${origin.url}/hello?x=1`, '-H', 'X-Test: yes'])
  t.equal(r.code, 0, r.stderr)
  const echo = JSON.parse(r.stdout) as Echo
  t.equal(echo.url, '/hello?x=1', 'origin got origin-form')
  t.equal(rawHeader(echo.rawHeaders, 'host'), `127.0.0.1:${origin.port}`, 'Host rebuilt from the URL')
  t.equal(rawHeader(echo.rawHeaders, 'x-test'), 'yes')
  t.equal(rawHeader(echo.rawHeaders, 'proxy-connection'), undefined, 'Proxy-Connection removed')
  t.equal(rawHeader(echo.rawHeaders, 'via'), '1.1 viaduct')
  const recs = await settle(proxy.gw)
  const rec = recs.find((x) => x.protocol === 'http')
  t.ok(rec, 'one ledger record')
  t.equal(rec?.target, `http://127.0.0.1:${origin.port}/hello?x=1`)
  t.equal(rec?.reason, 'completed')
  t.equal(rec?.listener, 'http')
})

t.test('curl -p tunnels plain http through CONNECT', async (t) => {
  const curl = requireProgram(t, 'curl')
  if (!curl) return
  const origin = await startOrigin(t)
  const proxy = await startProxy(t)
  const r = await run(curl, ['-sS', '-p', '-x', proxy.url, `${origin.url}/tunnelled`])
  t.equal(r.code, 0, r.stderr)
  const echo = JSON.parse(r.stdout) as Echo
  t.equal(echo.url, '/tunnelled')
  t.equal(rawHeader(echo.rawHeaders, 'via'), undefined, 'a tunnel is opaque: no Via inside')
  const recs = await settle(proxy.gw)
  const rec = recs.find((x) => x.protocol === 'connect')
  t.equal(rec?.target, `127.0.0.1:${origin.port}`)
  t.ok((rec?.bytesUp ?? 0) > 0 && (rec?.bytesDown ?? 0) > 0, 'bytes counted both ways')
})

t.test('https to a local TLS origin through CONNECT', async (t) => {
  const curl = requireProgram(t, 'curl')
  if (!curl) return
  const server = createHttpsServer({ cert: readFileSync(CERT), key: readFileSync(KEY) }, (req, res) => res.end(`secure ${req.url}`))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  const port = (server.address() as AddressInfo).port
  const proxy = await startProxy(t)
  const r = await run(curl, ['-sS', '--cacert', CERT.pathname, '-x', proxy.url, `https://localhost:${port}/s`])
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stdout, 'secure /s')
  const recs = await settle(proxy.gw)
  t.equal(recs.find((x) => x.protocol === 'connect')?.target, `localhost:${port}`)
})

t.test('proxy authentication with curl --proxy-user', async (t) => {
  const curl = requireProgram(t, 'curl')
  if (!curl) return
  const origin = await startOrigin(t)
  const proxy = await startProxy(t, { users: ['alice:s3cret'] })
  const no = await run(curl, ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-x', proxy.url, `${origin.url}/`])
  t.equal(no.stdout, '407', 'no credentials: 407')
  const bad = await run(curl, ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-x', proxy.url, '--proxy-user', 'alice:wrong', `${origin.url}/`])
  t.equal(bad.stdout, '407', 'wrong password: 407')
  const ok = await run(curl, ['-sS', '-x', proxy.url, '--proxy-user', 'alice:s3cret', `${origin.url}/`])
  const echo = JSON.parse(ok.stdout) as Echo
  t.equal(rawHeader(echo.rawHeaders, 'proxy-authorization'), undefined, 'credentials not passed to the origin')
  const tunnel = await run(curl, ['-sS', '-p', '-x', proxy.url, '--proxy-user', 'alice:s3cret', `${origin.url}/t`])
  t.equal((JSON.parse(tunnel.stdout) as Echo).url, '/t', 'CONNECT with credentials')
  const tunnelNo = await run(curl, ['-sS', '-p', '-o', '/dev/null', '-w', '%{http_connect}', '-x', proxy.url, `${origin.url}/t`])
  t.equal(tunnelNo.stdout, '407', 'CONNECT without credentials: 407')
  const recs = await settle(proxy.gw)
  t.ok(recs.some((r) => r.reason === 'VIADUCT_ERR_AUTH_REQUIRED'))
  t.ok(recs.some((r) => r.reason === 'VIADUCT_ERR_AUTH_FAILED'))
  t.ok(recs.some((r) => r.user === 'alice' && r.reason === 'completed'))
})
