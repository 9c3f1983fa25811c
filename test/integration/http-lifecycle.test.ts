/**
 * The HTTP proxy as a service: built directly over a context (so a test can give it its own dialer),
 * sockets handed over by another listener (the mixed port's accept()), the HTTP upstream hook of the
 * Dialer, close() twice, and destroy() ending live sessions with a reason.
 */
import t from 'tap'
import { createServer as createHttpServer } from 'node:http'
import { connect, createServer, type AddressInfo, type Server } from 'node:net'
import { Ledger } from '../../src/core/ledger.js'
import { silentLogger } from '../../src/core/log.js'
import { systemClock } from '../../src/core/clock.js'
import { SelfAddresses } from '../../src/core/self.js'
import { AccessPolicy } from '../../modes/forward/access.js'
import { ProxyAuth } from '../../modes/forward/auth.js'
import { forwardSchema } from '../../modes/forward/config.js'
import { ConnectionLimiter, type ForwardContext } from '../../modes/forward/context.js'
import { DirectDialer, type Dialer, type HttpUpstream } from '../../modes/forward/dial.js'
import { HttpProxy } from '../../modes/forward/http/proxy.js'
import { rawExchange, rawSocket, readUntil, startOrigin } from '../helpers/http-origin.js'

function context(forward: Record<string, unknown>, dialerFor?: (direct: DirectDialer) => Dialer): ForwardContext {
  const config = forwardSchema.parse({ http: { listen: '127.0.0.1:0' }, socks: { listen: 'off' }, access: { allowPrivate: ['127.0.0.0/8'], connectPorts: ['*'] }, ...forward })
  const ledger = new Ledger({ sampleIntervalMs: 0 })
  const core = { ledger, log: silentLogger(), clock: systemClock, self: new SelfAddresses(), faults: ledger.faults }
  const policy = new AccessPolicy(config.access, core.self)
  const direct = new DirectDialer({ policy, connectTimeoutMs: 2000 })
  return { core, config, policy, auth: new ProxyAuth(config.users), dialer: dialerFor ? dialerFor(direct) : direct, limiter: new ConnectionLimiter(config.limits.maxConnections) }
}

async function listening(t: { teardown(fn: () => unknown): void }, proxy: HttpProxy): Promise<number> {
  const [info] = await proxy.listen()
  t.teardown(() => proxy.destroy())
  return info.port
}

