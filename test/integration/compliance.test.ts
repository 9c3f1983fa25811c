/**
 * One compliance suite that every mode's session type passes (libp2p runs one transport suite against
 * each transport): it listens on port 0, accounts bytes exactly at the client's socket edge, survives a
 * second close(), and destroy() ends live sessions with reason "shutdown".
 *
 * A driver opens one session of its kind through a real gateway to a local echo, with a real client.
 */
import t from 'tap'
import { createServer, connect, type Socket } from 'node:net'
import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import { SocksClient } from 'socks'
import { startGateway } from '../helpers/gateway.js'
import { drivers as relayDrivers } from './compliance-relay.js'
import { streamSession, type Driver, type Echo, type OpenSession } from './compliance-session.js'

function tcpSession(sock: Socket): OpenSession {
  return streamSession(sock, () => ({ up: sock.bytesWritten, down: sock.bytesRead }))
}

const forwardDrivers: Driver[] = [
  {
    name: 'forward: HTTP CONNECT tunnel',
    mode: 'forward',
    config: { forward: { http: { listen: '127.0.0.1:0' }, access: { allowPrivate: ['127.0.0.0/8'], connectPorts: ['*'] } } },
    normalReasons: ['client_closed', 'target_closed'],
    async open(gw, echo) {
      const l = gw.address('http')!
      const sock = connect(l.port, '127.0.0.1')
      await once(sock, 'connect')
      sock.write(`CONNECT 127.0.0.1:${echo.tcpPort} HTTP/1.1\r\nHost: 127.0.0.1:${echo.tcpPort}\r\n\r\n`)
      let head = ''
      await new Promise<void>((resolve, reject) => {
        const onData = (d: Buffer) => {
          head += d.toString('latin1')
          const i = head.indexOf('\r\n\r\n')
          if (i < 0) return
          sock.off('data', onData)
          if (!/^HTTP\/1\.1 200/.test(head)) return reject(new Error(`CONNECT refused: ${head}`))
          if (i + 4 < head.length) sock.unshift(Buffer.from(head.slice(i + 4), 'latin1'))
          resolve()
        }
        sock.on('data', onData)
      })
      return tcpSession(sock)
    },
  },
  {
    name: 'forward: SOCKS5 CONNECT',
    mode: 'forward',
    config: { forward: { socks: { listen: '127.0.0.1:0' }, access: { allowPrivate: ['127.0.0.0/8'], connectPorts: ['*'] } } },
    normalReasons: ['client_closed', 'target_closed'],
    async open(gw, echo) {
      const l = gw.address('socks')!
      const { socket } = await SocksClient.createConnection({
        proxy: { host: '127.0.0.1', port: l.port, type: 5 },
        command: 'connect',
        destination: { host: '127.0.0.1', port: echo.tcpPort },
      })
      return tcpSession(socket)
    },
  },
  {
    name: 'forward: SOCKS4a CONNECT',
    mode: 'forward',
    // "localhost" resolves to 127.0.0.1 and ::1; every resolved address must be allowed
    config: { forward: { socks: { listen: '127.0.0.1:0' }, access: { allowPrivate: ['127.0.0.0/8', '::1/128'], connectPorts: ['*'] } } },
    normalReasons: ['client_closed', 'target_closed'],
    async open(gw, echo) {
      const l = gw.address('socks')!
      const { socket } = await SocksClient.createConnection({
        proxy: { host: '127.0.0.1', port: l.port, type: 4 },
        command: 'connect',
        destination: { host: 'localhost', port: echo.tcpPort },
      })
      return tcpSession(socket)
    },
  },
]

async function startEcho(t: Tap): Promise<Echo> {
  const tcp = createServer((s) => {
    s.on('error', () => undefined)
    s.pipe(s)
  })
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r))
  const udp = createSocket('udp4')
  udp.on('message', (m, r) => udp.send(m, r.port, r.address))
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r))
  t.teardown(() => {
    tcp.close()
    udp.close()
  })
  return { tcpPort: (tcp.address() as { port: number }).port, udpPort: udp.address().port }
}
type Tap = { teardown(fn: () => unknown): void }

for (const d of [...forwardDrivers, ...relayDrivers]) {
  t.test(d.name, async (t) => {
    const echo = await startEcho(t)

    t.test('listens on port 0 and accounts bytes exactly', async (t) => {
      const gw = await startGateway(t, d.config)
      for (const l of gw.addresses()) t.ok(l.port > 0, `${l.listener}/${l.transport} got a real port`)
      const s = await d.open(gw, echo)
      const payload = randomBytes(64 * 1024)
      const back = await s.roundTrip(payload)
      t.ok(back.equals(payload), 'the echo came back intact')
      const want = s.counts()
      await s.end()
      const deadline = Date.now() + 3000
      while (gw.ledger.live(d.mode).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
      const recs = gw.ledger.recent(d.mode)
      t.equal(recs.length, 1, 'one session record')
      const r = recs[0]
      t.ok(r, 'closed record')
      if (!r) return
      t.equal(r.bytesUp, want.up, 'bytes up = what the client wrote')
      t.equal(r.bytesDown, want.down, 'bytes down = what the client read')
      t.ok(d.normalReasons.includes(r.reason!), `normal reason (${r.reason})`)
      t.ok(typeof r.durationMs === 'number' && r.durationMs >= 0, 'has a duration')
    })

    t.test('close() twice, destroy() after close()', async (t) => {
      const gw = await startGateway(t, d.config)
      await gw.close()
      await gw.close()
      await gw.destroy()
      t.pass('no throw, no hang')
    })

    t.test('destroy() ends live sessions with reason "shutdown"', async (t) => {
      const gw = await startGateway(t, d.config)
      const s = await d.open(gw, echo)
      const back = await s.roundTrip(Buffer.from('ping'))
      t.equal(back.toString(), 'ping')
      t.equal(gw.ledger.live(d.mode).length, 1, 'one live session')
      await gw.destroy()
      await s.closed
      const r = gw.ledger.recent(d.mode)[0]
      t.equal(r?.reason, 'shutdown')
      t.equal(gw.ledger.liveCount, 0)
    })
  })
}
