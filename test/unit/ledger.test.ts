import t from 'tap'
import { Ledger, CloseReason } from '../../src/core/ledger.js'
import { ManualClock } from '../../src/core/clock.js'

t.test('a session is live, counts bytes, closes once with a reason and moves to history', async (t) => {
  const clock = new ManualClock()
  const ledger = new Ledger({ clock, historySize: 2, sampleIntervalMs: 0 })
  const events: string[] = []
  ledger.on('open', (r) => events.push(`open:${r.id}`))
  ledger.on('close', (r) => events.push(`close:${r.id}:${r.reason}`))
  const s = ledger.open({ mode: 'forward', protocol: 'connect', client: '127.0.0.1:5000', target: 'example.com:443' })
  const sock = { bytesRead: 10, bytesWritten: 20 }
  s.track(sock)
  sock.bytesRead += 100
  sock.bytesWritten += 250
  s.add(1, 2)
  t.equal(ledger.live().length, 1)
  t.match(ledger.live('forward')[0], { bytesUp: 101, bytesDown: 252, state: 'live' })
  clock.tick(1500)
  s.close(CloseReason.CLIENT_CLOSED)
  sock.bytesRead += 1000
  s.close('VIADUCT_ERR_SHOULD_NOT_APPLY')
  const rec = ledger.recent()[0]
  t.match(rec, { state: 'closed', reason: 'client_closed', bytesUp: 101, bytesDown: 252, durationMs: 1500 })
  t.same(events, [`open:${s.id}`, `close:${s.id}:client_closed`])
  t.equal(ledger.live().length, 0)
  t.match(ledger.stats(), { live: 0, total: 1, byMode: { forward: { bytesUp: 101, bytesDown: 252 } }, reasons: { client_closed: 1 } })
})

t.test('history is a bounded ring, newest first', async (t) => {
  const ledger = new Ledger({ clock: new ManualClock(), historySize: 2, sampleIntervalMs: 0 })
  for (const id of ['a', 'b', 'c']) ledger.open({ mode: 'relay', protocol: 'pair-tcp', client: id }).close('expired')
  t.same(ledger.recent().map((r) => r.client), ['c', 'b'])
})

t.test('the ring wraps many times and still finds records by id and mode', async (t) => {
  const ledger = new Ledger({ clock: new ManualClock(), historySize: 5, sampleIntervalMs: 0 })
  const ids: string[] = []
  for (let i = 0; i < 23; i++) {
    const s = ledger.open({ mode: i % 2 ? 'relay' : 'forward', protocol: 'x', client: String(i) })
    ids.push(s.id)
    s.close('completed')
  }
  t.same(ledger.recent().map((r) => r.client), ['22', '21', '20', '19', '18'])
  t.same(ledger.recent('relay').map((r) => r.client), ['21', '19'])
  t.same(ledger.recent(undefined, 2).map((r) => r.client), ['22', '21'])
  t.equal(ledger.get(ids[18])?.client, '18', 'oldest kept is found')
  t.equal(ledger.get(ids[17]), undefined, 'older ones are gone')
  t.equal(new Ledger({ historySize: 0, sampleIntervalMs: 0 }).recent().length, 0)
  const zero = new Ledger({ historySize: 0, sampleIntervalMs: 0 })
  zero.open({ mode: 'm', protocol: 'p', client: 'c' }).close('completed')
  t.same(zero.recent(), [], 'historySize 0 keeps nothing')
  t.equal(zero.stats().total, 1, 'but still counts')
})

t.test('bytes events report deltas on each sample', async (t) => {
  const clock = new ManualClock()
  const ledger = new Ledger({ clock, sampleIntervalMs: 1000 })
  const seen: Array<[number, number]> = []
  ledger.on('bytes', (b) => seen.push([b.up, b.down]))
  const s = ledger.open({ mode: 'relay', protocol: 'pair-udp', client: 'x' })
  s.add(5, 7)
  clock.tick(1000)
  s.add(1, 0)
  clock.tick(1000)
  clock.tick(1000)
  s.add(0, 3)
  s.close('deleted')
  t.same(seen, [[5, 7], [1, 0], [0, 3]])
  ledger.stop()
})

