/**
 * The ledger's history in columns (src/core/history.ts) must give back exactly the records the ledger
 * closed: same fields, same ids, newest first, the oldest dropped when full. Checked against a plain
 * array model on random sequences of opens and closes (fast-check), and on the edges by hand.
 */
import t from 'tap'
import fc from 'fast-check'
import { ManualClock } from '../../src/core/clock.js'
import { HistoryRing, sessionId, sessionSeq } from '../../src/core/history.js'
import { Ledger, type SessionRecord } from '../../src/core/ledger.js'

/** A record as sorted [key, value] pairs without undefined values (the ring omits absent fields; key order is the caller's). */
const canon = (r: SessionRecord | undefined) =>
  r &&
  JSON.stringify(
    Object.entries(r)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  )

t.test('sessionId and sessionSeq agree; a foreign id has no sequence', async (t) => {
  t.equal(sessionSeq(sessionId('forward', 12345, 1_700_000_000_000)), 12345)
  t.equal(sessionId('', 1, 0).startsWith('s1-'), true, 'a mode without a name still gets an initial')
  t.ok(Number.isNaN(sessionSeq('nonsense')))
  t.ok(Number.isNaN(sessionSeq('-')))
})

t.test('records come back with the fields they had, and only those', async (t) => {
  const clock = new ManualClock()
  const ledger = new Ledger({ clock, historySize: 3, sampleIntervalMs: 0 })
  const a = ledger.open({ mode: 'forward', protocol: 'http', client: '1.2.3.4:5', target: 'http://x/', listener: 'http', method: 'GET' })
  a.add(10, 20)
  a.update({ status: 502 })
  clock.tick(7)
  let emitted: SessionRecord | undefined
  ledger.once('close', (r) => (emitted = r))
  a.close('VIADUCT_ERR_TARGET_RESET', 'reset')
  const b = ledger.open({ mode: 'relay', protocol: 'turn-udp', client: 'c', peer: 'p', user: 'u', meta: { relayed: '1.1.1.1:9' } })
  b.close('expired')
  const [rb, ra] = ledger.recent()
  t.equal(canon(ra), canon(emitted), 'the kept record equals the one the close event carried')
  t.equal(ra.id, a.id)
  t.equal(ra.durationMs, 7)
  t.equal(ra.bytesUp, 10)
  t.equal(ra.detail, 'reset')
  t.notOk('peer' in ra, 'no peer field when there was none')
  t.equal(ra.method, 'GET')
  t.equal(ra.status, 502)
  t.notOk('status' in rb || 'method' in rb, 'no method or status where the protocol has none')
  t.same(rb.meta, { relayed: '1.1.1.1:9' })
  t.equal(rb.user, 'u')
  t.notOk('detail' in rb)
  t.equal(canon(ledger.get(a.id)), canon(ra), 'get() finds a closed record by id')
  t.equal(ledger.get('f999-zzzz'), undefined)
})

t.test('a ring of 0 keeps nothing; an empty ring finds nothing', async (t) => {
  const ring = new HistoryRing(0)
  ring.push({ mode: 'forward', protocol: 'http', client: 'c', id: 'f1-0', state: 'closed', bytesUp: 0, bytesDown: 0, openedAt: 0 }, 1)
  t.equal(ring.size, 0)
  t.equal(new HistoryRing(4).find('f1-0'), undefined)
})

t.test('random opens and closes: the ring equals a bounded array of the closed records (fast-check)', async (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 8 }),
      fc.array(fc.record({ mode: fc.constantFrom('forward', 'relay'), closeNow: fc.boolean(), up: fc.nat(1000), reason: fc.constantFrom('completed', 'VIADUCT_ERR_X') }), { maxLength: 40 }),
      (size, steps) => {
        const clock = new ManualClock()
        const ledger = new Ledger({ clock, historySize: size, sampleIntervalMs: 0 })
        const model: SessionRecord[] = []
        ledger.on('close', (r) => {
          model.push(r)
          if (model.length > size) model.shift()
        })
        const open = []
        for (const [i, s] of steps.entries()) {
          const h = ledger.open({ mode: s.mode, protocol: 'p', client: `c${i}`, target: i % 2 ? `t${i}` : undefined })
          h.add(s.up, 0)
          clock.tick(i)
          open.push(h)
          if (s.closeNow) open.shift()?.close(s.reason)
        }
        for (const h of open) h.close('shutdown')
        const want = [...model].reverse().map(canon)
        const got = ledger.recent().map(canon)
        if (JSON.stringify(got) !== JSON.stringify(want)) return false
        const relay = ledger.recent('relay').map(canon)
        return model.every((r) => canon(ledger.get(r.id)) === canon(r)) && JSON.stringify(relay) === JSON.stringify([...model].reverse().filter((r) => r.mode === 'relay').map(canon))
      },
    ),
  )
  t.pass('ring and model agree')
})
