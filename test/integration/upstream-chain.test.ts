/**
 * Upstream chaining: Viaduct's SOCKS listener reaching targets through a second Viaduct (in-process),
 * through Debian's microsocks (SOCKS5) and tinyproxy (HTTP CONNECT) when installed; the upstream's
 * refusals mapped to our replies; forward.direct bypassing the upstream.
 */
import t from 'tap'
import { execFile, spawn } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SocksClient } from 'socks'
import { encodeAddress } from '../../modes/forward/socks/codec.js'
import { requireProgram } from '../helpers/programs.js'
import { closedPort, echoServer, rawExchange, socksGateway } from '../helpers/socks-fixtures.js'
import { addr, settle, startGateway } from '../helpers/gateway.js'

async function through(port: number, host: string, targetPort: number, payload = 'chained'): Promise<string> {
  const { socket } = await SocksClient.createConnection({ command: 'connect', proxy: { host: '127.0.0.1', port, type: 5 }, destination: { host, port: targetPort }, timeout: 5000 })
  socket.write(payload)
  const got = await new Promise<string>((r) => socket.once('data', (c) => r(c.toString())))
  socket.destroy()
  return got
}

async function rep5(port: number, host: string, targetPort: number): Promise<number> {
  const { data, socket } = await rawExchange(port, Buffer.concat([Buffer.from([5, 1, 0, 5, 1, 0]), encodeAddress(host, targetPort)]), 12)
  socket.destroy()
  return data[3]
}

t.test('Viaduct through Viaduct: socks5, socks5h, socks4, socks4a upstreams', async (t) => {
  const echo = await echoServer(t)
  const up = await socksGateway(t)
  for (const scheme of ['socks5', 'socks5h', 'socks4', 'socks4a']) {
    const down = await socksGateway(t, { upstream: `${scheme}://127.0.0.1:${up.port}` })
    t.equal(await through(down.port, 'localhost', echo.port, scheme), scheme, `${scheme}: bytes echoed through both`)
    const downRec = (await settle(down.gw))[0]
    const upRec = (await settle(up.gw))[0]
    t.equal(downRec.meta?.remote, `127.0.0.1:${up.port}`, `${scheme}: the downstream connected to the upstream`)
    const remoteDns = scheme === 'socks5h' || scheme === 'socks4a'
    t.equal(upRec.target, `${remoteDns ? 'localhost' : '127.0.0.1'}:${echo.port}`, `${scheme}: ${remoteDns ? 'the name' : 'our resolved address'} reached the upstream`)
    t.equal(upRec.protocol, scheme === 'socks4' ? 'socks4' : scheme === 'socks4a' ? 'socks4a' : 'socks5')
  }
})

t.test('upstream credentials and refusals map onto our replies', async (t) => {
  const echo = await echoServer(t)
  const up = await socksGateway(t, { users: ['chain:pw'], access: { denyHosts: ['127.0.0.9'] } })
  const good = await socksGateway(t, { upstream: `socks5://chain:pw@127.0.0.1:${up.port}` })
  t.equal(await through(good.port, '127.0.0.1', echo.port), 'chained', 'with the right credentials')
  const bad = await socksGateway(t, { upstream: `socks5://chain:nope@127.0.0.1:${up.port}` })
  t.equal(await rep5(bad.port, '127.0.0.1', echo.port), 0x01, 'upstream rejects our credentials: general failure')
  t.equal((await settle(bad.gw))[0].reason, 'VIADUCT_ERR_UPSTREAM_AUTH')
  const dead = await closedPort()
  t.equal(await rep5(good.port, '127.0.0.1', dead), 0x05, 'target refused at the upstream: 0x05 passed on')
  t.equal(await rep5(good.port, '127.0.0.9', echo.port), 0x02, 'upstream rule refusal: 0x02 passed on')
  const recs = await settle(good.gw)
  t.ok(recs.some((r) => r.reason === 'VIADUCT_ERR_TARGET_REFUSED'))
  t.ok(recs.some((r) => r.reason === 'VIADUCT_ERR_UPSTREAM_FAILED'))
  const nowhere = await socksGateway(t, { upstream: `socks5://127.0.0.1:${dead}` })
  t.equal(await rep5(nowhere.port, '127.0.0.1', echo.port), 0x01, 'upstream not running: general failure')
  const r = (await settle(nowhere.gw))[0]
  t.equal(r.reason, 'VIADUCT_ERR_UPSTREAM_FAILED')
  t.match(r.detail, /cannot reach upstream socks5:\/\/127\.0\.0\.1/)
})