t.test('drained() resolves when the last live session closes', async (t) => {
  const ledger = new Ledger({ sampleIntervalMs: 0 })
  const a = ledger.open({ mode: 'forward', protocol: 'http', client: 'a' })
  let done = false
  const p = ledger.drained().then(() => (done = true))
  await new Promise((r) => setImmediate(r))
  t.notOk(done)
  a.close('completed')
  await p
  t.ok(done)
})

t.test('counts never go backwards: a socket whose queued bytes are dropped (issue 16)', async (t) => {
  const ledger = new Ledger({ clock: new ManualClock(), sampleIntervalMs: 0 })
  const deltas: Array<[number, number]> = []
  ledger.on('bytes', (b) => deltas.push([b.up, b.down]))
  const s = ledger.open({ mode: 'forward', protocol: 'connect', client: 'c' })
  // like node's net.Socket: bytesWritten counts what is still queued, writableLength is that queue
  const sock = { bytesRead: 0, bytesWritten: 0, writableLength: 0 }
  s.track(sock)
  sock.bytesWritten = 5_000_000
  sock.writableLength = 4_000_000
  sock.bytesRead = 300
  ledger.sample()
  t.same(deltas, [[300, 1_000_000]], 'only bytes handed to the kernel are counted, not the queue')
  // a reset drops the queue: node's bytesWritten falls back to what was dispatched
  sock.bytesWritten = 900_000
  sock.writableLength = 0
  ledger.sample()
  t.equal(ledger.get(s.id)?.bytesDown, 1_000_000, 'the live count holds its highest value')
  s.close('client_closed')
  t.equal(ledger.recent()[0].bytesDown, 1_000_000, 'the final count is not below what was reported')
  t.ok(deltas.every(([u, d]) => u >= 0 && d >= 0), 'no negative delta was ever emitted')
  s.add(-5, -5)
  const s2 = ledger.open({ mode: 'forward', protocol: 'connect', client: 'c' })
  s2.add(-10, 7)
  s2.close('client_closed')
  t.match(ledger.recent()[0], { bytesUp: 0, bytesDown: 7 }, 'add() ignores negative counts')
})

t.test('an observer that throws is counted and logged once; the session and other observers carry on', async (t) => {
  const ledger = new Ledger({ clock: new ManualClock(), sampleIntervalMs: 0 })
  const seen: string[] = []
  ledger.on('close', function brokenObserver() {
    throw new Error('observer bug')
  })
  ledger.on('close', (r) => seen.push(r.id))
  ledger.on('bytes', function brokenBytes() {
    throw new RangeError('bytes bug')
  })
  const a = ledger.open({ mode: 'forward', protocol: 'http', client: 'c' })
  a.add(10, 10)
  t.doesNotThrow(() => a.close('completed'), 'close does not throw into the caller (a socket handler)')
  const b = ledger.open({ mode: 'relay', protocol: 'pair-tcp', client: 'c' })
  b.close('client_closed')
  t.same(seen, [a.id, b.id], 'the other observer saw both closes')
  t.equal(ledger.liveCount, 0, 'both sessions closed')
  t.same(new Map(ledger.faults.entries()), new Map([['ledger.close:brokenObserver', 2], ['ledger.bytes:brokenBytes', 1]]), 'faults counted by place')
})

t.test('a once() observer runs once', async (t) => {
  const ledger = new Ledger({ clock: new ManualClock(), sampleIntervalMs: 0 })
  const seen: string[] = []
  ledger.once('close', (r) => seen.push(r.id))
  const a = ledger.open({ mode: 'forward', protocol: 'http', client: 'c' })
  a.close('completed')
  ledger.open({ mode: 'forward', protocol: 'http', client: 'c' }).close('completed')
  t.same(seen, [a.id])
  t.equal(ledger.listenerCount('close'), 0)
})
