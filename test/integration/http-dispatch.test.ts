/**
 * The undici side of plain forwarding (modes/forward/http/dispatch.ts: bodiless requests), against raw TCP
 * origins that misbehave on purpose: a keep-alive connection closed under the next request, a body that
 * stalls, interim 1xx answers, a client that leaves mid-body. And the other side's rule: a request with a
 * body is never sent twice.
 */
import t from 'tap'
import fc from 'fast-check'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { addr, settle, startGateway } from '../helpers/gateway.js'
import { rawExchange, rawSocket, readUntil, startProxy } from '../helpers/http-origin.js'

/** A raw origin: `onRequest(socket, n)` is called for the n-th request head (1-based) on each connection. */
async function rawOrigin(t: { teardown(fn: () => unknown): void }, onRequest: (s: Socket, n: number, head: string) => void): Promise<{ port: number; url: string; connections: () => number }> {
  let connections = 0
  const server = createServer((s) => {
    connections++
    let buf = ''
    let n = 0
    s.on('error', () => undefined)
    s.on('data', (d) => {
      buf += d.toString('latin1')
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, end)
        buf = buf.slice(end + 4)
        const cl = /\r\ncontent-length: *(\d+)/i.exec(head)
        if (cl) buf = buf.slice(Number(cl[1]))
        onRequest(s, ++n, head)
      }
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  const port = (server.address() as AddressInfo).port
  return { port, url: `http://127.0.0.1:${port}`, connections: () => connections }
}

const ok = (body: string) => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`

t.test('a GET on a keep-alive connection the origin closed meanwhile is sent again, once', async (t) => {
  // the origin answers the first request of each connection, and drops the connection at the second
  const origin = await rawOrigin(t, (s, n) => (n === 1 ? s.write(ok('first')) : s.destroy()))
  const proxy = await startProxy(t)
  const client = await rawSocket(proxy.port)
  client.write(`GET ${origin.url}/a HTTP/1.1\r\nHost: x\r\n\r\n`)
  t.match(await readUntil(client, (x) => x.endsWith('first')), /^HTTP\/1\.1 200[\s\S]*first$/)
  client.write(`GET ${origin.url}/b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
  const second = await readUntil(client, (x) => x.endsWith('first'))
  t.match(second, /^HTTP\/1\.1 200[\s\S]*first$/, 'the second GET is answered on a fresh connection')
  t.equal(origin.connections(), 2, 'one retry: two connections in all')
  const recs = await settle(proxy.gw)
  t.equal(recs.filter((r) => r.protocol === 'http' && r.reason === 'completed').length, 2, 'both requests completed in the ledger')
})

t.test('a request with a body is not sent twice: the client gets 502 TARGET_RESET', async (t) => {
  const origin = await rawOrigin(t, (s, n) => (n === 1 ? s.write(ok('first')) : s.destroy()))
  const proxy = await startProxy(t)
  const client = await rawSocket(proxy.port)
  client.write(`GET ${origin.url}/a HTTP/1.1\r\nHost: x\r\n\r\n`)
  await readUntil(client, (x) => x.endsWith('first'))
  // the GET above went through undici's pool; the POST goes through node's client, whose pool is another:
  // make the node pool hold a stale connection first
  client.write(`POST ${origin.url}/p HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi`)
  await readUntil(client, (x) => x.split('first').length === 3)
  client.write(`POST ${origin.url}/p HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi`)
  const text = await readUntil(client, () => false, 3000)
  t.match(text, /HTTP\/1\.1 502[\s\S]*VIADUCT_ERR_TARGET_RESET/, 'no second attempt for a POST')
  t.equal(origin.connections(), 2, 'no retry connection')
})

