/**
 * The admin server over a real gateway: real traffic through the HTTP proxy (node:http in absolute-form)
 * and through the pairing relay (two TCP peers), then /metrics, /api/*, /api/events, /proxy.pac,
 * /healthz and /readyz are read over HTTP and checked against what was sent.
 */
import t, { type Test } from 'tap'
import { createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { runInNewContext } from 'node:vm'
import { startGateway, addr } from '../helpers/gateway.js'
import { adminExtension } from '../../src/admin/index.js'
import { pairTwo } from '../../bench/pair-client.js'
import { get, getJson, parseMetrics, sse } from './admin-helpers.js'

const SECRET = 'admin-test-secret-0123456789'
const BODY = 'x'.repeat(5000)

async function origin(t: Test) {
  const server = createServer((req, res) => res.end(req.url === '/big' ? BODY : 'hello'))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  return (server.address() as AddressInfo).port
}

function proxyGet(proxyPort: number, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: proxyPort, path: url, headers: { host: new URL(url).host }, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

async function setup(t: Test, feed: Record<string, number> = { tickMs: 200, heartbeatMs: 300 }) {
  const gw = await startGateway(
    t,
    {
      admin: { listen: '127.0.0.1:0' },
      forward: { http: { listen: '127.0.0.1:0' }, access: { allowPrivate: ['127.0.0.0/8'], denyHosts: ['blocked.example'] } },
      relay: { pairing: { listen: '127.0.0.1:0', secrets: [SECRET] } },
    },
    { extensions: [adminExtension({ feed })] },
  )
  const base = `http://${addr(gw, 'admin').url}/`
  return { gw, base, proxy: addr(gw, 'http').port, relay: addr(gw, 'pairing-tcp').port }
}

async function waitFor(cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const until = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > until) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 20))
  }
}

async function pairAndTalk(relayPort: number, room: string, bytes: number) {
  const [a, b] = await pairTwo('127.0.0.1', relayPort, SECRET, room)
  const payload = Buffer.alloc(bytes, 7)
  const got = new Promise<void>((resolve) => {
    let n = 0
    b.on('data', (c: Buffer) => {
      n += c.length
      if (n >= bytes) resolve()
    })
    b.resume()
  })
  a.resume()
  a.write(payload)
  await got
  return { a, b }
}

