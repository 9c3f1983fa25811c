/**
 * `viaduct bench` as a child process (the built binary; `npm test` builds first): quick mode, one
 * scenario, a table on stdout with ratios to direct, an HTML report with charts, JSON output, and usage
 * errors. Figures are not judged (no pass/fail on times): only that each path was measured.
 */
import t from 'tap'
import { runNode, VIADUCT_BIN } from '../helpers/run-node.js'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const BIN = VIADUCT_BIN

function run(args: string[], timeoutMs = 50_000) {
  return runNode([BIN, ...args], { timeoutMs })
}

t.test('bench --quick --only contrast,contrast-datagrams prints the table and writes the report', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'viaduct-bench-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const report = join(dir, 'report.html')
  const r = await run(['bench', '--quick', '--seconds', '0.3', '--only', 'contrast,contrast-datagrams', '--report', report])
  t.equal(r.code, 0, `exit 0 (stderr: ${r.stderr.slice(-500)})`)
  const lines = r.stdout.split('\n')
  t.match(lines[0], /^group\s+path\s+metric\s+value\s+vs direct\s+note/)
  for (const path of ['direct', 'viaduct http CONNECT', 'viaduct socks5', 'viaduct relay pair-tcp']) {
    const row = lines.find((l) => l.startsWith('contrast bulk echo') && l.includes(path))
    t.ok(row, `a throughput row for ${path}`)
    if (path !== 'direct') t.match(row, /\d\.\d\dx/, `${path} has a ratio to direct`)
    const num = Number(/MiB\/s\s+([\d.]+)/.exec(row ?? '')?.[1])
    t.ok(num > 0, `${path} moved bytes (${num} MiB/s)`)
  }
  t.ok(lines.some((l) => l.startsWith('contrast echo 64 B') && l.includes('p99 ms')), 'latency rows')
  for (const path of ['direct', 'viaduct relay pair-udp', 'viaduct relay turn-udp']) {
    const row = lines.find((l) => l.startsWith('contrast datagram rate 1200 B') && l.includes(path) && l.includes('pkt/s'))
    t.ok(row, `a datagram rate row for ${path}`)
    const num = Number(/pkt\/s\s+([\d.]+)/.exec(row ?? '')?.[1])
    t.ok(num > 0, `${path} echoed datagrams (${num} pkt/s)`)
  }
  t.ok(lines.some((l) => l.startsWith('contrast memory') && /peak RSS MiB\s+\d+/.test(l)), 'peak memory of the gateway child')
  t.match(r.stderr, 'bench: contrast: done', 'progress lines on stderr (not a terminal)')
  const html = readFileSync(report, 'utf8')
  t.match(html, /^<!doctype html>/)
  t.ok((html.match(/<svg /g) ?? []).length >= 4, 'charts in the report')
  t.match(html, 'viaduct relay pair-tcp')
  t.match(html, '--only contrast,contrast-datagrams', 'the report names the command')
})

t.test('bench --json and usage errors', async (t) => {
  const list = await run(['bench', '--list'])
  t.equal(list.code, 0)
  t.match(list.stdout, /^contrast\s+/m)
  const bad = await run(['bench', '--only', 'no-such-scenario'])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /unknown scenario no-such-scenario \(known: .*contrast/)
  const secs = await run(['bench', '--seconds', 'x'])
  t.equal(secs.code, 2)
  t.match(secs.stderr, '--seconds must be')
})
