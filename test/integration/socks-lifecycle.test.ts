/**
 * Session lifecycle: idle tunnels and idle UDP associations end on the (manual) clock, destroy() ends
 * live sessions with reason "shutdown", close() waits for them, and a client that leaves while its target
 * is being dialled leaves one record.
 */
import t from 'tap'
import { createSocket } from 'node:dgram'
import { connect, type Socket } from 'node:net'
import { SocksClient } from 'socks'
import { ManualClock } from '../../src/core/clock.js'
import { closedWithin, echoServer, rawExchange, socksGateway, socksWithResolver, udpEcho } from '../helpers/socks-fixtures.js'
import { settle } from '../helpers/gateway.js'

const tick = (clock: ManualClock, ms: number) => {
  clock.tick(ms)
  return new Promise((r) => setTimeout(r, 20))
}

t.test('an idle CONNECT tunnel is closed after forward.limits.idleTimeoutMs', async (t) => {
  const clock = new ManualClock()
  const echo = await echoServer(t)
  const s = await socksWithResolver(t, { limits: { idleTimeoutMs: 1000 } }, async () => ['127.0.0.1'], clock)
  const { socket } = await SocksClient.createConnection({ command: 'connect', proxy: { host: '127.0.0.1', port: s.port, type: 5 }, destination: { host: '127.0.0.1', port: echo.port } })
  socket.on('data', () => undefined)
  for (let i = 0; i < 3; i++) {
    socket.write('traffic')
    await new Promise((r) => setTimeout(r, 30))
    await tick(clock, 1000)
    t.notOk(socket.destroyed, `period ${i + 1}: traffic keeps it open`)
  }
  await tick(clock, 1000)
  t.ok(await closedWithin(socket, 2000), 'closed after a silent period')
  t.equal(s.ledger.recent()[0].reason, 'VIADUCT_ERR_SESSION_IDLE')
})

t.test('an idle UDP association is closed after forward.socks.udpIdleTimeoutMs', async (t) => {
  const clock = new ManualClock()
  await udpEcho(t)
  const s = await socksWithResolver(t, { socks: { udpIdleTimeoutMs: 500 } }, async () => ['127.0.0.1'], clock)
  const client = new SocksClient({ command: 'associate', proxy: { host: '127.0.0.1', port: s.port, type: 5 }, destination: { host: '0.0.0.0', port: 0 } })
  const info = await new Promise<{ socket: Socket }>((resolve, reject) => {
    client.once('established', resolve)
    client.once('error', reject)
    client.connect()
  })
  await tick(clock, 500)
  await tick(clock, 500)
  t.ok(await closedWithin(info.socket, 2000), 'the control connection is closed')
  t.equal(s.ledger.recent()[0].reason, 'VIADUCT_ERR_SESSION_IDLE')
  t.equal(s.ledger.recent()[0].protocol, 'socks5-udp')
})

t.test('destroy() ends live tunnels and associations with "shutdown"; close() waits', async (t) => {
  const echo = await echoServer(t)
  const { gw, port } = await socksGateway(t)
  const tunnel = await SocksClient.createConnection({ command: 'connect', proxy: { host: '127.0.0.1', port, type: 5 }, destination: { host: '127.0.0.1', port: echo.port } })
  tunnel.socket.on('error', () => undefined)
  const assoc = new SocksClient({ command: 'associate', proxy: { host: '127.0.0.1', port, type: 5 }, destination: { host: '0.0.0.0', port: 0 } })
  const ctl = await new Promise<{ socket: Socket }>((resolve, reject) => {
    assoc.once('established', resolve)
    assoc.once('error', reject)
    assoc.connect()
  })
  ctl.socket.on('error', () => undefined)
  const u = createSocket('udp4')
  t.teardown(() => u.close())
  const handshaking = await new Promise<Socket>((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => resolve(s))
    s.on('error', () => undefined)
    s.write(Buffer.from([5]))
  })
  let closed = false
  const closing = gw.close().then(() => (closed = true))
  await new Promise((r) => setTimeout(r, 100))
  t.notOk(closed, 'close() waits for live sessions')
  await gw.destroy()
  await closing
  t.ok(await closedWithin(tunnel.socket, 2000))
  t.ok(await closedWithin(ctl.socket, 2000))
  t.ok(await closedWithin(handshaking, 2000))
  const recs = await settle(gw)
  t.same(recs.map((r) => r.reason).sort(), ['shutdown', 'shutdown', 'shutdown'], 'every live session ended with "shutdown"')
})

t.test('a client leaving while its target is dialled leaves one record', async (t) => {
  let release: (v: string[]) => void = () => undefined
  const s = await socksWithResolver(t, {}, () => new Promise<string[]>((r) => (release = r)))
  const { socket } = await rawExchange(s.port, Buffer.from([5, 1, 0, 5, 1, 0, 3, 4, 0x73, 0x6c, 0x6f, 0x77, 0, 80]), 2)
  await new Promise((r) => setTimeout(r, 30))
  socket.destroy()
  await new Promise((r) => setTimeout(r, 30))
  release(['127.0.0.1'])
  await new Promise((r) => setTimeout(r, 50))
  const recs = s.ledger.recent()
  t.equal(recs.length, 1)
  t.equal(recs[0].reason, 'client_closed')
  t.equal(s.ledger.liveCount, 0)
})
