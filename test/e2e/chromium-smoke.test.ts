import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { launchChromium } from '../helpers/chromium.js'

t.test('headless Chromium loads a loopback page with the loopback-only flags', async (t) => {
  const server = createServer((req, res) => res.end(`<title>hello</title><p id=p>${req.url}</p>`))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => server.close())
  const ctx = await launchChromium(t)
  if (!ctx) return
  const page = await ctx.newPage()
  await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/x`)
  t.equal(await page.textContent('#p'), '/x')
})
