/** The rendezvous table: who waits, who pairs, who is refused. */
import t from 'tap'
import { Rendezvous, type Registration } from '../../modes/relay/pairing/rendezvous.js'
import { PairErrors } from '../../modes/relay/pairing/errors.js'

const reg = (room: string, over: Partial<Registration<string>> = {}): Registration<string> => ({ room, side: 0, ip: '1.1.1.1', kind: 'stream', peer: room, ...over })

t.test('first waits, second pairs, third is refused until the pairing ends', async (t) => {
  const r = new Rendezvous<string>({ maxWaiting: 10, maxWaitingPerIp: 10 })
  const a = reg('x', { peer: 'A' })
  t.same(r.register(a), { kind: 'waiting' })
  const res = r.register(reg('x', { peer: 'B' }))
  t.equal(res.kind === 'paired' && res.partner.peer, 'A')
  t.throws(() => r.register(reg('x', { peer: 'C' })), { code: PairErrors.VIADUCT_ERR_PAIR_ROOM_FULL })
  r.unpair('x')
  t.same(r.register(reg('x', { peer: 'D' })), { kind: 'waiting' }, 'the room is free again')
})

t.test('sides, transports, cancel', async (t) => {
  const r = new Rendezvous<string>({ maxWaiting: 0, maxWaitingPerIp: 0 })
  const a = reg('s', { side: 1 })
  r.register(a)
  t.throws(() => r.register(reg('s', { side: 1 })), { code: PairErrors.VIADUCT_ERR_PAIR_SIDE_TAKEN })
  t.throws(() => r.register(reg('s', { kind: 'datagram' })), { code: PairErrors.VIADUCT_ERR_PAIR_TRANSPORT })
  t.ok(r.isWaiting(a), 'refusals replace nothing')
  t.equal(r.register(reg('s', { side: 2 })).kind, 'paired')
  const w = reg('c')
  r.register(w)
  t.equal(r.cancel(reg('c')), false, 'only the registration itself can cancel')
  t.equal(r.cancel(w), true)
  t.equal(r.waitingCount, 0)
})

t.test('limits: total and per IP, released on cancel and on pairing', async (t) => {
  const r = new Rendezvous<string>({ maxWaiting: 3, maxWaitingPerIp: 2 })
  const a = reg('a', { ip: '9.9.9.9' })
  r.register(a)
  r.register(reg('b', { ip: '9.9.9.9' }))
  t.throws(() => r.register(reg('c', { ip: '9.9.9.9' })), { code: PairErrors.VIADUCT_ERR_PAIR_IP_LIMIT })
  r.register(reg('c', { ip: '8.8.8.8' }))
  t.throws(() => r.register(reg('d', { ip: '7.7.7.7' })), { code: PairErrors.VIADUCT_ERR_PAIR_WAIT_LIMIT })
  t.equal(r.register(reg('a', { ip: '7.7.7.7' })).kind, 'paired', 'pairing never counts against the waiting limits')
  t.equal(r.waitingFrom('9.9.9.9'), 1)
  r.register(reg('e', { ip: '9.9.9.9' }))
  t.equal(r.waitingCount, 3)
})
