/** The benchmark runner's pure parts: table, HTML report, selection, ordering, progress output. */
import t from 'tap'
import { PassThrough } from 'node:stream'
import { renderHtml, renderTable, formatValue, barChart } from '../../bench/report.js'
import { METRICS, betterDirection } from '../../bench/metrics.js'
import { Progress, runBench, selectScenarios, sortByGroup } from '../../bench/run.js'
import type { BenchRow, Scenario } from '../../bench/types.js'

const rows: BenchRow[] = [
  { group: 'g1', path: 'direct', metric: 'MiB/s', value: 400 },
  { group: 'g1', path: 'viaduct relay pair-tcp', metric: 'MiB/s', value: 360, ratio: 0.9, note: 'n=3' },
  { group: 'g2', path: 'direct', metric: 'p50 ms', value: 0.0271 },
]

function sink() {
  const s = new PassThrough()
  let out = ''
  s.on('data', (c: Buffer) => (out += c.toString()))
  return { s, text: () => out }
}

t.test('formatting', async (t) => {
  t.equal(formatValue(12345.6), '12346')
  t.equal(formatValue(123.4), '123')
  t.equal(formatValue(12.34), '12.3')
  t.equal(formatValue(1.234), '1.23')
  t.equal(formatValue(0.012345), '0.0123')
  t.equal(formatValue(0), '0')
  t.equal(formatValue(NaN), 'NaN')
})

t.test('every metric declares its better direction; the report uses it (issue 15: four were labelled backwards)', async (t) => {
  t.equal(betterDirection('CPU µs/req'), 'lower')
  t.equal(betterDirection('CPU µs/datagram'), 'lower')
  t.equal(betterDirection('datagrams/s'), 'higher')
  t.equal(betterDirection('s'), 'lower')
  t.equal(betterDirection('MiB/s'), 'higher')
  for (const [m, dir] of Object.entries(METRICS)) {
    const html = renderHtml([{ group: 'g', path: 'direct', metric: m as keyof typeof METRICS, value: 1 }], { command: 'c', date: 'D', node: 'v20', cpus: '2', quick: true, failures: [] })
    t.match(html, `g: ${m.replace('&', '&amp;')} (${dir} is better)`, `${m}: ${dir} is better`)
  }
})

t.test('the table lines up columns and shows ratios', async (t) => {
  const text = renderTable(rows)
  const lines = text.trimEnd().split('\n')
  t.match(lines[0], /^group\s+path\s+metric\s+value\s+vs direct\s+note$/)
  t.match(text, /g1\s+viaduct relay pair-tcp\s+MiB\/s\s+360\s+0\.90x\s+n=3/)
  t.ok(lines.includes(''), 'a blank line between groups')
})

t.test('the HTML report is self-contained and escapes text', async (t) => {
  const html = renderHtml([...rows, { group: '<g3>', path: 'a&b', metric: 'conn/s', value: 1 }], { command: 'viaduct bench --quick', date: 'D', node: 'v20', cpus: '2 x cpu', quick: true, failures: [{ scenario: 's<', message: 'm>' }] })
  t.match(html, /^<!doctype html>/)
  t.equal((html.match(/<svg /g) ?? []).length, 3, 'one chart per group and metric')
  t.notMatch(html, /<script|src=|href=/, 'no script, no external file')
  t.match(html, '&lt;g3&gt;')
  t.match(html, 'a&amp;b')
  t.match(html, 's&lt;')
  t.match(html, 'viaduct bench --quick')
  const svg = barChart(rows.slice(0, 2), 'g1: MiB/s')
  t.match(svg, /<rect [^>]*width="(\d+\.\d)"/)
  const widths = [...svg.matchAll(/<rect [^>]*width="([\d.]+)"/g)].map((m) => Number(m[1]))
  t.ok(widths[0] > widths[1], 'bars are proportional to the values')
})

t.test('selection and ordering', async (t) => {
  const s = (name: string): Scenario => ({ name, description: '', run: async () => [] })
  t.same(selectScenarios([s('a'), s('b')], ['b']).map((x) => x.name), ['b'])
  t.same(selectScenarios([s('a'), s('b')]).map((x) => x.name), ['a', 'b'])
  t.throws(() => selectScenarios([s('a')], ['zzz']), /unknown scenario zzz \(known: a\)/)
  const mixed: BenchRow[] = [
    { group: 'x', path: 'direct', metric: 'req/s', value: 1 },
    { group: 'y', path: 'direct', metric: 'req/s', value: 1 },
    { group: 'x', path: 'p', metric: 'req/s', value: 2 },
  ]
  t.same(sortByGroup(mixed).map((r) => `${r.group}/${r.path}`), ['x/direct', 'x/p', 'y/direct'])
})

t.test('runBench: ratios, failures, JSON, plain progress lines', async (t) => {
  const ok: Scenario = {
    name: 'ok',
    description: '',
    run: async (o) => {
      o.progress('working')
      return [
        { group: 'g', path: 'direct', metric: 'req/s', value: 100 },
        { group: 'g', path: 'via', metric: 'req/s', value: 50 },
      ]
    },
  }
  const bad: Scenario = { name: 'bad', description: '', run: async () => Promise.reject(new Error('boom')) }
  const out = sink()
  const err = sink()
  const res = await runBench([ok, bad], { quick: true, json: true }, { stdout: out.s, stderr: err.s })
  t.equal(res.rows[1].ratio, 0.5)
  t.same(res.failures, [{ scenario: 'bad', message: 'boom' }])
  t.same(JSON.parse(out.text()).rows[1], { group: 'g', path: 'via', metric: 'req/s', value: 50, ratio: 0.5 })
  t.match(err.text(), 'bench: ok: working\n', 'plain lines when stderr is no terminal')
  t.match(err.text(), 'bench: scenario bad failed: boom')
  t.notMatch(err.text(), '\r')
})

t.test('the progress bar redraws one line on a terminal', async (t) => {
  const out = sink()
  const p = new Progress(out.s, true, 4, 8)
  p.show(2, 'http', 'req/s')
  p.end()
  t.equal(out.text(), '\r\x1b[K[####----] 3/4 http: req/s\r\x1b[K')
})
