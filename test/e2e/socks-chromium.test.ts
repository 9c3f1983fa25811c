/**
 * Headless Chromium with --proxy-server=socks5://127.0.0.1:PORT loads a loopback page and its
 * sub-resources through Viaduct's SOCKS listener (Chromium sends no SOCKS5 credentials, so this listener
 * has no users). Destinations are limited to the test origin so any background request is refused.
 */
import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { launchChromium } from '../helpers/chromium.js'
import { settle } from '../helpers/gateway.js'
import { socksGateway } from '../helpers/socks-fixtures.js'

t.test('Chromium browses a loopback origin through SOCKS5', async (t) => {
  const seen: string[] = []
  const server = createServer((req, res) => {
    seen.push(req.url ?? '')
    if (req.url === '/data.json') return res.end(JSON.stringify({ through: 'socks' }))
    res.setHeader('content-type', 'text/html')
    res.end(`<title>socks</title><p id=p>${req.url}</p><p id=q></p>
<script>fetch('/data.json').then(r => r.json()).then(j => { document.getElementById('q').textContent = j.through })</script>`)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  const web = (server.address() as AddressInfo).port
  const { gw, port } = await socksGateway(t, { access: { allowHosts: ['127.0.0.1', 'localhost'], connectPorts: [String(web)] } })
  const ctx = await launchChromium(t, { proxy: `socks5://127.0.0.1:${port}` })
  if (!ctx) return
  const page = await ctx.newPage()
  await page.goto(`http://127.0.0.1:${web}/page`)
  t.equal(await page.textContent('#p'), '/page', 'the page loaded')
  await page.waitForSelector('#q:has-text("socks")', { timeout: 10_000 })
  t.pass('a fetch() from the page went through too')
  await page.goto(`http://localhost:${web}/by-name`)
  t.equal(await page.textContent('#p'), '/by-name', 'a page by name (remote DNS)')
  await ctx.close()
  const recs = await settle(gw, 5000)
  const ours = recs.filter((r) => r.target === `127.0.0.1:${web}` || r.target === `localhost:${web}`)
  t.ok(ours.length >= 1, `Chromium's connections were SOCKS5 sessions (${ours.length})`)
  t.ok(ours.every((r) => r.protocol === 'socks5' && r.bytesUp > 0 && r.bytesDown > 0), 'socks5 records with bytes both ways')
  t.ok(ours.some((r) => r.target === `localhost:${web}`), 'Chromium sent the name, not an address')
  const others = recs.filter((r) => !ours.includes(r))
  t.ok(others.every((r) => r.reason?.startsWith('VIADUCT_ERR_ACCESS')), `anything else was refused (${others.map((r) => r.target).join(', ') || 'none'})`)
  t.ok(seen.includes('/page') && seen.includes('/data.json') && seen.includes('/by-name'))
})
