/**
 * WebSocket upgrades through the proxy with the ws package on both ends: in absolute form (the proxy
 * forwards the upgrade and splices), and through a CONNECT tunnel. A refused upgrade is relayed.
 */
import t from 'tap'
import { connect, type AddressInfo } from 'node:net'
import type { ClientRequest } from 'node:http'
import { WebSocket, WebSocketServer } from 'ws'
import { settle } from '../helpers/gateway.js'
import { rawExchange, startProxy } from '../helpers/http-origin.js'

async function startWsOrigin(t: { teardown(fn: () => unknown): void }) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise<void>((r) => wss.once('listening', r))
  const seen: Array<Record<string, string | string[] | undefined>> = []
  wss.on('connection', (ws, req) => {
    seen.push(req.headers)
    ws.on('message', (m, binary) => ws.send(binary ? m : `echo:${m.toString()}`, { binary }))
  })
  t.teardown(() => {
    for (const c of wss.clients) c.terminate()
    wss.close()
  })
  return { wss, port: (wss.address() as AddressInfo).port, seen }
}

type ClientOpts = ConstructorParameters<typeof WebSocket>[2]

function open(url: string, opts: ClientOpts): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts)
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
    ws.once('unexpected-response', (_req, res) => reject(new Error(`status ${res.statusCode}`)))
  })
}

function roundTrip(ws: WebSocket, data: string | Buffer): Promise<Buffer> {
  return new Promise((resolve) => ws.once('message', (m: Buffer) => resolve(m)) && ws.send(data))
}

t.test('absolute-form upgrade passes through; messages both ways; one websocket session', async (t) => {
  const origin = await startWsOrigin(t)
  const proxy = await startProxy(t)
  const target = `ws://127.0.0.1:${origin.port}/chat?room=1`
  const ws = await open(target, {
    // connect to the proxy and send the request line in absolute form, as a proxy-aware client does
    createConnection: () => connect(proxy.port, '127.0.0.1'),
    finishRequest: (req: ClientRequest) => {
      req.path = `http://127.0.0.1:${origin.port}/chat?room=1`
      req.setHeader('Proxy-Connection', 'keep-alive')
      req.end()
    },
  } as ClientOpts)
  t.equal((await roundTrip(ws, 'hello')).toString(), 'echo:hello')
  const big = Buffer.alloc(1024 * 1024, 7)
  t.same(await roundTrip(ws, big), big, '1 MiB binary message intact')
  t.equal(origin.seen[0]?.upgrade, 'websocket', 'Upgrade re-stated to the origin')
  t.equal(origin.seen[0]?.['proxy-connection'], undefined, 'hop-by-hop removed')
  t.equal(origin.seen[0]?.via, '1.1 viaduct')
  ws.close()
  await new Promise((r) => ws.once('close', r))
  const recs = await settle(proxy.gw)
  const rec = recs.find((r) => r.protocol === 'websocket')
  t.equal(rec?.target, `http://127.0.0.1:${origin.port}/chat?room=1`)
  t.ok((rec?.bytesUp ?? 0) > 1024 * 1024 && (rec?.bytesDown ?? 0) > 1024 * 1024, 'bytes counted both ways')
  t.match(rec?.reason ?? '', /client_closed|target_closed/)
})

t.test('websocket through a CONNECT tunnel', async (t) => {
  const origin = await startWsOrigin(t)
  const proxy = await startProxy(t)
  const sock = connect(proxy.port, '127.0.0.1')
  sock.write(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`)
  await new Promise<void>((resolve) => {
    let buf = ''
    const onData = (d: Buffer) => {
      buf += d.toString('latin1')
      if (buf.includes('\r\n\r\n')) {
        sock.off('data', onData)
        resolve()
      }
    }
    sock.on('data', onData)
  })
  const ws = await open(`ws://127.0.0.1:${origin.port}/t`, { createConnection: () => sock } as ClientOpts)
  t.equal((await roundTrip(ws, 'x')).toString(), 'echo:x')
  ws.terminate()
  const recs = await settle(proxy.gw)
  t.ok(recs.some((r) => r.protocol === 'connect'))
})

t.test('a refused upgrade is relayed and the connection closed', async (t) => {
  const origin = await startWsOrigin(t)
  origin.wss.options.verifyClient = () => false
  const proxy = await startProxy(t)
  const r = await rawExchange(
    proxy.port,
    `GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
  )
  t.match(r.text, /^HTTP\/1\.1 401 /)
  t.ok(r.closed)
  const refused = await rawExchange(proxy.port, `GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`)
  t.match(refused.text, /^HTTP\/1\.1 400 [\s\S]*VIADUCT_ERR_HTTP_ORIGIN_FORM/, 'origin-form upgrade to the proxy: 400')
})
