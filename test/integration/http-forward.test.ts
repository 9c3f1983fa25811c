/**
 * Plain forwarding with real clients: undici ProxyAgent (absolute form and CONNECT), keep-alive reuse to
 * several hosts on one client connection, pooled upstream connections, header rules both ways, Via,
 * X-Forwarded-For modes, Max-Forwards for TRACE/OPTIONS, Expect: 100-continue.
 */
import t from 'tap'
import { request as httpRequest, Agent as HttpAgent } from 'node:http'
import { ProxyAgent, request } from 'undici'
import { settle } from '../helpers/gateway.js'
import { rawExchange, rawHeader, rawHeaderNames, rawSocket, readUntil, startOrigin, startProxy, type Echo } from '../helpers/http-origin.js'

t.test('undici ProxyAgent, absolute form (proxyTunnel: false) and CONNECT', async (t) => {
  const origin = await startOrigin(t)
  const proxy = await startProxy(t)
  const plain = new ProxyAgent({ uri: proxy.url, proxyTunnel: false })
  const tunnel = new ProxyAgent({ uri: proxy.url })
  t.teardown(async () => {
    await plain.destroy()
    await tunnel.destroy()
  })
  const a = await request(`${origin.url}/a`, { dispatcher: plain, method: 'POST', body: 'x'.repeat(1000) })
  const ea = (await a.body.json()) as Echo
  t.equal(a.statusCode, 200)
  t.equal(ea.bodyBytes, 1000, 'body forwarded')
  t.equal(rawHeader(ea.rawHeaders, 'via'), '1.1 viaduct')
  const b = await request(`${origin.url}/b`, { dispatcher: tunnel })
  const eb = (await b.body.json()) as Echo
  t.equal(eb.url, '/b')
  t.equal(rawHeader(eb.rawHeaders, 'via'), undefined, 'tunnelled: no Via')
  await plain.close()
  await tunnel.close()
  const recs = await settle(proxy.gw)
  t.ok(recs.some((r) => r.protocol === 'http' && r.target === `${origin.url}/a`))
  t.ok(recs.some((r) => r.protocol === 'connect' && r.target === `127.0.0.1:${origin.port}`))
})

t.test('keep-alive: one client connection asks several hosts in turn; upstream connections are pooled', async (t) => {
  const o1 = await startOrigin(t)
  const o2 = await startOrigin(t)
  const proxy = await startProxy(t)
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  const clientPorts = new Set<number>()
  const upstreamPorts: Record<string, Set<number>> = { o1: new Set(), o2: new Set() }
  const get = (url: string) =>
    new Promise<Echo>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: proxy.port, path: url, agent, headers: { Host: new URL(url).host } }, (res) => {
        clientPorts.add(req.socket?.localPort ?? 0)
        let b = ''
        res.setEncoding('utf8')
        res.on('data', (d) => (b += d))
        res.on('end', () => resolve(JSON.parse(b) as Echo))
      })
      req.on('error', reject)
      req.end()
    })
  for (let i = 0; i < 3; i++) {
    upstreamPorts.o1.add((await get(`${o1.url}/one${i}`)).remotePort)
    upstreamPorts.o2.add((await get(`http://localhost:${o2.port}/two${i}`)).remotePort)
  }
  t.equal(clientPorts.size, 1, 'all six requests on one client connection')
  t.equal(upstreamPorts.o1.size, 1, 'origin 1 saw one pooled connection')
  t.equal(upstreamPorts.o2.size, 1, 'origin 2 saw one pooled connection')
  const recs = (await settle(proxy.gw)).filter((r) => r.protocol === 'http')
  t.equal(recs.length, 6, 'one ledger session per request')
  t.ok(recs.some((r) => r.target === `http://localhost:${o2.port}/two2`))
})

