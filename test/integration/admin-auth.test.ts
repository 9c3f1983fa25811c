/**
 * Who may use the admin server: the Bearer token on every endpoint but /healthz, the refusal to start
 * on a non-loopback address without a token, and the Host guard when no token is set.
 */
import t from 'tap'
import { connect } from 'node:net'
import { startGateway, addr } from '../helpers/gateway.js'
import { adminExtension } from '../../src/admin/index.js'
import { validateConfig } from '../../src/config/load.js'
import { Gateway } from '../../src/gateway.js'
import { modes } from '../../modes/index.js'
import { ALL_OFF, merge } from '../helpers/gateway.js'
import { get, sse } from './admin-helpers.js'

const TOKEN = 'admin-token-0123456789abcdef'
const ENDPOINTS = ['/', '/ui/dashboard.js', '/metrics', '/api/sessions', '/api/stats', '/proxy.pac', '/readyz']

t.test('with a token, every endpoint but /healthz needs it', async (t) => {
  const gw = await startGateway(t, { admin: { listen: '127.0.0.1:0', token: TOKEN } }, { extensions: [adminExtension({ defaultMetrics: false })] })
  const base = `http://${addr(gw, 'admin').url}`
  for (const p of ENDPOINTS) {
    const none = await get(base + p)
    t.equal(none.status, 401, `${p} without a token: 401`)
    t.equal(none.headers['www-authenticate'], 'Bearer realm="viaduct-admin"')
    t.equal(JSON.parse(none.body).error.code, 'VIADUCT_ERR_ADMIN_UNAUTHORIZED')
    t.equal((await get(base + p, { authorization: 'Bearer wrong-token-0123456789' })).status, 401, `${p} with a wrong token: 401`)
    t.equal((await get(base + p, { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` })).status, 401, `${p} with Basic: 401`)
    t.equal((await get(base + p, { authorization: `Bearer ${TOKEN}` })).status, 200, `${p} with the token: 200`)
    t.equal((await get(`${base}${p}${p.includes('?') ? '&' : '?'}token=${TOKEN}`)).status, 200, `${p}?token=: 200`)
  }
  t.equal((await get(`${base}/healthz`)).status, 200, '/healthz stays open')
  // The page loaded with ?token= sets a cookie that its CSS, script and API calls carry.
  const page = await get(`${base}/?token=${TOKEN}`)
  const cookie = String(page.headers['set-cookie'] ?? '')
  t.match(cookie, /^viaduct_admin_token=[^;]+; Path=\/; HttpOnly; SameSite=Strict$/)
  const jar = cookie.split(';')[0]
  t.equal((await get(`${base}/ui/dashboard.css`, { cookie: jar })).status, 200, 'the cookie opens the CSS')
  t.equal((await get(`${base}/api/stats`, { cookie: `a=b; ${jar}` })).status, 200, 'and the API')
  t.equal((await get(`${base}/api/stats`, { cookie: 'viaduct_admin_token=wrong-0123456789abcdef' })).status, 401, 'a wrong cookie does not')
  t.equal((await get(`${base}/api/stats`, { cookie: 'viaduct_admin_token=%E0%A4%A' })).status, 401, 'a malformed cookie does not')
  t.notOk((await get(`${base}/`, { authorization: `Bearer ${TOKEN}` })).headers['set-cookie'], 'no cookie without ?token=')
  const bad = await get(`${base}/api/events`)
  t.equal(bad.status, 401, 'the event stream needs the token too')
  const es = sse(`${base}/api/events?token=${TOKEN}`)
  t.teardown(() => es.close())
  await es.ready
  const hello = await es.waitFor((e) => e.event === 'hello')
  t.ok(hello.data.stats, 'the event stream works with ?token=')
  // A token-protected server does not need the Host guard: any Host with the token works.
  t.equal((await get(`${base}/api/stats`, { authorization: `Bearer ${TOKEN}`, host: 'viaduct.example:8081' })).status, 200)
})

t.test('refuses to start on a non-loopback address without a token', async (t) => {
  // The config check refuses it first (the CLI's path)...
  t.throws(() => validateConfig(modes, merge(ALL_OFF, { admin: { listen: '0.0.0.0:0' } })), { code: 'VIADUCT_ERR_CONFIG_UNSAFE' })
  // ...and the server itself refuses it when a library user hands in such a config unchecked.
  const ok = validateConfig(modes, merge(ALL_OFF, { admin: { listen: '127.0.0.1:0' }, forward: { http: { listen: '127.0.0.1:0' } } }))
  const cfg = { ...ok, admin: { ...ok.admin, listen: { host: '0.0.0.0', port: 0 } } }
  const gw = new Gateway({ modes, config: cfg, extensions: [adminExtension({ defaultMetrics: false })] })
  await t.rejects(gw.start(), { code: 'VIADUCT_ERR_ADMIN_EXPOSED' })
  t.equal(gw.phase, 'closed', 'the gateway stopped every mode it had started')
  t.equal(gw.ledger.listenerCount('open'), 0, 'the admin server let go of the ledger')
})

t.test('starts on a non-loopback address with a token', async (t) => {
  const gw = await startGateway(t, { admin: { listen: '0.0.0.0:0', token: TOKEN } }, { extensions: [adminExtension({ defaultMetrics: false })] })
  const port = addr(gw, 'admin').port
  t.equal((await get(`http://127.0.0.1:${port}/api/stats`, { authorization: `Bearer ${TOKEN}` })).status, 200)
  t.equal((await get(`http://127.0.0.1:${port}/api/stats`)).status, 401)
})

t.test('without a token, only loopback Host names are answered', async (t) => {
  const gw = await startGateway(t, { admin: { listen: '127.0.0.1:0' } }, { extensions: [adminExtension({ defaultMetrics: false })] })
  const base = `http://${addr(gw, 'admin').url}`
  const port = addr(gw, 'admin').port
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'localhost', `dash.localhost:${port}`]) {
    t.equal((await get(`${base}/api/stats`, { host })).status, 200, `Host ${host}: 200`)
  }
  for (const host of [`evil.example:${port}`, `192.168.1.10:${port}`, 'evil.example']) {
    const r = await get(`${base}/api/stats`, { host })
    t.equal(r.status, 403, `Host ${host}: 403`)
    t.equal(JSON.parse(r.body).error.code, 'VIADUCT_ERR_ADMIN_HOST')
  }
  // Garbage on the socket: the server answers 400 or closes; it stays up.
  const sock = connect({ host: '127.0.0.1', port })
  let reply = ''
  sock.on('data', (c: Buffer) => (reply += c.toString('latin1')))
  sock.write('\x16\x03\x01garbage\r\n\r\n')
  await new Promise((r) => sock.once('close', r))
  t.match(reply, /^HTTP\/1\.1 400 Bad Request\r\n/, 'garbage gets 400')
  t.equal((await get(`${base}/healthz`)).status, 200, 'still healthy after garbage')
})
