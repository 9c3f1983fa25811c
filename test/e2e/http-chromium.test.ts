/**
 * Headless Chromium pointed at the HTTP proxy (--proxy-server, bypass <-loopback> so loopback origins go
 * through it) loads pages from local origins: plain HTTP in absolute form, HTTPS through CONNECT, and a
 * proxy that wants credentials (answered by playwright-core's proxy option). Every flag of
 * ../shared/CHROMIUM.md applies (test/helpers/chromium.ts); the gateway only allows 127.0.0.1 targets.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { launchChromium } from '../helpers/chromium.js'
import { settle } from '../helpers/gateway.js'
import { startOrigin, startProxy } from '../helpers/http-origin.js'

const page = (title: string, body: string) => `<!doctype html><title>${title}</title><p id=p>${body}</p>`

t.test('Chromium loads a loopback page through the proxy (absolute form)', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' })
    res.end(page('via', String(req.headers.via ?? 'none')))
  })
  const proxy = await startProxy(t, { access: { allowHosts: ['127.0.0.1'] } })
  const ctx = await launchChromium(t, { proxy: proxy.url })
  if (!ctx) return
  const p = await ctx.newPage()
  const res = await p.goto(`${origin.url}/index.html`)
  t.equal(res?.status(), 200)
  t.equal(await p.textContent('#p'), '1.1 viaduct', 'the origin saw the Via of the proxy')
  t.equal(res?.headers().via, '1.1 viaduct', 'Chromium got the response Via')
  await ctx.close()
  const recs = await settle(proxy.gw)
  t.ok(recs.some((r) => r.protocol === 'http' && r.target === `${origin.url}/index.html` && r.reason === 'completed'), 'ledger record of the page')
})

t.test('Chromium loads an HTTPS page through a CONNECT tunnel', async (t) => {
  const cert = readFileSync(new URL('../fixtures/tls/cert.pem', import.meta.url))
  const key = readFileSync(new URL('../fixtures/tls/key.pem', import.meta.url))
  const server = createHttpsServer({ cert, key }, (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' })
    res.end(page('tls', 'secure'))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  const port = (server.address() as AddressInfo).port
  const proxy = await startProxy(t, { access: { allowHosts: ['127.0.0.1'] } })
  const ctx = await launchChromium(t, { proxy: proxy.url, extraArgs: ['--ignore-certificate-errors'] })
  if (!ctx) return
  const p = await ctx.newPage()
  await p.goto(`https://127.0.0.1:${port}/`)
  t.equal(await p.textContent('#p'), 'secure')
  await ctx.close()
  const recs = await settle(proxy.gw)
  t.ok(recs.some((r) => r.protocol === 'connect' && r.target === `127.0.0.1:${port}`), 'CONNECT session in the ledger')
})

t.test('Chromium answers the 407 challenge with playwright-core proxy credentials', async (t) => {
  const origin = await startOrigin(t, (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' })
    res.end(page('auth', 'authenticated'))
  })
  const proxy = await startProxy(t, { users: ['carol:pw1'], access: { allowHosts: ['127.0.0.1'] } })
  const ctx = await launchChromium(t, { playwrightProxy: { server: proxy.url, username: 'carol', password: 'pw1' } })
  if (!ctx) return
  const p = await ctx.newPage()
  await p.goto(`${origin.url}/`)
  t.equal(await p.textContent('#p'), 'authenticated')
  await ctx.close()
  const recs = await settle(proxy.gw)
  t.ok(recs.some((r) => r.reason === 'VIADUCT_ERR_AUTH_REQUIRED'), 'the first try was challenged')
  t.ok(recs.some((r) => r.user === 'carol' && r.reason === 'completed'), 'then served as carol')
})
