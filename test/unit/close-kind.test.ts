/**
 * Close reasons by kind (issue 15: ordinary UDP pairing endings were counted and logged as refusals):
 * refusals, failures and endings are told apart in the metrics, the log levels and docs/errors.md.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { Writable } from 'node:stream'
import { closeKind, registeredErrors } from '../../src/core/errors.js'
import { Ledger } from '../../src/core/ledger.js'
import { ManualClock } from '../../src/core/clock.js'
import { createLogger, logLedger } from '../../src/core/log.js'
import { createMetrics } from '../../src/admin/metrics.js'
import '../../modes/index.js'
import '../../src/admin/index.js'

t.test('kinds of close reasons', async (t) => {
  t.equal(closeKind('completed'), 'normal')
  t.equal(closeKind(undefined), 'normal')
  t.equal(closeKind('VIADUCT_ERR_ACCESS_PORT'), 'refusal')
  t.equal(closeKind('VIADUCT_ERR_TARGET_REFUSED'), 'failure')
  t.equal(closeKind('VIADUCT_ERR_PAIR_MAPPING_EXPIRED'), 'ending')
  t.equal(closeKind('VIADUCT_ERR_SESSION_IDLE'), 'ending')
  t.equal(closeKind('VIADUCT_ERR_NOT_A_CODE'), 'refusal', 'an unknown code counts as a refusal')
})

t.test('metrics count refusals and failures apart, and endings as neither', async (t) => {
  const ledger = new Ledger({ clock: new ManualClock(), sampleIntervalMs: 0 })
  const m = createMetrics(ledger, { defaultMetrics: false })
  t.teardown(() => m.stop())
  ledger.open({ mode: 'relay', protocol: 'pair-udp', client: 'a' }).close('VIADUCT_ERR_PAIR_MAPPING_EXPIRED')
  ledger.open({ mode: 'forward', protocol: 'connect', client: 'b' }).close('VIADUCT_ERR_ACCESS_PORT')
  ledger.open({ mode: 'forward', protocol: 'connect', client: 'c' }).close('VIADUCT_ERR_TARGET_REFUSED')
  const text = await m.render()
  t.match(text, 'viaduct_session_closes_total{mode="relay",reason="VIADUCT_ERR_PAIR_MAPPING_EXPIRED"} 1')
  t.notMatch(text, /viaduct_(refusals|failures)_total\{mode="relay"/, 'an expired UDP mapping is neither a refusal nor a failure')
  t.match(text, 'viaduct_refusals_total{mode="forward",code="VIADUCT_ERR_ACCESS_PORT"} 1')
  t.match(text, 'viaduct_failures_total{mode="forward",code="VIADUCT_ERR_TARGET_REFUSED"} 1')
  t.notMatch(text, 'viaduct_refusals_total{mode="forward",code="VIADUCT_ERR_TARGET_REFUSED"}')
})

t.test('log levels: refusals and failures warn, endings and normal closes are info', async (t) => {
  const lines: Array<{ level: number; kind: string; reason: string; msg: string }> = []
  const dest = new Writable({
    write(c, _e, cb) {
      for (const l of String(c).split('\n').filter(Boolean)) lines.push(JSON.parse(l))
      cb()
    },
  })
  const ledger = new Ledger({ clock: new ManualClock(), sampleIntervalMs: 0 })
  const stop = logLedger(ledger, createLogger({ level: 'info', pretty: false, destination: dest }))
  t.teardown(stop)
  for (const reason of ['client_closed', 'VIADUCT_ERR_PAIR_MAPPING_EXPIRED', 'VIADUCT_ERR_AUTH_FAILED', 'VIADUCT_ERR_PAIR_PEER_RESET']) {
    ledger.open({ mode: 'relay', protocol: 'x', client: 'c' }).close(reason)
  }
  await new Promise((r) => setImmediate(r))
  t.same(
    lines.map((l) => [l.reason, l.kind, l.level]),
    [
      ['client_closed', 'normal', 30],
      ['VIADUCT_ERR_PAIR_MAPPING_EXPIRED', 'ending', 30],
      ['VIADUCT_ERR_AUTH_FAILED', 'refusal', 40],
      ['VIADUCT_ERR_PAIR_PEER_RESET', 'failure', 40],
    ],
  )
  t.match(lines[1].msg, /^session ended: VIADUCT_ERR_PAIR_MAPPING_EXPIRED/)
})

t.test('docs/errors.md lists the endings and the failures exactly', async (t) => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8')
  const listed = (label: string) => {
    const line = doc.split('\n').find((l) => l.startsWith(`- **${label}**`))
    return new Set([...(line ?? '').matchAll(/`(VIADUCT_ERR_[A-Z0-9_]+)`/g)].map((m) => m[1]))
  }
  for (const kind of ['ending', 'failure'] as const) {
    const want = new Set([...registeredErrors()].filter(([, s]) => s.kind === kind).map(([c]) => c))
    t.same([...listed(`${kind}s`)].sort(), [...want].sort(), `the "${kind}s" line of docs/errors.md`)
  }
})
