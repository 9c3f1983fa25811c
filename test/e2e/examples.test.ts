/**
 * The examples run: the WebRTC-over-TURN page (its server, a real gateway, headless Chromium clicking
 * Connect) and the PAC printer against a real admin server. The pairing and NAT-lab examples are run by
 * pairing-cli.test.ts and nat-lab.test.ts.
 */
import t from 'tap'
import { runNode } from '../helpers/run-node.js'
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { startGateway, addr } from '../helpers/gateway.js'
import { closedPort } from '../helpers/socks-fixtures.js'
import { launchChromium } from '../helpers/chromium.js'
import { adminExtension } from '../../src/admin/index.js'

const example = (p: string) => fileURLToPath(new URL(`../../examples/${p}`, import.meta.url))

t.test('examples/webrtc-turn: the page connects through Viaduct TURN with REST credentials', async (t) => {
  const secret = 'example-turn-secret-1'
  const gw = await startGateway(t, { relay: { turn: { listen: '127.0.0.1:0', secrets: [secret], allowPeers: ['127.0.0.0/8'] } } })
  const turn = addr(gw, 'turn-udp')
  const port = await closedPort()
  const server: ChildProcess = spawn(process.execPath, [example('webrtc-turn/server.mjs'), '--secret', secret, '--turn', turn.url, '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  t.teardown(() => {
    server.kill('SIGKILL')
  })
  await new Promise<void>((resolve, reject) => {
    server.stderr!.on('data', (d) => (String(d).includes('open http://') ? resolve() : undefined))
    server.once('exit', (code) => reject(new Error(`example server exited with ${code}`)))
  })
  const ctx = await launchChromium(t)
  if (!ctx) return
  const page = await ctx.newPage()
  await page.goto(`http://127.0.0.1:${port}/`)
  await page.click('#go')
  await page.waitForFunction(`document.getElementById('log').textContent.includes('selected pair:')`, undefined, { timeout: 20_000 })
  const log = await page.textContent('#log')
  t.match(log, /A got: pong/, 'the data channel carried messages both ways')
  t.match(log, /selected pair: relay 127\.0\.0\.1:\d+ \(udp\) <-> relay/, 'the selected pair is relay/relay over UDP')
  const users = new Set(gw.ledger.live('relay').concat(gw.ledger.recent('relay')).map((r) => r.user))
  t.ok([...users].some((u) => u?.endsWith(':webrtc-demo')), 'allocations were made with the REST user the example server minted')
})

t.test('examples/browser-setup/print-pac.mjs prints the PAC file and its decisions', async (t) => {
  const gw = await startGateway(t, { admin: { listen: '127.0.0.1:0' }, forward: { http: { listen: '127.0.0.1:0' } } }, { extensions: [adminExtension()] })
  const admin = addr(gw, 'admin')
  const http = addr(gw, 'http')
  const r = await runNode([example('browser-setup/print-pac.mjs'), '--admin', admin.url, 'http://example.com/', 'http://127.0.0.1:3000/'])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /function FindProxyForURL/, 'printed the PAC file')
  t.match(r.stdout, new RegExp(`PROXY 127\\.0\\.0\\.1:${http.port}`), 'the PAC names the HTTP proxy listener')
  t.match(r.stdout, /http:\/\/127\.0\.0\.1:3000\/.*DIRECT/, 'loopback goes DIRECT')
  const bad = await runNode([example('browser-setup/print-pac.mjs'), '--admin', `127.0.0.1:${await closedPort()}`])
  t.equal(bad.code, 1, 'a clear failure when nothing listens')
  t.match(bad.stderr, /cannot fetch .*is "viaduct start" running/)
})