t.test('forward.direct bypasses the upstream; our own rules still apply first', async (t) => {
  const echo = await echoServer(t)
  const up = await socksGateway(t)
  const down = await socksGateway(t, { upstream: `socks5h://127.0.0.1:${up.port}`, direct: ['127.0.0.1'], access: { denyHosts: ['127.0.0.7'] } })
  t.equal(await through(down.port, '127.0.0.1', echo.port), 'chained')
  t.equal(await through(down.port, 'localhost', echo.port, 'via-up'), 'via-up')
  t.equal(await rep5(down.port, '127.0.0.7', echo.port), 0x02, 'denied before reaching the upstream')
  const upRecs = await settle(up.gw)
  t.equal(upRecs.length, 1, 'only the name went through the upstream')
  t.equal(upRecs[0].target, `localhost:${echo.port}`)
})

async function waitPort(port: number, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect({ host: '127.0.0.1', port }, () => {
        s.destroy()
        r(true)
      })
      s.on('error', () => r(false))
    })
    if (ok) return
    if (Date.now() > end) throw new Error(`nothing listens on ${port}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

function startChild(t: { teardown(fn: () => unknown): void }, cmd: string, args: string[]) {
  const child = spawn(cmd, args, { stdio: 'ignore' })
  t.teardown(
    () =>
      new Promise<void>((r) => {
        if (child.exitCode !== null || child.signalCode !== null) return r()
        child.once('exit', () => r())
        child.kill('SIGTERM')
      }),
  )
  return child
}

t.test('through microsocks (SOCKS5, with and without a password)', async (t) => {
  const bin = requireProgram(t, '/usr/bin/microsocks', 'Debian package microsocks')
  if (!bin) return
  const echo = await echoServer(t)
  const p1 = await closedPort()
  startChild(t, bin, ['-i', '127.0.0.1', '-p', String(p1)])
  const p2 = await closedPort()
  startChild(t, bin, ['-i', '127.0.0.1', '-p', String(p2), '-u', 'mu', '-P', 'mpw'])
  await waitPort(p1)
  await waitPort(p2)
  const a = await socksGateway(t, { upstream: `socks5h://127.0.0.1:${p1}` })
  t.equal(await through(a.port, 'localhost', echo.port, 'micro'), 'micro', 'socks5h via microsocks')
  const b = await socksGateway(t, { upstream: `socks5://mu:mpw@127.0.0.1:${p2}` })
  t.equal(await through(b.port, '127.0.0.1', echo.port, 'micro-auth'), 'micro-auth', 'socks5 with a password via microsocks')
  const dead = await closedPort()
  t.equal(await rep5(a.port, '127.0.0.1', dead), 0x05, 'microsocks reports refused: 0x05 passed on')
})