t.test('metrics, sessions, stats and events after real proxy and relay traffic', async (t) => {
  const { gw, base, proxy, relay } = await setup(t)
  const originPort = await origin(t)
  const events = sse(`${base}api/events`)
  t.teardown(() => events.close())
  await events.ready
  const hello = await events.waitFor((e) => e.event === 'hello')
  t.equal(typeof hello.data.stats.total, 'number', 'hello carries the stats')

  const r1 = await proxyGet(proxy, `http://127.0.0.1:${originPort}/big`)
  t.equal(r1.status, 200)
  t.equal(r1.body.length, BODY.length)
  const denied = await proxyGet(proxy, 'http://blocked.example/')
  t.equal(denied.status, 403, 'the proxy refuses a denied host')

  const { a, b } = await pairAndTalk(relay, 'room-1', 10_000)
  // The pairing is live now: the API lists it with both peers.
  await waitFor(async () => (await getJson(`${base}api/sessions?mode=relay&state=live`)).sessions.length === 1)
  const liveRelay = (await getJson(`${base}api/sessions?mode=relay&state=live`)).sessions[0]
  t.equal(liveRelay.mode, 'relay')
  t.equal(liveRelay.state, 'live')
  t.match(liveRelay.client, /^127\.0\.0\.1:\d+$/)
  t.match(liveRelay.peer, /^127\.0\.0\.1:\d+$/, 'a relay record names the other peer')
  const metricsLive = parseMetrics((await get(`${base}metrics`)).body)
  t.equal(metricsLive.get('viaduct_relay_pairings_open'), 1, 'one pairing open')
  t.ok([...metricsLive.keys()].some((k) => k.startsWith('viaduct_sessions_open{mode="relay"')), 'sessions_open has the relay')
  a.end()
  b.end()
  await waitFor(() => gw.ledger.liveCount === 0)

  const openEv = await events.waitFor((e) => e.event === 'session.open' && e.data.mode === 'relay')
  t.equal(openEv.data.state, 'live')
  const closeEv = await events.waitFor((e) => e.event === 'session.close' && e.data.mode === 'relay')
  t.equal(closeEv.data.state, 'closed')
  t.ok(closeEv.data.bytesUp + closeEv.data.bytesDown >= 10_000, 'the close event carries the byte counts')
  await events.waitFor((e) => e.event === 'session.close' && e.data.reason === 'VIADUCT_ERR_ACCESS_DESTINATION')
  const tick = await events.waitFor((e) => e.event === 'tick' && e.data.stats.byMode.relay?.total === 1)
  t.equal(typeof tick.data.modes, 'object', 'a tick carries throughput per mode')
  t.ok(tick.data.stats.reasonsByMode.forward.VIADUCT_ERR_ACCESS_DESTINATION >= 1, 'a tick counts refusals per mode')
  await waitFor(() => events.comments.some((c) => c.startsWith(': ping')), 3000)
  t.pass('heartbeats arrive')

  const text = (await get(`${base}metrics`)).body
  const m = parseMetrics(text)
  const stats = gw.ledger.stats()
  t.equal(m.get('viaduct_sessions_total{mode="relay",protocol="pair-tcp"}'), 1, 'one relay session counted')
  const fwdTotal = [...m].filter(([k]) => k.startsWith('viaduct_sessions_total{mode="forward"')).reduce((s, [, v]) => s + v, 0)
  t.equal(fwdTotal, stats.byMode.forward.total, 'forward sessions_total equals the ledger')
  t.equal(m.get('viaduct_bytes_total{mode="relay",direction="up"}'), stats.byMode.relay.bytesUp, 'relay bytes up equal the ledger')
  t.equal(m.get('viaduct_bytes_total{mode="forward",direction="down"}'), stats.byMode.forward.bytesDown, 'forward bytes down equal the ledger')
  t.ok(stats.byMode.forward.bytesDown >= BODY.length, 'the proxied body was counted')
  t.equal(m.get('viaduct_refusals_total{mode="forward",code="VIADUCT_ERR_ACCESS_DESTINATION"}'), 1, 'the refusal is counted by code')
  t.equal(m.get('viaduct_session_duration_seconds_count{mode="relay",protocol="pair-tcp"}'), 1, 'duration observed at close')
  t.equal(m.get('viaduct_relay_pairings_open'), 0, 'no pairing open any more')
  t.equal(m.get('viaduct_relay_allocations_open'), 0)
  t.ok(m.has('nodejs_eventloop_lag_seconds'), 'event-loop lag is exported')
  t.match(text, /# TYPE viaduct_session_duration_seconds histogram/)
  t.match((await get(`${base}metrics`)).headers['content-type'], /^text\/plain; version=0\.0\.4/)

  const all = await getJson(`${base}api/sessions`)
  t.ok(all.sessions.length >= 3)
  for (const s of all.sessions) {
    t.match(s, { id: String, mode: String, protocol: String, client: String, state: String, bytesUp: Number, bytesDown: Number, openedAt: Number })
  }
  const fwd = await getJson(`${base}api/sessions?mode=forward&state=recent`)
  t.ok(fwd.sessions.every((s: any) => s.mode === 'forward' && s.state === 'closed'))
  t.ok(fwd.sessions.some((s: any) => s.target?.includes(`127.0.0.1:${originPort}`)), 'a proxy record names the target')
  const one = await getJson(`${base}api/sessions/${encodeURIComponent(closeEv.data.id)}`)
  t.equal(one.id, closeEv.data.id)
  t.equal((await get(`${base}api/sessions/nope`)).status, 404)
  t.equal((await get(`${base}api/sessions?state=bogus`)).status, 400)
  t.equal((await get(`${base}api/sessions?limit=-1`)).status, 400)
  t.equal((await getJson(`${base}api/sessions?state=recent&limit=1`)).sessions.length, 1, 'limit applies')

  const st = await getJson(`${base}api/stats`)
  t.same(st.modes, ['forward', 'relay'])
  t.equal(st.total, stats.total)
  t.equal(st.byMode.relay.total, 1)
  t.ok(st.listeners.some((l: any) => l.listener === 'admin'), 'the listener list includes the admin server')
  t.ok(Array.isArray(st.throughput) && st.throughput.length > 0, 'throughput history')
  t.ok(st.throughput.some((p: any) => (p.modes.relay?.up ?? 0) > 0), 'relay throughput was seen')
  t.equal(st.reasonsByMode.forward.VIADUCT_ERR_ACCESS_DESTINATION, 1)
})

t.test('health, readiness, PAC, methods and unknown paths', async (t) => {
  const { gw, base, proxy } = await setup(t)
  t.equal((await get(`${base}healthz`)).status, 200)
  t.equal((await get(`${base}readyz`)).status, 200)
  const pac = await get(`${base}proxy.pac`)
  t.equal(pac.status, 200)
  t.equal(pac.headers['content-type'], 'application/x-ns-proxy-autoconfig')
  t.match(pac.body, `PROXY 127.0.0.1:${proxy}`)
  const sandbox = pacSandbox()
  runInNewContext(pac.body, sandbox)
  const find = sandbox.FindProxyForURL as (u: string, h: string) => string
  t.equal(find('http://example.com/', 'example.com'), `PROXY 127.0.0.1:${proxy}`)
  t.equal(find('http://blocked.example/', 'blocked.example'), 'DIRECT', 'a denied host goes direct')
  t.equal(find('http://127.0.0.1/', '127.0.0.1'), `PROXY 127.0.0.1:${proxy}`, 'loopback is allowed by allowPrivate, so proxied')
  t.equal(find('http://10.1.2.3/', '10.1.2.3'), 'DIRECT', 'private ranges the proxy refuses go direct')
  t.equal((await get(`${base}api/stats`, {}, 'POST')).status, 405)
  const nf = await get(`${base}nope`)
  t.equal(nf.status, 404)
  t.equal(JSON.parse(nf.body).error.code, 'VIADUCT_ERR_ADMIN_NOT_FOUND')
  const dash = await get(base)
  t.equal(dash.status, 200)
  t.match(dash.body, 'Forward proxy')
  t.match(dash.headers['content-security-policy'], "default-src 'self'")
  t.equal((await get(`${base}ui/dashboard.js`)).status, 200)
  // While the gateway drains, readiness fails; liveness does not.
  const closing = gw.close()
  t.equal((await get(`${base}readyz`).catch(() => ({ status: 503 }))).status, 503)
  await closing
})

t.test('a slow event-stream client is dropped, not buffered for', async (t) => {
  const { gw, base } = await setup(t, { tickMs: 0, heartbeatMs: 0, maxBufferBytes: 64 * 1024 })
  // A raw socket that asks for the stream and never reads.
  const { connect } = await import('node:net')
  const u = new URL(base)
  const sock = connect({ host: u.hostname, port: Number(u.port) })
  t.teardown(() => sock.destroy())
  sock.pause()
  await new Promise((r) => sock.once('connect', r))
  sock.write(`GET /api/events HTTP/1.1\r\nHost: ${u.host}\r\n\r\n`)
  await new Promise((r) => setTimeout(r, 100))
  let closed = false
  sock.once('close', () => (closed = true))
  const meta: Record<string, string> = { pad: 'p'.repeat(900) }
  // Bounded: at most 60,000 sessions (about 60 MB of events) or 20 s.
  const until = Date.now() + 20_000
  let n = 0
  while (n < 60_000 && Date.now() < until) {
    const m = parseMetrics((await get(`${base}metrics`)).body)
    if (m.get('viaduct_admin_sse_dropped_total') === 1) break
    for (let i = 0; i < 2000; i++, n++) gw.ledger.open({ mode: 'forward', protocol: 'test', client: '127.0.0.1:1', meta }).close('completed')
    await new Promise((r) => setImmediate(r))
  }
  const m = parseMetrics((await get(`${base}metrics`)).body)
  t.equal(m.get('viaduct_admin_sse_dropped_total'), 1, `the slow client was dropped after ${n} sessions`)
  sock.resume()
  await waitFor(() => closed, 5000)
  t.ok(closed, 'its connection was closed')
  t.equal((await get(`${base}healthz`)).status, 200, 'the server is fine')
})

/** The helper functions a browser gives a PAC file (the subset ours uses). */
function pacSandbox(): Record<string, unknown> {
  const ip = (s: string) => s.split('.').reduce((a, x) => a * 256 + Number(x), 0)
  return {
    isPlainHostName: (h: string) => !h.includes('.'),
    dnsDomainIs: (h: string, d: string) => h.endsWith(d),
    isInNet: (h: string, net: string, mask: string) => ((ip(h) & ip(mask)) >>> 0) === ((ip(net) & ip(mask)) >>> 0),
  }
}

t.test('the event stream has a client limit, and garbage requests leave the server healthy', async (t) => {
  const { base } = await setup(t, { tickMs: 0, heartbeatMs: 0, maxClients: 2 })
  const s1 = sse(`${base}api/events`)
  const s2 = sse(`${base}api/events`)
  t.teardown(() => {
    s1.close()
    s2.close()
  })
  await s1.waitFor((e) => e.event === 'hello')
  await s2.waitFor((e) => e.event === 'hello')
  const third = await get(`${base}api/events`)
  t.equal(third.status, 503, 'the third stream is refused')
  t.equal(third.headers['retry-after'], '5')
  const { connect } = await import('node:net')
  const fc = (await import('fast-check')).default
  const u = new URL(base)
  // Random request lines and heads, each on its own connection; bounded to 60 samples.
  const samples = fc.sample(fc.oneof(fc.string({ maxLength: 200 }), fc.webPath().map((p) => `GET ${p || '/'}?state=${p} HTTP/1.1\r\nHost: ${u.host}\r\n\r\n`)), { numRuns: 60, seed: 42 })
  const statuses = new Set<string>()
  for (const raw of samples) {
    const reply = await new Promise<string>((resolve) => {
      const sock = connect({ host: u.hostname, port: Number(u.port) })
      let got = ''
      sock.on('data', (c) => {
        got += c.toString('latin1')
        sock.end()
      })
      sock.on('error', () => resolve(got))
      sock.on('close', () => resolve(got))
      sock.setTimeout(1000, () => sock.destroy())
      sock.write(raw.includes('HTTP/1.1') ? raw : `${raw}\r\n\r\n`)
    })
    const m = /^HTTP\/1\.1 (\d{3})/.exec(reply)
    if (m) statuses.add(m[1])
  }
  t.ok([...statuses].every((s) => ['200', '400', '404', '405', '503'].includes(s)), `only expected statuses (${[...statuses].join(', ')})`)
  t.equal((await get(`${base}healthz`)).status, 200, 'still healthy')
})