t.test('hop-by-hop fields are removed both ways; Host rebuilt; Via added both ways', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    const body = JSON.stringify({ rawHeaders: req.rawHeaders, url: req.url })
    res.writeHead(200, [
      'Content-Length', String(Buffer.byteLength(body)),
      'Content-Type', 'application/json',
      'Connection', 'keep-alive, X-Origin-Hop',
      'X-Origin-Hop', 'secret',
      'Keep-Alive', 'timeout=5',
      'Proxy-Authenticate', 'Basic realm="origin"',
      'X-End', 'kept',
      'Via', '1.0 upstream-cache',
    ])
    res.end(body)
  })
  const proxy = await startProxy(t)
  const s = await rawSocket(proxy.port)
  t.teardown(() => s.destroy())
  s.write(
    `GET ${origin.url}/h HTTP/1.1\r\nHost: evil.example\r\nConnection: keep-alive, X-Client-Hop\r\nX-Client-Hop: 1\r\nProxy-Connection: keep-alive\r\n` +
      `Keep-Alive: 300\r\nTE: trailers\r\nTrailer: X-T\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\nUpgrade: h2c\r\nX-Forwarded-For: 10.9.9.9\r\nX-Keep: yes\r\n\r\n`,
  )
  const text = await readUntil(s, (x) => x.includes('}'))
  const [head, body] = text.split('\r\n\r\n')
  const got = JSON.parse(body) as { rawHeaders: string[] }
  const names = rawHeaderNames(got.rawHeaders)
  for (const n of ['x-client-hop', 'proxy-connection', 'keep-alive', 'te', 'trailer', 'proxy-authorization', 'upgrade', 'x-forwarded-for']) {
    t.notOk(names.includes(n), `request: ${n} removed`)
  }
  t.equal(rawHeader(got.rawHeaders, 'host'), `127.0.0.1:${origin.port}`, 'Host from the absolute URL, not the client Host')
  t.equal(names.filter((n) => n === 'host').length, 1, 'exactly one Host')
  t.equal(rawHeader(got.rawHeaders, 'x-keep'), 'yes')
  t.equal(rawHeader(got.rawHeaders, 'via'), '1.1 viaduct')
  const lines = head.toLowerCase().split('\r\n')
  t.notOk(lines.some((l) => l.startsWith('x-origin-hop')), 'response: field named by Connection removed')
  t.notOk(lines.some((l) => l.startsWith('proxy-authenticate')), 'response: Proxy-Authenticate removed')
  t.notOk(lines.some((l) => l.startsWith('keep-alive: timeout=5')), "response: origin's Keep-Alive removed")
  t.ok(lines.includes('x-end: kept'))
  t.ok(lines.includes('via: 1.0 upstream-cache') && lines.includes('via: 1.1 viaduct'), 'response Via appended after the existing one')
})

t.test('X-Forwarded-For: off (default) hides the client, add appends, replace sets', async (t) => {
  const origin = await startOrigin(t)
  const xff = async (mode: string | undefined, sent: string | undefined) => {
    const proxy = await startProxy(t, mode ? { http: { xForwardedFor: mode } } : {})
    const r = await rawExchange(proxy.port, `GET ${origin.url}/ HTTP/1.1\r\nHost: x\r\n${sent ? `X-Forwarded-For: ${sent}\r\n` : ''}Connection: close\r\n\r\n`)
    const echo = JSON.parse(r.text.split('\r\n\r\n')[1]) as Echo
    return rawHeader(echo.rawHeaders, 'x-forwarded-for')
  }
  t.equal(await xff(undefined, undefined), undefined, 'default: none')
  t.equal(await xff(undefined, '10.1.1.1'), undefined, 'off: an incoming one is dropped too')
  t.equal(await xff('add', '10.1.1.1'), '10.1.1.1, 127.0.0.1', 'add appends the client')
  t.equal(await xff('add', undefined), '127.0.0.1')
  t.equal(await xff('replace', '10.1.1.1'), '127.0.0.1', 'replace: only the client')
})

