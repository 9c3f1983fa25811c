/**
 * `viaduct demo` as a child process: with --once it drives traffic through each mode that exists and
 * exits 0; without it keeps the gateway and a trickle of traffic running, with the dashboard answering,
 * until SIGINT.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { request } from 'node:http'
import { fileURLToPath } from 'node:url'

const BIN = fileURLToPath(new URL('../../dist/bin/viaduct.js', import.meta.url))

function getJson(url: string): Promise<any> {
  return new Promise((resolve, reject) => {
    request(url, { agent: false }, (res) => {
      let body = ''
      res.on('data', (c) => (body += c))
      res.on('end', () => resolve(JSON.parse(body)))
    })
      .on('error', reject)
      .end()
  })
}

t.test('demo --once drives every mode and exits 0', async (t) => {
  const child = spawn(process.execPath, [BIN, 'demo', '--once', '--admin', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.on('data', (d) => (stderr += d))
  const timer = setTimeout(() => child.kill('SIGKILL'), 40_000)
  const code = await new Promise((r) => child.on('close', r))
  clearTimeout(timer)
  t.equal(code, 0, `exit 0 (stderr: ${stderr.slice(-400)})`)
  t.notMatch(stdout, 'FAIL', 'no step failed')
  t.match(stdout, /ok\s+forward http\s+GET http:\/\/127\.0\.0\.1:\d+\/hello via the proxy: 200/)
  t.match(stdout, /ok\s+forward http\s+GET http:\/\/10\.255\.255\.1\/ \(a private address: refused\): 403/)
  t.match(stdout, /ok\s+forward socks5 CONNECT/)
  t.match(stdout, /ok\s+relay\s+pairing two TCP peers, 64 KiB each way: paired; A got 65536 B, B got 65536 B/)
  t.match(stdout, /ok\s+relay\s+TURN allocation over UDP, 10 datagrams to a peer and back: relayed 127\.0\.0\.1:\d+, 10 of 10 datagrams came back/)
  t.match(stdout, /ledger: forward \d+ sessions .*relay \d+ sessions/)
  t.match(stdout, 'VIADUCT_ERR_ACCESS_PRIVATE 1', 'the refusal is in the ledger')
  t.match(stdout, /dashboard: http:\/\/127\.0\.0\.1:\d+\//)
})

t.test('demo keeps running, the dashboard answers, SIGINT stops it', async (t) => {
  const child = spawn(process.execPath, [BIN, 'demo', '--admin', '127.0.0.1:0', '--every', '300'], { stdio: ['ignore', 'pipe', 'pipe'] })
  const killer = setTimeout(() => child.kill('SIGKILL'), 40_000)
  t.teardown(() => {
    clearTimeout(killer)
    child.kill('SIGKILL')
  })
  let stdout = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.resume()
  const closed = new Promise<number | null>((r) => child.on('close', r))
  const until = Date.now() + 20_000
  while (!/Ctrl-C to stop/.test(stdout) && Date.now() < until) await new Promise((r) => setTimeout(r, 50))
  const url = /dashboard: (http:\/\/\S+)/.exec(stdout)?.[1]
  t.ok(url, 'the dashboard URL is printed')
  const first = await getJson(`${url}api/stats`)
  let later = first
  while (later.total <= first.total && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 200))
    later = await getJson(`${url}api/stats`)
  }
  t.ok(later.total > first.total, `traffic keeps flowing (${first.total} -> ${later.total} sessions)`)
  t.ok(later.byMode.relay.total >= 2, 'relay pairings too')
  child.kill('SIGINT')
  t.equal(await closed, 0, 'SIGINT: a clean exit')
})
