/**
 * The mixed port: HTTP proxy and SOCKS4/5 on one listener, chosen by the first byte. Real clients:
 * the `socks` client (SOCKS4, 4a, 5), curl as an HTTP proxy client (plain HTTP and CONNECT) and as a
 * SOCKS client; a silent client is closed after the first-byte timeout (manual clock).
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { createServer } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import { SocksClient } from 'socks'
import { ManualClock } from '../../src/core/clock.js'
import { requireProgram } from '../helpers/programs.js'
import { addr, settle, startGateway } from '../helpers/gateway.js'
import { closedWithin, echoServer, LOOPBACK_ACCESS } from '../helpers/socks-fixtures.js'

function curl(bin: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(bin, ['-sS', '--max-time', '10', '--noproxy', '', ...args], { env: { PATH: process.env.PATH ?? '/usr/bin' } }, (err, stdout, stderr) =>
      resolve({ code: err ? 1 : 0, stdout, stderr }),
    )
  })
}

async function origin(t: { teardown(fn: () => unknown): void }) {
  const server = createServer((req, res) => res.end(`hello ${req.url}`))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  return (server.address() as AddressInfo).port
}

t.test('SOCKS4, SOCKS4a and SOCKS5 on the mixed port', async (t) => {
  const echo = await echoServer(t)
  const gw = await startGateway(t, { forward: { mixed: { listen: '127.0.0.1:0' }, ...LOOPBACK_ACCESS } })
  const port = addr(gw, 'mixed').port
  for (const [type, host] of [[4, '127.0.0.1'], [4, 'localhost'], [5, 'localhost']] as const) {
    const { socket } = await SocksClient.createConnection({ command: 'connect', proxy: { host: '127.0.0.1', port, type }, destination: { host, port: echo.port } })
    socket.write(`v${type}`)
    t.equal(await new Promise<string>((r) => socket.once('data', (c) => r(c.toString()))), `v${type}`, `SOCKS${type} to ${host}`)
    socket.destroy()
  }
  const recs = await settle(gw)
  t.same(recs.map((r) => r.protocol).sort(), ['socks4', 'socks4a', 'socks5'])
  t.ok(recs.every((r) => r.listener === 'mixed'), 'records carry listener "mixed"')
})

t.test('HTTP proxy and SOCKS with curl on the mixed port', async (t) => {
  const bin = requireProgram(t, 'curl')
  if (!bin) return
  const web = await origin(t)
  const gw = await startGateway(t, { forward: { mixed: { listen: '127.0.0.1:0' }, ...LOOPBACK_ACCESS } })
  const port = addr(gw, 'mixed').port
  const plain = await curl(bin, ['-x', `http://127.0.0.1:${port}`, `http://127.0.0.1:${web}/plain`])
  t.equal(plain.stdout, 'hello /plain', `plain HTTP through the mixed port (${plain.stderr.trim()})`)
  const tunnel = await curl(bin, ['-p', '-x', `http://127.0.0.1:${port}`, `http://127.0.0.1:${web}/tunnel`])
  t.equal(tunnel.stdout, 'hello /tunnel', `CONNECT through the mixed port (${tunnel.stderr.trim()})`)
  const socks = await curl(bin, ['--socks5-hostname', `127.0.0.1:${port}`, `http://localhost:${web}/socks`])
  t.equal(socks.stdout, 'hello /socks', `SOCKS5 through the mixed port (${socks.stderr.trim()})`)
  const recs = await settle(gw)
  t.ok(recs.some((r) => r.protocol === 'socks5' && r.listener === 'mixed'), 'a socks5 record from the mixed port')
  t.ok(recs.some((r) => r.protocol !== 'socks5' && r.listener === 'mixed'), 'an HTTP record from the mixed port')
})

t.test('a silent client is closed after the first-byte timeout', async (t) => {
  const clock = new ManualClock()
  const gw = await startGateway(t, { forward: { mixed: { listen: '127.0.0.1:0', firstByteTimeoutMs: 3000 }, ...LOOPBACK_ACCESS } }, { clock })
  const port = addr(gw, 'mixed').port
  const s = connect({ host: '127.0.0.1', port })
  s.on('error', () => undefined)
  await new Promise((r) => s.once('connect', r))
  await new Promise((r) => setTimeout(r, 50))
  clock.tick(2000)
  t.notOk(await closedWithin(s, 100), 'open before the timeout')
  clock.tick(1001)
  t.ok(await closedWithin(s, 3000), 'closed after it')
  t.equal(gw.ledger.recent()[0]?.reason, 'VIADUCT_ERR_MIXED_TIMEOUT')
})

t.test('a client that closes before sending leaves no session behind', async (t) => {
  const gw = await startGateway(t, { forward: { mixed: { listen: '127.0.0.1:0' }, ...LOOPBACK_ACCESS } })
  const port = addr(gw, 'mixed').port
  for (let i = 0; i < 5; i++) {
    const s = connect({ host: '127.0.0.1', port })
    s.on('error', () => undefined)
    await new Promise((r) => s.once('connect', r))
    s.end()
    await new Promise((r) => s.once('close', r))
  }
  t.equal(gw.ledger.liveCount, 0)
  await gw.close()
  t.pass('closes cleanly')
})

t.test('shutdown ends sessions handed over by the mixed port', async (t) => {
  const echo = await echoServer(t)
  const gw = await startGateway(t, { forward: { mixed: { listen: '127.0.0.1:0' }, ...LOOPBACK_ACCESS } })
  const port = addr(gw, 'mixed').port
  const { socket } = await SocksClient.createConnection({ command: 'connect', proxy: { host: '127.0.0.1', port, type: 5 }, destination: { host: '127.0.0.1', port: echo.port } })
  socket.on('error', () => undefined)
  await gw.destroy()
  t.ok(await closedWithin(socket, 2000), 'the tunnel is closed')
  t.equal(gw.ledger.recent()[0]?.reason, 'shutdown')
})