t.test('accept(): sockets handed over by another listener are served and labelled', async (t) => {
  const origin = await startOrigin(t)
  const ctx = context({ http: { listen: 'off' } })
  const proxy = new HttpProxy(ctx)
  t.same(await proxy.listen(), [], 'no listener of its own when http.listen is off')
  const mixed: Server = createServer({ allowHalfOpen: true }, (s) => proxy.accept(s, 'mixed'))
  await new Promise<void>((r) => mixed.listen(0, '127.0.0.1', r))
  t.teardown(() => {
    mixed.close()
    return proxy.destroy()
  })
  const r = await rawExchange((mixed.address() as AddressInfo).port, `GET ${origin.url}/m HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
  t.match(r.text, /^HTTP\/1\.1 200[\s\S]*"url":"\/m"/)
  const rec = ctx.core.ledger.recent()[0]
  t.equal(rec.listener, 'mixed')
  t.equal(rec.mode, 'forward')
})

t.test('plain requests go to the HTTP upstream in absolute form with its Proxy-Authorization', async (t) => {
  const seen: Array<{ url: string; auth?: string; host?: string }> = []
  const upstream = createHttpServer((req, res) => {
    seen.push({ url: req.url ?? '', auth: req.headers['proxy-authorization'], host: req.headers.host })
    res.end('from upstream')
  })
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r))
  t.teardown(() => {
    upstream.closeAllConnections()
    upstream.close()
  })
  const up: HttpUpstream = { host: '127.0.0.1', port: (upstream.address() as AddressInfo).port, authorization: 'Basic dXA6c2VjcmV0' }
  const ctx = context({ users: ['me:pw'] }, (direct) => ({ dial: (r) => direct.dial(r), httpUpstreamFor: (host) => (host === 'direct.test' ? undefined : up) }))
  const port = await listening(t, new HttpProxy(ctx))
  const r = await rawExchange(port, `GET http://far.example/p?q=1 HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Basic ${Buffer.from('me:pw').toString('base64')}\r\nConnection: close\r\n\r\n`)
  t.match(r.text, /^HTTP\/1\.1 200[\s\S]*from upstream$/)
  t.same(seen[0], { url: 'http://far.example/p?q=1', auth: 'Basic dXA6c2VjcmV0', host: 'far.example' }, 'absolute form, the upstream credentials (not the client ones)')
  // the upstream rejecting our credentials is a 502 for the client, never a 407 it cannot answer
  upstream.removeAllListeners('request')
  upstream.on('request', (_req, res) => {
    res.writeHead(407, { 'Proxy-Authenticate': 'Basic realm="up"' })
    res.end()
  })
  const r2 = await rawExchange(port, `GET http://far.example/ HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Basic ${Buffer.from('me:pw').toString('base64')}\r\nConnection: close\r\n\r\n`)
  t.match(r2.text, /^HTTP\/1\.1 502[\s\S]*VIADUCT_ERR_UPSTREAM_AUTH/)
  upstream.close()
  upstream.closeAllConnections()
  await new Promise((r) => setTimeout(r, 50))
  const r3 = await rawExchange(port, `GET http://far.example/ HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Basic ${Buffer.from('me:pw').toString('base64')}\r\nConnection: close\r\n\r\n`)
  t.match(r3.text, /^HTTP\/1\.1 502[\s\S]*VIADUCT_ERR_UPSTREAM_FAILED/, 'an unreachable upstream is UPSTREAM_FAILED')
})

t.test('close() waits for a live tunnel, is safe twice; destroy() ends sessions with reason shutdown', async (t) => {
  const origin = await startOrigin(t)
  const ctx = context({})
  const proxy = new HttpProxy(ctx)
  const port = await listening(t, proxy)
  const s = await rawSocket(port)
  s.write(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: x\r\n\r\n`)
  await readUntil(s, (x) => x.includes('\r\n\r\n'))
  const idle = await rawSocket(port)
  idle.write(`GET ${origin.url}/ HTTP/1.1\r\nHost: x\r\n\r\n`)
  await readUntil(idle, (x) => x.endsWith('}'))
  let closed = false
  const c1 = proxy.close().then(() => (closed = true))
  const c2 = proxy.close()
  await new Promise((r) => setTimeout(r, 300))
  t.equal(closed, false, 'close() waits while a tunnel is live')
  t.ok(idle.destroyed || idle.readableEnded, 'an idle keep-alive connection was closed')
  t.equal(ctx.core.ledger.live().length, 1, 'the tunnel is still live')
  await proxy.destroy()
  await proxy.destroy()
  await Promise.all([c1, c2])
  t.equal(ctx.core.ledger.live().length, 0)
  t.equal(ctx.core.ledger.recent().find((r) => r.protocol === 'connect')?.reason, 'shutdown')
  const refused = await new Promise<string>((resolve) => {
    const c = connect(port, '127.0.0.1')
    c.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'))
    c.on('connect', () => resolve('connected'))
  })
  t.equal(refused, 'ECONNREFUSED', 'no longer listening')
  s.destroy()
})

t.test('idle tunnels close after forward.limits.idleTimeoutMs with SESSION_IDLE', async (t) => {
  const origin = await startOrigin(t)
  const ctx = context({ limits: { idleTimeoutMs: 300 } })
  const port = await listening(t, new HttpProxy(ctx))
  const s = await rawSocket(port)
  s.write(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: x\r\n\r\n`)
  await readUntil(s, (x) => x.includes('\r\n\r\n'))
  await readUntil(s, () => false, 3000)
  t.ok(s.destroyed || s.readableEnded, 'closed by the proxy')
  await new Promise((r) => setTimeout(r, 50))
  t.equal(ctx.core.ledger.recent()[0].reason, 'VIADUCT_ERR_SESSION_IDLE')
})

t.test('through the real mixed port: HTTP requests and a tunnel, labelled "mixed", bytes exact', async (t) => {
  const { startGateway, addr, settle } = await import('../helpers/gateway.js')
  const origin = await startOrigin(t)
  const gw = await startGateway(t, { forward: { mixed: { listen: '127.0.0.1:0' }, access: { allowPrivate: ['127.0.0.0/8'], connectPorts: ['*'] } } })
  const port = addr(gw, 'mixed').port
  const s = await rawSocket(port)
  const localPort = s.localPort
  s.write(`GET ${origin.url}/m1 HTTP/1.1\r\nHost: x\r\n\r\n`)
  await readUntil(s, (x) => x.endsWith('}'))
  s.write(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: x\r\n\r\n`)
  await readUntil(s, (x) => x.includes('\r\n\r\n'))
  s.write('GET /m2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  const last = await readUntil(s, () => false)
  t.match(last, /"url":"\/m2"/)
  const recs = (await settle(gw)).filter((r) => r.client.endsWith(`:${localPort}`))
  t.same(recs.map((r) => r.listener), ['mixed', 'mixed'])
  t.same(recs.map((r) => r.protocol).sort(), ['connect', 'http'])
  t.equal(recs.reduce((a, r) => a + r.bytesUp, 0), s.bytesWritten, 'bytes up exact (the sniffed byte included)')
  t.equal(recs.reduce((a, r) => a + r.bytesDown, 0), s.bytesRead, 'bytes down exact')
})
