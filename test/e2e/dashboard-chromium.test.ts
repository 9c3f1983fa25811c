/**
 * The dashboard in headless Chromium (loopback only, ../shared/CHROMIUM.md): traffic through the HTTP
 * proxy (a kept-open CONNECT tunnel, plain GETs, one refused request) and through the pairing relay (two
 * TCP peers), and the page must show those sessions, on the right side, with their figures, live from
 * /api/events. A screenshot is kept at test/artifacts/dashboard.png (git-ignored).
 */
import t from 'tap'
import { createServer, request } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'
import { mkdirSync } from 'node:fs'
import { launchChromium } from '../helpers/chromium.js'
import { startGateway, addr } from '../helpers/gateway.js'
import { adminExtension } from '../../src/admin/index.js'
import { pairTwo } from '../../bench/pair-client.js'

const SECRET = 'dashboard-test-secret-0123'
const ARTIFACTS = new URL('../artifacts/', import.meta.url)

function proxyGet(proxyPort: number, url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: proxyPort, path: url, headers: { host: new URL(url).host }, agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end()
  })
}

function tunnel(proxyPort: number, target: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: proxyPort })
    let head = ''
    const onData = (c: Buffer) => {
      head += c.toString('latin1')
      if (!head.includes('\r\n\r\n')) return
      s.off('data', onData)
      if (!/^HTTP\/1\.1 200/.test(head)) return reject(new Error(head))
      resolve(s)
    }
    s.on('data', onData)
    s.once('error', reject)
    s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`)
  })
}

t.test('the dashboard shows proxy and relay sessions side by side, live', async (t) => {
  const echo = createServer((req, res) => res.end('y'.repeat(20_000)))
  // The same port answers CONNECT tunnels: a raw echo is enough there, so use a second server.
  const raw = (await import('node:net')).createServer((s) => s.pipe(s))
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r))
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r))
  t.teardown(() => {
    echo.closeAllConnections()
    echo.close()
    raw.close()
  })
  const httpPort = (echo.address() as AddressInfo).port
  const rawPort = (raw.address() as AddressInfo).port
  const gw = await startGateway(
    t,
    {
      admin: { listen: '127.0.0.1:0' },
      forward: { http: { listen: '127.0.0.1:0' }, access: { allowPrivate: ['127.0.0.0/8'], connectPorts: [String(rawPort)], denyHosts: ['denied.example'] } },
      relay: { pairing: { listen: '127.0.0.1:0', secrets: [SECRET] } },
    },
    { extensions: [adminExtension({ feed: { tickMs: 250 } })] },
  )
  const base = `http://${addr(gw, 'admin').url}/`
  const proxy = addr(gw, 'http').port
  const relay = addr(gw, 'pairing-tcp').port

  const ctx = await launchChromium(t)
  if (!ctx) return
  const page = await ctx.newPage()
  await page.setViewportSize({ width: 1440, height: 900 })
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(e.message))
  await page.goto(base)
  await page.waitForFunction(() => (globalThis as any).document.getElementById('conn-text')?.textContent === 'live', undefined, { timeout: 10_000 })
  t.pass('the event stream is live')

  // Traffic: a kept-open CONNECT tunnel, two GETs, one refused GET, and a kept-open pairing.
  const tun = await tunnel(proxy, `127.0.0.1:${rawPort}`)
  t.teardown(() => tun.destroy())
  tun.write(Buffer.alloc(30_000, 1))
  tun.resume()
  t.equal(await proxyGet(proxy, `http://127.0.0.1:${httpPort}/one`), 200)
  t.equal(await proxyGet(proxy, `http://127.0.0.1:${httpPort}/two`), 200)
  t.equal(await proxyGet(proxy, 'http://denied.example/'), 403)
  const [a, b] = await pairTwo('127.0.0.1', relay, SECRET, 'dash-room')
  t.teardown(() => {
    a.destroy()
    b.destroy()
  })
  b.resume()
  a.write(Buffer.alloc(50_000, 2))

  // Live rows on the correct side, with what each intermediary can see.
  const fwdLive = page.locator('#forward-live tbody tr')
  const relLive = page.locator('#relay-live tbody tr')
  await fwdLive.filter({ hasText: `→ 127.0.0.1:${rawPort}` }).first().waitFor({ timeout: 10_000 })
  await relLive.filter({ hasText: '⇄ 127.0.0.1:' }).first().waitFor({ timeout: 10_000 })
  t.match(await fwdLive.first().textContent(), /127\.0\.0\.1:\d+ → 127\.0\.0\.1:\d+/, 'the proxy row shows client → host:port')
  t.match(await relLive.first().textContent(), /127\.0\.0\.1:\d+ ⇄ 127\.0\.0\.1:\d+/, 'the relay row shows peer A ⇄ peer B')
  t.equal(await page.locator('#relay-live tbody tr').count(), 1, 'one live pairing')
  t.equal(await page.locator('#forward-live').locator('text=/ ⇄ /').count(), 0, 'no relay row on the proxy side')

  // Figures: totals and byte counts come from the ledger through the stream.
  await page.waitForFunction(() => Number((globalThis as any).document.querySelector('[data-stat="forward.total"]')?.textContent) >= 4, undefined, { timeout: 10_000 })
  await page.waitForFunction(() => (globalThis as any).document.querySelector('[data-stat="relay.up"]')?.textContent?.includes('KiB') ?? false, undefined, { timeout: 10_000 })
  t.match(await page.textContent('[data-stat="relay.up"]'), /^4[89](\.\d+)? KiB$/, 'relay bytes A → B: 50,000 B shown as ~48.8 KiB')
  await page.locator('#forward-recent tbody tr', { hasText: `/one` }).first().waitFor({ timeout: 10_000 })
  t.pass('a closed GET shows its URL in the recent table')
  await page.locator('#forward-reasons li[data-reason="VIADUCT_ERR_ACCESS_DESTINATION"]').waitFor({ timeout: 10_000 })
  t.match(await page.textContent('#forward-reasons li[data-reason="VIADUCT_ERR_ACCESS_DESTINATION"]'), /VIADUCT_ERR_ACCESS_DESTINATION\s*1/, 'the refusal is counted')
  await page.waitForFunction(() => ((globalThis as any).document.querySelector('[data-stat="relay.rate"]')?.textContent ?? '').length > 0, undefined, { timeout: 10_000 })
  const inked = await page.evaluate(() => {
    const c = (globalThis as any).document.getElementById('chart-relay')
    const d: Uint8ClampedArray = c.getContext('2d').getImageData(0, 0, c.width, c.height).data
    let n = 0
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++
    return n
  })
  t.ok(inked > 100, 'the relay throughput chart is drawn')

  mkdirSync(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: new URL('dashboard.png', ARTIFACTS).pathname, fullPage: true })

  // Closing both shows them as closed with a reason, and the live tables empty.
  a.end()
  b.end()
  tun.end()
  await page.locator('#relay-recent tbody tr').first().waitFor({ timeout: 10_000 })
  await page.waitForFunction(() => (globalThis as any).document.querySelectorAll('#relay-live tbody tr').length === 0, undefined, { timeout: 10_000 })
  t.match(await page.textContent('#relay-recent tbody tr'), /(client_closed|target_closed)/, 'the pairing closed with a normal reason')
  t.same(errors, [], 'no script errors on the page')
})

