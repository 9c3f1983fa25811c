/**
 * Issue 16's crash, as a client could cause it: the real binary with the admin server on, an origin that
 * sends as fast as it can, and hundreds of CONNECT tunnels and SOCKS5 sessions (on the SOCKS port and on
 * the mixed port) from clients that never read and reset within 0-300 ms, while /metrics is scraped.
 * Before the fix a socket's byte count went backwards when a reset dropped its write queue, the metrics
 * counter threw "It is not possible to decrease a counter" inside a close handler, and the process exited.
 * Afterwards: the process is alive, serves, and every byte counter only grows from scrape to scrape.
 */
import t from 'tap'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { startViaduct } from '../helpers/run-node.js'

const TUNNELS = 300
const SOCKS_SESSIONS = 200
const MIXED_SESSIONS = 100
const MAX_RESET_MS = 300
/** Waves of tunnels after the first (each starts while the previous one's sessions are still closing). */
const MORE_WAVES = 3

/** An origin that writes 64 KiB chunks as fast as each connection takes them. */
function fastOrigin(): Promise<Server> {
  const chunk = Buffer.alloc(64 * 1024, 0x61)
  const server = createServer((s) => {
    s.on('error', () => undefined)
    const pump = () => {
      while (!s.destroyed && s.write(chunk));
    }
    s.on('drain', pump)
    pump()
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

/** A client that opens a tunnel, never reads, and resets the connection after a random 0-300 ms. */
function rudeClient(port: number, hello: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const c: Socket = connect(port, '127.0.0.1', () => {
      c.write(hello)
      c.pause()
      setTimeout(() => c.resetAndDestroy(), Math.random() * MAX_RESET_MS)
    })
    c.on('error', () => undefined)
    c.on('close', () => resolve())
  })
}

function socks5Connect(port: number): Buffer {
  const req = Buffer.from([0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1, port >> 8, port & 0xff])
  return Buffer.concat([Buffer.from([0x05, 0x01, 0x00]), req])
}

/** Every `viaduct_bytes_total` sample of a scrape, keyed by its labels. */
function byteCounters(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const m of text.matchAll(/^viaduct_bytes_total(\{[^}]*\}) (\S+)$/gm)) out.set(m[1], Number(m[2]))
  return out
}

t.test('resetting clients under load: the gateway lives and byte counters never go down', async (t) => {
  const origin = await fastOrigin()
  t.teardown(() => origin.close())
  const op = (origin.address() as { port: number }).port
  const g = startViaduct([
    '--http', '127.0.0.1:0', '--socks', '127.0.0.1:0', '--mixed', '127.0.0.1:0', '--admin', '127.0.0.1:0',
    '--relay', 'off', '--turn', 'off', '--allow-private', '127.0.0.0/8', '--connect-port', '*', '--log-level', 'error', '--log-pretty', 'false',
  ])
  t.teardown(() => g.child.kill('SIGKILL'))
  const ls = await g.ready
  const port = (name: string) => ls.find((l) => l.listener === name)!.port
  let exit: number | null | undefined
  void g.exited.then((c) => (exit = c))

  const metricsUrl = `http://127.0.0.1:${port('admin')}/metrics`
  let last = new Map<string, number>()
  const decreases: string[] = []
  let scrapes = 0
  let scraping = true
  const scraper = (async () => {
    while (scraping && exit === undefined) {
      try {
        const now = byteCounters(await (await fetch(metricsUrl)).text())
        scrapes++
        for (const [k, v] of last) if ((now.get(k) ?? 0) < v) decreases.push(`${k}: ${v} -> ${now.get(k)}`)
        last = now
      } catch {
        // the process may be gone: the assertions below say so
      }
      await new Promise((r) => setTimeout(r, 20))
    }
  })()

  const connectHead = Buffer.from(`CONNECT 127.0.0.1:${op} HTTP/1.1\r\nHost: 127.0.0.1:${op}\r\n\r\n`)
  const runs: Promise<void>[] = []
  for (let i = 0; i < TUNNELS; i++) runs.push(rudeClient(port('http'), connectHead))
  for (let i = 0; i < SOCKS_SESSIONS; i++) runs.push(rudeClient(port('socks'), socks5Connect(op)))
  for (let i = 0; i < MIXED_SESSIONS; i++) runs.push(rudeClient(port('mixed'), socks5Connect(op)))
  await Promise.all(runs)
  for (let w = 0; w < MORE_WAVES && exit === undefined; w++) {
    const wave: Promise<void>[] = []
    for (let i = 0; i < TUNNELS; i++) wave.push(rudeClient(port(i % 2 ? 'http' : 'socks'), i % 2 ? connectHead : socks5Connect(op)))
    await Promise.all(wave)
  }
  await new Promise((r) => setTimeout(r, 500))
  scraping = false
  await scraper

  t.equal(exit, undefined, `the gateway is still running${exit !== undefined ? `; it exited ${exit}:\n${g.out().stderr.slice(-2000)}` : ''}`)
  t.ok(scrapes > 5, `metrics were scraped during the storm (${scrapes} times)`)
  t.same(decreases, [], 'no byte counter went down between two scrapes')
  const down = [...last].find(([k]) => k.includes('mode="forward"') && k.includes('direction="down"'))
  t.ok(down && down[1] > 0, 'bytes towards the clients were counted')

  // still serving: a tunnel that reads gets the origin's bytes
  const got = await new Promise<number>((resolve, reject) => {
    const c = connect(port('http'), '127.0.0.1', () => c.write(connectHead))
    let n = 0
    c.on('data', (d: Buffer) => {
      n += d.length
      if (n > 100_000) {
        c.destroy()
        resolve(n)
      }
    })
    c.on('error', reject)
    setTimeout(() => reject(new Error('no data through a new tunnel')), 5000).unref()
  })
  t.ok(got > 100_000, 'a new tunnel carries data afterwards')
  const metrics = await (await fetch(metricsUrl)).text()
  t.match(metrics, /viaduct_sessions_total/, 'the admin server answers')
  t.notMatch(metrics, /viaduct_internal_errors_total\{/, 'no internal error was caught on the way')
  t.notMatch(g.out().stderr, /It is not possible to decrease a counter/, 'the counter never threw')
})
