/**
 * Every protocol counts the same bytes on its own port and on the mixed port (issue 15: SOCKS sessions
 * on the mixed port missed the sniffed first chunk). The same exchange runs through each port with the
 * `socks` client (SOCKS4, 4a, 5) and raw HTTP (absolute form, CONNECT), and the records must agree.
 */
import t from 'tap'
import { createServer } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'
import { SocksClient } from 'socks'
import { addr, settle, startGateway } from '../helpers/gateway.js'
import { echoServer, LOOPBACK_ACCESS } from '../helpers/socks-fixtures.js'
import type { Gateway } from '../../src/gateway.js'

async function origin(t: { teardown(fn: () => unknown): void }) {
  const server = createServer((req, res) => res.end(`hello ${req.url}`))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  return (server.address() as AddressInfo).port
}

/** Send raw bytes, read until the peer closes, return what came back. */
function exchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s: Socket = connect(port, '127.0.0.1', () => s.write(bytes))
    let got = ''
    s.on('data', (d) => (got += d))
    s.on('end', () => resolve(got))
    s.on('error', reject)
  })
}

async function socksEcho(port: number, type: 4 | 5, host: string, echoPort: number, payload: string): Promise<void> {
  const { socket } = await SocksClient.createConnection({ command: 'connect', proxy: { host: '127.0.0.1', port, type }, destination: { host, port: echoPort } })
  socket.write(payload)
  await new Promise((r) => socket.once('data', r))
  socket.end()
  await new Promise((r) => socket.once('close', r))
}

async function lastRecord(gw: Gateway) {
  const recs = await settle(gw)
  return recs[0]
}

t.test('the same exchange counts the same bytes on its own port and on the mixed port', async (t) => {
  const echo = await echoServer(t)
  const web = await origin(t)
  const gw = await startGateway(t, {
    forward: { http: { listen: '127.0.0.1:0' }, socks: { listen: '127.0.0.1:0' }, mixed: { listen: '127.0.0.1:0' }, ...LOOPBACK_ACCESS },
  })
  const mixed = addr(gw, 'mixed').port
  const cases: Array<[string, 'http' | 'socks', (port: number) => Promise<unknown>]> = [
    ['socks4', 'socks', (p) => socksEcho(p, 4, '127.0.0.1', echo.port, 'four')],
    ['socks4a', 'socks', (p) => socksEcho(p, 4, 'localhost', echo.port, 'four-a')],
    ['socks5', 'socks', (p) => socksEcho(p, 5, 'localhost', echo.port, 'five')],
    ['http', 'http', (p) => exchange(p, `GET http://127.0.0.1:${web}/x HTTP/1.1\r\nHost: 127.0.0.1:${web}\r\nConnection: close\r\n\r\n`)],
    [
      'connect',
      'http',
      (p) => exchange(p, `CONNECT 127.0.0.1:${web} HTTP/1.1\r\nHost: 127.0.0.1:${web}\r\n\r\nGET /t HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    ],
  ]
  for (const [protocol, own, run] of cases) {
    await run(addr(gw, own).port)
    const a = await lastRecord(gw)
    await run(mixed)
    const b = await lastRecord(gw)
    t.equal(a.protocol, protocol, `${protocol} on the ${own} port`)
    t.equal(b.protocol, protocol, `${protocol} on the mixed port`)
    t.equal(b.listener, 'mixed')
    t.ok(a.bytesUp > 0 && a.bytesDown > 0, `${protocol}: bytes counted (${a.bytesUp} up, ${a.bytesDown} down)`)
    t.same([b.bytesUp, b.bytesDown], [a.bytesUp, a.bytesDown], `${protocol}: the mixed port counts the same bytes, handshake included`)
  }
})
