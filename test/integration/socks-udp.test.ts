/**
 * SOCKS5 UDP ASSOCIATE with the `socks` client: datagrams through a loopback UDP echo, the client-only
 * rule, FRAG != 0 dropped and counted, destinations checked against the rules, and the association
 * ending with its TCP control connection.
 */
import t from 'tap'
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { SocksClient } from 'socks'
import { udpEcho, socksGateway, socksWithResolver } from '../helpers/socks-fixtures.js'
import { settle } from '../helpers/gateway.js'

async function associate(port: number, userId?: string, password?: string) {
  const client = new SocksClient({
    command: 'associate',
    proxy: { host: '127.0.0.1', port, type: 5, userId, password },
    destination: { host: '0.0.0.0', port: 0 },
    timeout: 5000,
  })
  const info = await new Promise<{ socket: import('node:net').Socket; remoteHost?: { host: string; port: number } }>((resolve, reject) => {
    client.once('established', resolve)
    client.once('error', reject)
    client.connect()
  })
  return { control: info.socket, relay: info.remoteHost! }
}

async function udpClient(t: { teardown(fn: () => unknown): void }): Promise<UdpSocket> {
  const u = createSocket('udp4')
  await new Promise<void>((r) => u.bind(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => u.close(() => r())))
  return u
}

function nextMessage(u: UdpSocket, ms = 2000): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      u.off('message', on)
      resolve(null)
    }, ms)
    const on = (m: Buffer) => {
      clearTimeout(timer)
      u.off('message', on)
      resolve(m)
    }
    u.on('message', on)
  })
}

t.test('datagrams go through the association and come back with the SOCKS header', async (t) => {
  const echo = await udpEcho(t)
  const { gw, port } = await socksGateway(t, { users: ['u:p'] })
  const { control, relay } = await associate(port, 'u', 'p')
  t.equal(relay.host, '127.0.0.1', 'BND.ADDR is the address the client reached us on')
  const u = await udpClient(t)
  let sent = 0
  let received = 0
  for (let i = 0; i < 5; i++) {
    const frame = SocksClient.createUDPFrame({ remoteHost: { host: '127.0.0.1', port: echo.port }, data: Buffer.from(`dgram-${i}`) })
    sent += frame.length
    u.send(frame, relay.port, relay.host)
    const back = await nextMessage(u)
    t.ok(back, `datagram ${i} came back`)
    if (!back) continue
    received += back.length
    const parsed = SocksClient.parseUDPFrame(back)
    t.equal(parsed.data.toString(), `dgram-${i}`)
    t.equal(parsed.remoteHost.port, echo.port, 'the header names the echo server')
  }
  // a name the proxy resolves ("localhost" is in /etc/hosts)
  u.send(SocksClient.createUDPFrame({ remoteHost: { host: 'localhost', port: echo.port }, data: Buffer.from('by-name') }), relay.port, relay.host)
  const byName = await nextMessage(u)
  t.equal(byName && SocksClient.parseUDPFrame(byName).data.toString(), 'by-name', 'a domain destination works')
  if (byName) {
    sent += SocksClient.createUDPFrame({ remoteHost: { host: 'localhost', port: echo.port }, data: Buffer.from('by-name') }).length
    received += byName.length
  }
  // FRAG != 0 is dropped
  const frag = SocksClient.createUDPFrame({ remoteHost: { host: '127.0.0.1', port: echo.port }, data: Buffer.from('fragment'), frameNumber: 1 })
  u.send(frag, relay.port, relay.host)
  sent += frag.length
  t.equal(await nextMessage(u, 300), null, 'a fragment is dropped')
  control.end()
  const recs = await settle(gw)
  const r = recs.find((x) => x.protocol === 'socks5-udp')
  t.ok(r, 'one socks5-udp record')
  if (!r) return
  t.equal(r.user, 'u')
  t.equal(r.reason, 'client_closed', 'ends with the control connection')
  t.equal(r.meta?.datagramsUp, 6)
  t.equal(r.meta?.datagramsDown, 6)
  t.equal(r.meta?.droppedFrag, 1, 'the fragment is counted')
  // control connection bytes + datagrams at the client edge
  t.ok(r.bytesUp >= sent && r.bytesUp < sent + 40, `bytesUp ${r.bytesUp} counts ${sent} datagram bytes + handshake`)
  t.ok(r.bytesDown >= received && r.bytesDown < received + 20, `bytesDown ${r.bytesDown} counts ${received} datagram bytes + replies`)
})

