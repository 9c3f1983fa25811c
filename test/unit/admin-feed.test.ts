/** The live feed's throughput history and tick events, with a manual clock and the real ledger. */
import t from 'tap'
import { ManualClock } from '../../src/core/clock.js'
import { Ledger } from '../../src/core/ledger.js'
import { LiveFeed } from '../../src/admin/feed.js'
import { createMetrics, relayKind } from '../../src/admin/metrics.js'

function setup(opts = {}) {
  const clock = new ManualClock()
  const ledger = new Ledger({ clock, sampleIntervalMs: 0 })
  const feed = new LiveFeed(ledger, clock, { tickMs: 1000, heartbeatMs: 0, historyTicks: 5, ...opts })
  return { clock, ledger, feed }
}

t.test('a tick reports bytes per second per mode, and the sessions that moved', async (t) => {
  const { clock, ledger, feed } = setup({ tickMs: 500 })
  t.teardown(() => feed.stop())
  const f = ledger.open({ mode: 'forward', protocol: 'connect', client: '127.0.0.1:1' })
  const r = ledger.open({ mode: 'relay', protocol: 'pair-tcp', client: '127.0.0.1:2', peer: '127.0.0.1:3' })
  f.add(1000, 4000)
  r.add(300, 0)
  clock.tick(500)
  const [p] = feed.throughput()
  t.same(p.modes.forward, { up: 2000, down: 8000 }, 'bytes in 0.5 s, per second')
  t.same(p.modes.relay, { up: 600, down: 0 })
  const ev = feed.tick()
  t.same(ev.modes.forward, { up: 0, down: 0 }, 'nothing moved since')
  t.same(ev.sessions, {}, 'no session moved in this tick')
  f.add(1, 0)
  const ev2 = feed.tick()
  t.same(ev2.sessions[f.id], [1001, 4000], 'the moved session with its totals')
  t.equal(ev2.stats.byMode.forward.live, 1)
  f.close('completed')
  r.close('VIADUCT_ERR_PAIR_PEER_RESET')
  t.same(feed.reasonsByMode(), { forward: { completed: 1 }, relay: { VIADUCT_ERR_PAIR_PEER_RESET: 1 } })
})

t.test('the history is bounded', async (t) => {
  const { clock, feed } = setup()
  t.teardown(() => feed.stop())
  clock.tick(20_000)
  t.equal(feed.throughput().length, 5, 'only the last 5 ticks are kept')
  const ts = feed.throughput().map((p) => p.t)
  t.same(ts, [...ts].sort((a, b) => a - b), 'oldest first')
})

t.test('stop() lets go of the ledger and the clock', async (t) => {
  const { clock, ledger, feed } = setup({ heartbeatMs: 1000 })
  t.equal(clock.pending, 2)
  feed.stop()
  feed.stop()
  t.equal(clock.pending, 0, 'timers cleared')
  t.equal(ledger.listenerCount('open') + ledger.listenerCount('close') + ledger.listenerCount('bytes') + ledger.listenerCount('update'), 0)
})

t.test('metrics helpers', async (t) => {
  t.equal(relayKind({ mode: 'relay', protocol: 'pair-udp' }), 'pairing')
  t.equal(relayKind({ mode: 'relay', protocol: 'turn-tcp' }), 'allocation')
  t.equal(relayKind({ mode: 'forward', protocol: 'pair-tcp' }), undefined)
  const clock = new ManualClock()
  const ledger = new Ledger({ clock, sampleIntervalMs: 0 })
  const m = createMetrics(ledger, { defaultMetrics: false })
  const s = ledger.open({ mode: 'relay', protocol: 'turn-udp', client: '127.0.0.1:5' })
  s.add(10, 20)
  let text = await m.render()
  t.match(text, 'viaduct_relay_allocations_open 1')
  t.match(text, 'viaduct_bytes_total{mode="relay",direction="down"} 20', 'render samples live bytes first')
  clock.tick(2500)
  s.close('expired')
  text = await m.render()
  t.match(text, 'viaduct_relay_allocations_open 0')
  t.match(text, 'viaduct_session_closes_total{mode="relay",reason="expired"} 1')
  t.match(text, 'viaduct_session_duration_seconds_bucket{le="5",mode="relay",protocol="turn-udp"} 1')
  t.match(text, 'viaduct_session_duration_seconds_bucket{le="1",mode="relay",protocol="turn-udp"} 0')
  t.notMatch(text, 'viaduct_refusals_total{', 'a normal close is no refusal')
  m.stop()
  t.equal(ledger.listenerCount('close'), 0)
})