t.test('with an admin token, the dashboard opened as /?token= works (cookie for its files)', async (t) => {
  const token = 'dashboard-token-0123456789'
  const gw = await startGateway(t, { admin: { listen: '127.0.0.1:0', token }, relay: { pairing: { listen: '127.0.0.1:0', secrets: [SECRET] } } }, { extensions: [adminExtension({ feed: { tickMs: 250 } })] })
  const ctx = await launchChromium(t)
  if (!ctx) return
  const page = await ctx.newPage()
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(e.message))
  const base = `http://${addr(gw, 'admin').url}/`
  const denied = await page.goto(base)
  t.equal(denied?.status(), 401, 'without the token: 401')
  await page.goto(`${base}?token=${token}`)
  await page.waitForFunction(() => (globalThis as any).document.getElementById('conn-text')?.textContent === 'live', undefined, { timeout: 10_000 })
  const [a, b] = await pairTwo('127.0.0.1', addr(gw, 'pairing-tcp').port, SECRET, 'token-room')
  t.teardown(() => {
    a.destroy()
    b.destroy()
  })
  await page.locator('#relay-live tbody tr', { hasText: '⇄' }).first().waitFor({ timeout: 10_000 })
  t.pass('live data arrives through the token-protected event stream')
  const bg = await page.evaluate(() => (globalThis as any).getComputedStyle((globalThis as any).document.body).backgroundColor)
  t.equal(bg, 'rgb(246, 247, 249)', 'the stylesheet loaded (with the cookie)')
  t.same(errors, [])
})
