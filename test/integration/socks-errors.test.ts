/**
 * Every SOCKS reply code produced by a real failing case on loopback (no traffic leaves the machine):
 * refused, network/host unreachable, timeout, ruleset, unknown command, unknown address type, malformed
 * handshakes, silent clients, the connection limit, client rules and loops. Bad input never harms other
 * sessions.
 */
import t from 'tap'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import { SocksClient } from 'socks'
import { ManualClock } from '../../src/core/clock.js'
import { encodeAddress } from '../../modes/forward/socks/codec.js'
import { closedPort, closedWithin, echoServer, rawExchange, socksGateway, socksWithResolver } from '../helpers/socks-fixtures.js'
import { settle } from '../helpers/gateway.js'

const GREET = Buffer.from([5, 1, 0])
function req5(cmd: number, host: string, port: number): Buffer {
  return Buffer.concat([Buffer.from([5, cmd, 0]), encodeAddress(host, port)])
}
function req4(cmd: number, port: number, ip: string, user = ''): Buffer {
  const b = Buffer.alloc(8)
  b[0] = 4
  b[1] = cmd
  b.writeUInt16BE(port, 2)
  ip.split('.').forEach((x, i) => (b[4 + i] = Number(x)))
  return Buffer.concat([b, Buffer.from(user), Buffer.from([0])])
}
/** The REP byte of a SOCKS5 exchange: greeting reply (2 bytes) + reply (10 bytes for IPv4). */
async function rep5(port: number, request: Buffer): Promise<number> {
  const { data, socket } = await rawExchange(port, Buffer.concat([GREET, request]), 12)
  socket.destroy()
  return data[3]
}
async function rep4(port: number, request: Buffer): Promise<number> {
  const { data, socket } = await rawExchange(port, request, 8)
  socket.destroy()
  return data[1]
}

t.test('refused (0x05 / 0x5B): a closed local port', async (t) => {
  const { gw, port } = await socksGateway(t)
  const dead = await closedPort()
  t.equal(await rep5(port, req5(1, '127.0.0.1', dead)), 0x05)
  t.equal(await rep4(port, req4(1, dead, '127.0.0.1')), 0x5b)
  const recs = await settle(gw)
  t.equal(recs.filter((r) => r.reason === 'VIADUCT_ERR_TARGET_REFUSED').length, 2, 'recorded as TARGET_REFUSED')
})

t.test('network unreachable (0x03): TCP to a multicast address fails locally with ENETUNREACH', async (t) => {
  const { gw, port } = await socksGateway(t, { access: { allowPrivate: ['127.0.0.0/8', '224.0.0.0/4'] } })
  t.equal(await rep5(port, req5(1, '224.0.0.1', 9)), 0x03)
  const recs = await settle(gw)
  t.equal(recs[0].reason, 'VIADUCT_ERR_TARGET_NETWORK')
})

t.test('host unreachable (0x04): a name that does not resolve (injected resolver, no DNS traffic)', async (t) => {
  const resolve = async (host: string) => {
    if (host === 'localhost') return ['127.0.0.1']
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND', hostname: host })
  }
  const s = await socksWithResolver(t, {}, resolve)
  t.equal(await rep5(s.port, req5(1, 'nothing.invalid', 80)), 0x04)
  t.equal(s.ledger.recent()[0].reason, 'VIADUCT_ERR_TARGET_DNS')
  // SOCKS4A, the same failure: "request rejected or failed"
  const r4 = Buffer.concat([req4(1, 80, '0.0.0.1'), Buffer.from('nothing.invalid\0')])
  t.equal(await rep4(s.port, r4), 0x5b)
})

t.test('timeout (0x04): an upstream that never answers, with a short connect timeout', async (t) => {
  const silent = createServer((s) => s.on('error', () => undefined))
  const held: Socket[] = []
  silent.on('connection', (s) => held.push(s))
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r))
  t.teardown(() => {
    held.forEach((s) => s.destroy())
    silent.close()
  })
  const up = (silent.address() as AddressInfo).port
  const { gw, port } = await socksGateway(t, { upstream: `socks5://127.0.0.1:${up}`, limits: { connectTimeoutMs: 200 } })
  const t0 = Date.now()
  t.equal(await rep5(port, req5(1, '127.0.0.1', 80)), 0x04)
  t.ok(Date.now() - t0 >= 150, 'answered after the timeout')
  const recs = await settle(gw)
  t.equal(recs[0].reason, 'VIADUCT_ERR_TARGET_TIMEOUT')
})