t.test('an origin that stalls mid-body is cut after forward.limits.idleTimeoutMs', async (t) => {
  const origin = await rawOrigin(t, (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc'))
  const proxy = await startProxy(t, { limits: { idleTimeoutMs: 300 } })
  const client = await rawSocket(proxy.port)
  client.write(`GET ${origin.url}/ HTTP/1.1\r\nHost: x\r\n\r\n`)
  const t0 = Date.now()
  const text = await readUntil(client, () => false, 5000)
  t.match(text, /^HTTP\/1\.1 200[\s\S]*abc$/, 'the head and the first bytes were forwarded')
  t.ok(client.destroyed || client.readableEnded, 'then the client connection was closed')
  t.ok(Date.now() - t0 < 3000, 'after about the idle timeout')
  const recs = await settle(proxy.gw)
  t.ok(recs.some((r) => r.reason === 'VIADUCT_ERR_SESSION_IDLE'), 'ledger reason SESSION_IDLE')
})

t.test('interim 103 answers are not forwarded; the final answer is', async (t) => {
  const origin = await rawOrigin(t, (s) => s.write(`HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n${ok('final')}`))
  const proxy = await startProxy(t)
  const { text } = await rawExchange(proxy.port, `GET ${origin.url}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
  t.match(text, /^HTTP\/1\.1 200 OK[\s\S]*final$/)
  t.notMatch(text, /103/)
})

t.test('a client that leaves mid-body closes the upstream connection too', async (t) => {
  // (A client's FIN alone does not end its request: the proxy keeps half-closed clients, so the departure
  // shows at the next write, which is why this origin keeps sending: 1 KiB every 20 ms, at most 10 s.)
  let upstream: Socket | undefined
  const origin = await rawOrigin(t, (s) => {
    upstream = s
    s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nabc')
    let sent = 0
    const timer = setInterval(() => (++sent > 500 || s.destroyed ? clearInterval(timer) : s.write(Buffer.alloc(1024, 120))), 20)
    s.once('close', () => clearInterval(timer))
  })
  const proxy = await startProxy(t)
  const client = await rawSocket(proxy.port)
  client.write(`GET ${origin.url}/ HTTP/1.1\r\nHost: x\r\n\r\n`)
  await readUntil(client, (x) => x.endsWith('abc'))
  const closed = new Promise<void>((r) => upstream?.once('close', () => r()))
  client.destroy()
  await closed
  t.pass('the origin saw its connection closed')
  const recs = await settle(proxy.gw)
  t.ok(recs.some((r) => r.protocol === 'http' && r.reason === 'client_closed'), 'ledger reason CLIENT_CLOSED')
})

t.test('a response head undici refuses (a 100 to a GET) is a 502 with a reason, and the proxy goes on', async (t) => {
  const origin = await rawOrigin(t, (s) => s.write(`HTTP/1.1 100 Continue\r\n\r\n${ok('x')}`))
  const proxy = await startProxy(t)
  const { text } = await rawExchange(proxy.port, `GET ${origin.url}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
  t.match(text, /^HTTP\/1\.1 502[\s\S]*VIADUCT_ERR_HTTP_BAD_RESPONSE/)
  t.equal(origin.connections(), 1, 'not retried: the origin answered, wrongly')
  const good = await rawOrigin(t, (s) => s.write(ok('fine')))
  t.match((await rawExchange(proxy.port, `GET ${good.url}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)).text, /fine$/)
})

t.test('an origin answering random bytes (or a valid head then garbage) gets a 502 or its answer, never a crash (fast-check)', async (t) => {
  let next = Buffer.alloc(0)
  // the origin answers each request with the bytes of the current case, then closes
  const origin = await rawOrigin(t, (s) => s.end(next))
  const proxy = await startProxy(t, { limits: { idleTimeoutMs: 1000 } })
  const head = fc.constantFrom('HTTP/1.1 200 OK\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n', 'HTTP/1.0 204 No Content\r\n', 'HTTP/1.1 101 Switching\r\n', 'HTTP/9.9 200 OK\r\n', '')
  const cases = fc.tuple(head, fc.uint8Array({ maxLength: 300 }))
  await fc.assert(
    fc.asyncProperty(cases, async ([h, bytes]) => {
      next = Buffer.concat([Buffer.from(h, 'latin1'), Buffer.from(bytes)])
      const { text } = await rawExchange(proxy.port, `GET ${origin.url}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 4000)
      // what the client sees is a well-formed answer from the proxy: a 502 naming the cause, or the
      // origin's answer forwarded with the proxy's Via (or nothing at all when a body was cut short)
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1]
      if (status === '502') return /VIADUCT_ERR_/.test(text)
      return status === undefined ? text === '' : /\r\nVia: /i.test(text)
    }),
    { numRuns: 40 },
  )
  const good = await rawOrigin(t, (s) => s.write(ok('alive')))
  t.match((await rawExchange(proxy.port, `GET ${good.url}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)).text, /alive$/, 'the proxy still serves afterwards')
})

t.test('an HTTP upstream proxy answering 407 to our credentials: the client gets our error for GET (undici) and POST (node)', async (t) => {
  const good = await rawOrigin(t, (s) => s.write(ok('never')))
  const access = { allowPrivate: ['127.0.0.0/8'], connectPorts: ['*'] }
  const up = await startGateway(t, { forward: { http: { listen: '127.0.0.1:0' }, users: ['hop:right'], access } })
  const down = await startGateway(t, { forward: { http: { listen: '127.0.0.1:0' }, upstream: `http://hop:wrong@127.0.0.1:${addr(up, 'http').port}`, access } })
  const port = addr(down, 'http').port
  const get = await rawExchange(port, `GET ${good.url}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
  t.match(get.text, /^HTTP\/1\.1 502[\s\S]*VIADUCT_ERR_UPSTREAM_AUTH/, 'GET')
  const post = await rawExchange(port, `POST ${good.url}/ HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi`)
  t.match(post.text, /^HTTP\/1\.1 502[\s\S]*VIADUCT_ERR_UPSTREAM_AUTH/, 'POST')
  t.equal(good.connections(), 0, 'nothing reached the origin')
  const recs = await settle(down)
  t.equal(recs.filter((r) => r.reason === 'VIADUCT_ERR_UPSTREAM_AUTH').length, 2, 'both recorded with the reason')
})