t.test('through tinyproxy (HTTP CONNECT upstream)', async (t) => {
  const bin = requireProgram(t, '/usr/bin/tinyproxy', 'Debian package tinyproxy')
  if (!bin) return
  const echo = await echoServer(t)
  const dir = mkdtempSync(join(tmpdir(), 'viaduct-tinyproxy-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const port = await closedPort()
  const conf = join(dir, 'tinyproxy.conf')
  writeFileSync(
    conf,
    [
      `Port ${port}`,
      'Listen 127.0.0.1',
      'Timeout 30',
      'MaxClients 20',
      'Allow 127.0.0.1',
      `ConnectPort ${echo.port}`,
      'LogLevel Error',
      `LogFile "${join(dir, 'log')}"`,
      ...(process.getuid?.() === 0 ? ['User nobody', 'Group nogroup'] : []),
      '',
    ].join('\n'),
  )
  startChild(t, bin, ['-d', '-c', conf])
  await waitPort(port)
  const down = await socksGateway(t, { upstream: `http://127.0.0.1:${port}` })
  t.equal(await through(down.port, '127.0.0.1', echo.port, 'tiny'), 'tiny', 'CONNECT through tinyproxy')
  t.equal(await rep5(down.port, '127.0.0.1', echo.port + 1 === 65536 ? 1 : echo.port + 1), 0x02, 'tinyproxy refuses a port outside ConnectPort (403): ruleset 0x02')
  const rec = (await settle(down.gw)).find((r) => r.reason?.startsWith('VIADUCT_ERR'))
  t.equal(rec?.reason, 'VIADUCT_ERR_UPSTREAM_FAILED')
  t.match(rec?.detail, /upstream answered 403/)
})

t.test('Viaduct through Viaduct over HTTP: SOCKS CONNECT and plain HTTP via an http:// upstream', async (t) => {
  const bin = requireProgram(t, 'curl')
  if (!bin) return
  const echo = await echoServer(t)
  const web: Server = createServer((req, res) => res.end(`hello ${req.url}`))
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => web.close(() => r())))
  const webPort = (web.address() as AddressInfo).port
  const access = { allowPrivate: ['127.0.0.0/8', '::1/128'], connectPorts: ['*'] }
  const up = await startGateway(t, { forward: { http: { listen: '127.0.0.1:0' }, users: ['hop:pw'], access } })
  const upPort = addr(up, 'http').port
  const down = await startGateway(t, { forward: { http: { listen: '127.0.0.1:0' }, socks: { listen: '127.0.0.1:0' }, upstream: `http://hop:pw@127.0.0.1:${upPort}`, access } })
  t.equal(await through(addr(down, 'socks').port, '127.0.0.1', echo.port, 'over-http'), 'over-http', 'SOCKS CONNECT tunnelled with CONNECT')
  const out = await new Promise<string>((resolve) => {
    execFile(bin, ['-sS', '--max-time', '10', '--noproxy', '', '-x', `http://127.0.0.1:${addr(down, 'http').port}`, `http://127.0.0.1:${webPort}/plain`], (_e: unknown, so: string) => resolve(so))
  })
  t.equal(out, 'hello /plain', 'plain HTTP forwarded to the upstream')
  const upRecs = await settle(up)
  t.ok(upRecs.some((r) => r.target === `127.0.0.1:${echo.port}` && r.user === 'hop'), 'the upstream saw the CONNECT with our credentials')
  t.ok(upRecs.some((r) => (r.target ?? '').includes(`127.0.0.1:${webPort}`) && r.user === 'hop'), 'the upstream saw the plain request')
})

t.test('the HTTP proxy reaches plain-HTTP origins through a SOCKS upstream', async (t) => {
  const bin = requireProgram(t, 'curl')
  if (!bin) return
  const web: Server = createServer((req, res) => res.end(`hello ${req.url}`))
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => web.close(() => r())))
  const webPort = (web.address() as AddressInfo).port
  const up = await socksGateway(t)
  const access = { allowPrivate: ['127.0.0.0/8', '::1/128'], connectPorts: ['*'] }
  const down = await startGateway(t, { forward: { http: { listen: '127.0.0.1:0' }, upstream: `socks5h://127.0.0.1:${up.port}`, access } })
  const out = await new Promise<string>((resolve) => {
    execFile(bin, ['-sS', '--max-time', '10', '--noproxy', '', '-x', `http://127.0.0.1:${addr(down, 'http').port}`, `http://127.0.0.1:${webPort}/via-socks`], (_e: unknown, so: string) => resolve(so))
  })
  t.equal(out, 'hello /via-socks')
  // the HTTP proxy may keep its upstream connection alive: look at live and closed records
  const upRecs = [...up.gw.ledger.live(), ...up.gw.ledger.recent()]
  t.ok(upRecs.some((r) => r.target === `127.0.0.1:${webPort}` && r.protocol === 'socks5'), 'the SOCKS upstream carried the request')
})