t.test('ruleset (0x02 / 0x5B): deny rule, private address, port rule, loop', async (t) => {
  const echo = await echoServer(t)
  const { gw, port } = await socksGateway(t, { access: { denyHosts: ['blocked.example', '127.0.0.2'], connectPorts: [String(echo.port)] } })
  t.equal(await rep5(port, req5(1, 'blocked.example', echo.port)), 0x02, 'denyHosts name')
  t.equal(await rep5(port, req5(1, '127.0.0.2', echo.port)), 0x02, 'denyHosts address')
  t.equal(await rep5(port, req5(1, '127.0.0.1', 22)), 0x02, 'port not in connectPorts')
  t.equal(await rep4(port, req4(1, 22, '127.0.0.1')), 0x5b, 'SOCKS4, port not in connectPorts')
  const recs = await settle(gw)
  t.same(recs.map((r) => r.reason).sort(), ['VIADUCT_ERR_ACCESS_DESTINATION', 'VIADUCT_ERR_ACCESS_DESTINATION', 'VIADUCT_ERR_ACCESS_PORT', 'VIADUCT_ERR_ACCESS_PORT'])
})

t.test('private targets and loops are refused by default', async (t) => {
  const { gw, port } = await socksGateway(t, { access: { allowPrivate: [] } })
  t.equal(await rep5(port, req5(1, '10.1.2.3', 443)), 0x02, 'private address without allowPrivate')
  const gw2 = await socksGateway(t)
  t.equal(await rep5(gw2.port, req5(1, '127.0.0.1', gw2.port)), 0x02, 'the proxy itself')
  t.equal((await settle(gw))[0].reason, 'VIADUCT_ERR_ACCESS_PRIVATE')
  t.equal((await settle(gw2.gw))[0].reason, 'VIADUCT_ERR_ACCESS_LOOP')
})

t.test('unknown command (0x07), BIND disabled (0x07), unknown address type (0x08)', async (t) => {
  const { gw, port } = await socksGateway(t)
  t.equal(await rep5(port, req5(0x09, '127.0.0.1', 80)), 0x07, 'command 0x09')
  t.equal(await rep5(port, req5(0x02, '127.0.0.1', 80)), 0x07, 'BIND with forward.socks.bind = false')
  const badAtyp = Buffer.from([5, 1, 0, 0x02, 1, 2, 3, 4, 0, 80])
  t.equal(await rep5(port, badAtyp), 0x08, 'address type 0x02')
  t.equal(await rep4(port, req4(0x03, 80, '127.0.0.1')), 0x5b, 'SOCKS4 has no command 3')
  const recs = await settle(gw)
  t.same(recs.map((r) => r.reason).sort(), [
    'VIADUCT_ERR_SOCKS_ADDRESS_TYPE',
    'VIADUCT_ERR_SOCKS_COMMAND',
    'VIADUCT_ERR_SOCKS_COMMAND',
    'VIADUCT_ERR_SOCKS_COMMAND',
  ])
})

t.test('malformed handshakes get the protocol refusal and a close', async (t) => {
  const { gw, port } = await socksGateway(t)
  const noMethods = await rawExchange(port, Buffer.from([5, 0]), 2)
  t.same([...noMethods.data], [5, 0xff], 'greeting with zero methods: method 0xFF')
  t.ok(await closedWithin(noMethods.socket, 3000), 'then closed')
  const gssOnly = await rawExchange(port, Buffer.from([5, 1, 1]), 2)
  t.same([...gssOnly.data], [5, 0xff], 'only GSSAPI offered: 0xFF')
  const http = await rawExchange(port, Buffer.from('GET / HTTP/1.1\r\n\r\n'), 1)
  t.equal(http.data.length, 0, 'not SOCKS: closed without a reply')
  t.ok(http.closed)
  const emptyName = await rawExchange(port, Buffer.concat([GREET, Buffer.from([5, 1, 0, 3, 0, 0, 80])]), 12)
  t.equal(emptyName.data[3], 0x01, 'empty domain name: general failure')
  const longUser = await rawExchange(port, Buffer.concat([req4(1, 80, '127.0.0.1').subarray(0, 8), Buffer.alloc(300, 0x41)]), 8)
  t.equal(longUser.data[1], 0x5b, 'SOCKS4 USERID over 255 bytes: 0x5B')
  const recs = await settle(gw)
  t.same(recs.map((r) => r.reason).sort(), [
    'VIADUCT_ERR_SOCKS_MALFORMED',
    'VIADUCT_ERR_SOCKS_MALFORMED',
    'VIADUCT_ERR_SOCKS_MALFORMED',
    'VIADUCT_ERR_SOCKS_NO_METHOD',
    'VIADUCT_ERR_SOCKS_VERSION',
  ])
})