t.test('only the client may use its UDP port; denied destinations are dropped', async (t) => {
  const echo = await udpEcho(t)
  const { gw, port } = await socksGateway(t, { access: { denyHosts: ['127.0.0.3'] } })
  const { control, relay } = await associate(port)
  const u = await udpClient(t)
  const stranger = await udpClient(t)
  const frame = (host: string, data: string) => SocksClient.createUDPFrame({ remoteHost: { host, port: echo.port }, data: Buffer.from(data) })
  u.send(frame('127.0.0.1', 'first'), relay.port, relay.host)
  t.ok(await nextMessage(u), 'the client is served (its port is now fixed)')
  stranger.send(frame('127.0.0.1', 'stranger'), relay.port, relay.host)
  t.equal(await nextMessage(stranger, 300), null, 'another port of the same host is not served')
  u.send(frame('127.0.0.3', 'denied'), relay.port, relay.host)
  t.equal(await nextMessage(u, 300), null, 'a denied destination is dropped')
  u.send(frame('127.0.0.1', 'still'), relay.port, relay.host)
  const still = await nextMessage(u)
  t.equal(still && SocksClient.parseUDPFrame(still).data.toString(), 'still', 'the association survives bad datagrams')
  control.destroy()
  const r = (await settle(gw)).find((x) => x.protocol === 'socks5-udp')
  t.equal(r?.meta?.droppedStranger, 1)
  t.equal(r?.meta?.droppedDenied, 1)
})

t.test('UDP disabled: UDP ASSOCIATE gets 0x07; SOCKS4 cannot associate', async (t) => {
  const { port } = await socksGateway(t, { socks: { udp: false } })
  await t.rejects(associate(port), /CommandNotSupported/)
})

t.test('a name that does not resolve is dropped (injected resolver)', async (t) => {
  const echo = await udpEcho(t)
  const resolve = async (h: string) => {
    if (h === 'echo.test') return ['127.0.0.1']
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${h}`), { code: 'ENOTFOUND' })
  }
  const s = await socksWithResolver(t, {}, resolve)
  const { control, relay } = await associate(s.port)
  const u = await udpClient(t)
  u.send(SocksClient.createUDPFrame({ remoteHost: { host: 'nowhere.test', port: echo.port }, data: Buffer.from('x') }), relay.port, relay.host)
  t.equal(await nextMessage(u, 300), null, 'unresolvable: dropped')
  u.send(SocksClient.createUDPFrame({ remoteHost: { host: 'echo.test', port: echo.port }, data: Buffer.from('y') }), relay.port, relay.host)
  const back = await nextMessage(u)
  t.equal(back && SocksClient.parseUDPFrame(back).data.toString(), 'y', 'resolved through the injected resolver')
  control.destroy()
})

t.test('a reply too large for its SOCKS header is counted and the association goes on', async (t) => {
  const big = createSocket('udp4')
  big.on('message', (m, r) => big.send(m.toString() === 'big' ? Buffer.alloc(65_500, 1) : m, r.port, r.address))
  await new Promise<void>((r) => big.bind(0, '127.0.0.1', r))
  t.teardown(() => big.close())
  const bigPort = big.address().port
  const { gw, port } = await socksGateway(t)
  const { control, relay } = await associate(port)
  const u = await udpClient(t)
  const frame = (data: string) => SocksClient.createUDPFrame({ remoteHost: { host: '127.0.0.1', port: bigPort }, data: Buffer.from(data) })
  u.send(frame('big'), relay.port, relay.host)
  t.equal(await nextMessage(u, 300), null, '65,500 bytes + a 10-byte header do not fit in a datagram')
  u.send(frame('small'), relay.port, relay.host)
  const back = await nextMessage(u)
  t.equal(back && SocksClient.parseUDPFrame(back).data.toString(), 'small', 'the association still works')
  control.destroy()
  const r = (await settle(gw)).find((x) => x.protocol === 'socks5-udp')
  t.equal(r?.meta?.sendErrors, 1)
  t.equal(r?.reason, 'client_closed')
})