t.test('Via can be renamed or turned off', async (t) => {
  const origin = await startOrigin(t)
  for (const [via, want] of [['gw7', '1.1 gw7'], [false, undefined]] as const) {
    const proxy = await startProxy(t, { http: { via } })
    const r = await rawExchange(proxy.port, `GET ${origin.url}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
    t.equal(rawHeader((JSON.parse(r.text.split('\r\n\r\n')[1]) as Echo).rawHeaders, 'via'), want, `via=${String(via)}`)
  }
})

t.test('Max-Forwards: TRACE/OPTIONS with 0 answered by the proxy, otherwise decremented', async (t) => {
  let originHits = 0
  const origin = await startOrigin(t, (req, res) => {
    originHits++
    res.end(JSON.stringify({ mf: req.headers['max-forwards'] ?? null, method: req.method }))
  })
  const proxy = await startProxy(t)
  const trace0 = await rawExchange(proxy.port, `TRACE ${origin.url}/t HTTP/1.1\r\nHost: x\r\nMax-Forwards: 0\r\nCookie: secret=1\r\nX-Mine: 1\r\nConnection: close\r\n\r\n`)
  t.match(trace0.text, /^HTTP\/1\.1 200 /)
  t.match(trace0.text, /content-type: message\/http/i)
  t.match(trace0.text, new RegExp(`TRACE ${origin.url}/t HTTP/1.1`))
  t.match(trace0.text, /X-Mine: 1/)
  t.notMatch(trace0.text, /secret=1/, 'TRACE does not echo cookies')
  const opt0 = await rawExchange(proxy.port, `OPTIONS ${origin.url}/ HTTP/1.1\r\nHost: x\r\nMax-Forwards: 0\r\nConnection: close\r\n\r\n`)
  t.match(opt0.text, /^HTTP\/1\.1 200 /)
  t.match(opt0.text, /allow: .*CONNECT/i)
  t.equal(originHits, 0, 'neither reached the origin')
  const opt3 = await rawExchange(proxy.port, `OPTIONS ${origin.url}/ HTTP/1.1\r\nHost: x\r\nMax-Forwards: 3\r\nConnection: close\r\n\r\n`)
  t.same(JSON.parse(opt3.text.split('\r\n\r\n')[1]), { mf: '2', method: 'OPTIONS' }, 'forwarded with Max-Forwards decremented')
  const get0 = await rawExchange(proxy.port, `GET ${origin.url}/ HTTP/1.1\r\nHost: x\r\nMax-Forwards: 0\r\nConnection: close\r\n\r\n`)
  t.same(JSON.parse(get0.text.split('\r\n\r\n')[1]), { mf: '0', method: 'GET' }, 'GET ignores Max-Forwards')
})

t.test('Expect: 100-continue is relayed from the origin, and a refusal reaches the client before the body', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    if (req.url === '/refuse') {
      res.writeHead(417, { 'Content-Length': '4' })
      return res.end('nope')
    }
    let n = 0
    req.on('data', (d: Buffer) => (n += d.length))
    req.on('end', () => res.end(`got ${n}`))
  })
  origin.server.on('checkContinue', (req, res) => {
    if (req.url === '/refuse') origin.server.emit('request', req, res)
    else {
      res.writeContinue()
      origin.server.emit('request', req, res)
    }
  })
  const proxy = await startProxy(t)
  const s = await rawSocket(proxy.port)
  t.teardown(() => s.destroy())
  s.write(`PUT ${origin.url}/ok HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n`)
  const cont = await readUntil(s, (x) => x.includes('\r\n\r\n'))
  t.match(cont, /^HTTP\/1\.1 100 Continue\r\n/, '100 Continue relayed')
  s.write('hello')
  const fin = await readUntil(s, (x) => x.includes('got 5'))
  t.match(fin, /200 OK[\s\S]*got 5/)
  s.write(`PUT ${origin.url}/refuse HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n`)
  const refused = await readUntil(s, (x) => x.includes('nope'))
  t.match(refused, /^HTTP\/1\.1 417 /, 'final status without a 100 first')
})

t.test('a request split at random points gives the same answer (fast-check)', async (t) => {
  const { default: fc } = await import('fast-check')
  const origin = await startOrigin(t)
  const proxy = await startProxy(t)
  const req = Buffer.from(`POST ${origin.url}/split?q=1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`)
  await fc.assert(
    fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 1, max: req.length - 1 }), { maxLength: 6 }), async (cuts) => {
      const s = await rawSocket(proxy.port)
      const points = [0, ...cuts.sort((a, b) => a - b), req.length]
      const reply = readUntil(s, () => false, 3000)
      for (let i = 0; i + 1 < points.length; i++) {
        s.write(req.subarray(points[i], points[i + 1]))
        await new Promise((r) => setTimeout(r, 2))
      }
      const text = await reply
      const echo = JSON.parse(text.split('\r\n\r\n')[1]) as Echo
      return /^HTTP\/1\.1 200 /.test(text) && echo.url === '/split?q=1' && echo.bodyBytes === 11
    }),
    { numRuns: 15 },
  )
  t.pass('every split gave the same answer')
})

t.test('bytes sent right after CONNECT, in the same packet, reach the target', async (t) => {
  const { createServer } = await import('node:net')
  const echo = createServer((c) => c.pipe(c))
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r))
  t.teardown(() => echo.close())
  const port = (echo.address() as { port: number }).port
  const proxy = await startProxy(t)
  const s = await rawSocket(proxy.port)
  t.teardown(() => s.destroy())
  s.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: x\r\n\r\nearly-bytes`)
  const text = await readUntil(s, (x) => x.includes('early-bytes'))
  t.match(text, /^HTTP\/1\.1 200 Connection established\r\nVia: 1\.1 viaduct\r\n\r\nearly-bytes$/)
})

t.test('HEAD, 204 and 304 carry no body and keep the connection usable', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    if (req.url === '/204') res.writeHead(204).end()
    else if (req.url === '/304') res.writeHead(304, { ETag: '"x"' }).end()
    else res.writeHead(200, { 'Content-Length': '5' }).end(req.method === 'HEAD' ? undefined : 'hello')
  })
  const proxy = await startProxy(t)
  const s = await rawSocket(proxy.port)
  t.teardown(() => s.destroy())
  s.write(`HEAD ${origin.url}/h HTTP/1.1\r\nHost: x\r\n\r\n`)
  const head = await readUntil(s, (x) => x.includes('\r\n\r\n'))
  t.match(head, /^HTTP\/1\.1 200 OK\r\n/)
  t.match(head, /Content-Length: 5\r\n/i, 'HEAD keeps the length of what GET would send')
  for (const code of ['204', '304']) {
    s.write(`GET ${origin.url}/${code} HTTP/1.1\r\nHost: x\r\n\r\n`)
    const r = await readUntil(s, (x) => x.includes('\r\n\r\n'))
    t.match(r, new RegExp(`^HTTP/1\\.1 ${code} `))
    t.ok(r.endsWith('\r\n\r\n'), `${code}: nothing after the head`)
  }
  s.write(`GET ${origin.url}/g HTTP/1.1\r\nHost: x\r\n\r\n`)
  const g = await readUntil(s, (x) => x.endsWith('hello'))
  t.match(g, /^HTTP\/1\.1 200 OK[\s\S]*\r\n\r\nhello$/, 'the connection is still in step')
})