t.test('a silent client is closed after the handshake timeout (manual clock)', async (t) => {
  const clock = new ManualClock()
  const s = await socksWithResolver(t, { socks: { handshakeTimeoutMs: 5000 } }, async () => ['127.0.0.1'], clock)
  const { socket } = await rawExchange(s.port, Buffer.from([5]), 0)
  await new Promise((r) => setTimeout(r, 50))
  t.notOk(socket.destroyed, 'still open before the timeout')
  clock.tick(5001)
  t.ok(await closedWithin(socket, 3000), 'closed after the timeout')
  t.equal(s.ledger.recent()[0].reason, 'VIADUCT_ERR_SOCKS_HANDSHAKE_TIMEOUT')
})

t.test('client rules and the connection limit', async (t) => {
  const echo = await echoServer(t)
  const denied = await socksGateway(t, { access: { clients: ['10.0.0.0/8'] } })
  const g = await rawExchange(denied.port, GREET, 2)
  t.same([...g.data], [5, 0xff], 'SOCKS5 client not in forward.access.clients: 0xFF')
  t.equal(await rep4(denied.port, req4(1, echo.port, '127.0.0.1')), 0x5b, 'SOCKS4: 0x5B')
  t.equal((await settle(denied.gw))[0].reason, 'VIADUCT_ERR_ACCESS_CLIENT')

  const limited = await socksGateway(t, { limits: { maxConnections: 1 } })
  const first = await SocksClient.createConnection({ command: 'connect', proxy: { host: '127.0.0.1', port: limited.port, type: 5 }, destination: { host: '127.0.0.1', port: echo.port } })
  await t.rejects(
    SocksClient.createConnection({ command: 'connect', proxy: { host: '127.0.0.1', port: limited.port, type: 5 }, destination: { host: '127.0.0.1', port: echo.port }, timeout: 3000 }),
    'the second connection is closed',
  )
  first.socket.write('still-alive')
  const back = await new Promise<string>((r) => first.socket.once('data', (c) => r(c.toString())))
  t.equal(back, 'still-alive', 'the first session is unharmed')
  first.socket.destroy()
  t.ok((await settle(limited.gw)).some((r) => r.reason === 'VIADUCT_ERR_SESSION_LIMIT'), 'SESSION_LIMIT recorded')
})

t.test('garbage on one connection does not harm a live session', async (t) => {
  const echo = await echoServer(t)
  const { port } = await socksGateway(t)
  const live = await SocksClient.createConnection({ command: 'connect', proxy: { host: '127.0.0.1', port, type: 5 }, destination: { host: '127.0.0.1', port: echo.port } })
  const { gw } = await socksGateway(t)
  const gport = (gw.address('socks') as AddressInfo).port
  // random-ish junk after a SOCKS version byte, then FIN: every one ends with a reason, none crashes
  for (let i = 0; i < 40; i++) {
    const junk = Buffer.from(Array.from({ length: 40 }, (_, j) => (i * 31 + j * 17 + ((i * j) % 7)) & 0xff))
    junk[0] = i % 2 ? 5 : 4
    const s = connect({ host: '127.0.0.1', port: i % 4 < 2 ? port : gport })
    s.on('error', () => undefined)
    s.end(junk)
    s.resume()
    await new Promise((r) => s.once('close', r))
  }
  t.ok((await settle(gw)).every((r) => r.state === 'closed' && typeof r.reason === 'string'), 'every junk session closed with a reason')
  live.socket.write('ping')
  t.equal(await new Promise<string>((r) => live.socket.once('data', (c) => r(c.toString()))), 'ping')
  live.socket.destroy()
})