t.test('a close-delimited HTTP/1.0 origin response reaches an HTTP/1.1 client chunked and whole', async (t) => {
  const { createServer } = await import('node:net')
  const old = createServer((c) => {
    c.once('data', () => c.end('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n' + 'z'.repeat(100_000)))
  })
  await new Promise<void>((r) => old.listen(0, '127.0.0.1', r))
  t.teardown(() => old.close())
  const port = (old.address() as { port: number }).port
  const proxy = await startProxy(t)
  const s = await rawSocket(proxy.port)
  t.teardown(() => s.destroy())
  s.write(`GET http://127.0.0.1:${port}/ HTTP/1.1\r\nHost: x\r\n\r\n`)
  const text = await readUntil(s, (x) => x.endsWith('\r\n0\r\n\r\n'))
  t.match(text, /^HTTP\/1\.1 200 OK\r\n/)
  t.match(text, /Transfer-Encoding: chunked/i)
  t.match(text, /Via: 1\.0 viaduct/, 'Via names the version the origin spoke')
  const body = text.split('\r\n\r\n').slice(1).join('\r\n\r\n').replace(/(^|\r\n)[0-9a-f]+\r\n/g, '')
  t.equal(body.replace(/\r\n$/, '').replace(/\r\n/g, '').length, 100_000, 'whole body')
})
