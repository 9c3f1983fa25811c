/**
 * Long-term credentials over static users and TURN REST secrets, stateless nonces with expiry (a manual
 * clock moves time), the REST credential minting, and the per-source limit for 401 replies.
 */
import t from 'tap'
import { createHmac } from 'node:crypto'
import { ManualClock } from '../../src/core/clock.js'
import { TurnAuth } from '../../modes/relay/turn/auth.js'
import { mintRestCredentials, restExpiry } from '../../modes/relay/turn/credentials.js'
import { SourceRateLimiter } from '../../modes/relay/turn/rate-limit.js'
import { longTermKey } from '../../modes/relay/turn/stun/index.js'

t.test('static users: key = MD5(user:realm:pass)', async (t) => {
  const auth = new TurnAuth({ realm: 'r', users: [{ name: 'u', password: 'p' }], secrets: [], nonceTtlS: 600 }, new ManualClock())
  t.same(auth.keysFor('u'), [longTermKey('u', 'r', 'p')])
  t.same(auth.keysFor('nobody'), [])
  t.notOk(auth.open)
})

t.test('REST credentials: "expiry:user", base64 HMAC-SHA1, several secrets, expiry', async (t) => {
  const clock = new ManualClock(1_700_000_000_000)
  const c = mintRestCredentials('secret-two', 'bob', 3600, clock.now())
  t.equal(c.username, '1700003600:bob')
  t.equal(c.password, createHmac('sha1', 'secret-two').update('1700003600:bob').digest('base64'))
  t.equal(restExpiry(c.username), 1700003600)
  t.equal(restExpiry('1700003600'), 1700003600)
  t.equal(restExpiry('bob'), null)
  const auth = new TurnAuth({ realm: 'r', users: [], secrets: ['secret-one', 'secret-two'], nonceTtlS: 600 }, clock)
  const keys = auth.keysFor(c.username)
  t.equal(keys.length, 2, 'one candidate key per secret')
  t.ok(keys.some((k) => k.equals(longTermKey(c.username, 'r', c.password))), 'the minting secret gives the right key')
  clock.tick(3600 * 1000)
  t.same(auth.keysFor(c.username), [], 'expired username: no key')
  t.same(auth.keysFor('bob'), [], 'not a REST username')
})

t.test('nonces: valid until their expiry, only for the IP they were made for, not forgeable', async (t) => {
  const clock = new ManualClock()
  const auth = new TurnAuth({ realm: 'r', users: [], secrets: [], nonceTtlS: 60 }, clock)
  t.ok(auth.open)
  const n = auth.nonce('127.0.0.1')
  t.equal(auth.checkNonce(n, '127.0.0.1'), 'ok')
  t.equal(auth.checkNonce(n, '127.0.0.2'), 'stale', 'another IP')
  t.equal(auth.checkNonce(n.replace(/^[0-9a-f]+/, 'ffffffff'), '127.0.0.1'), 'stale', 'a pushed-out expiry breaks the MAC')
  t.equal(auth.checkNonce('garbage', '127.0.0.1'), 'stale')
  clock.tick(59_000)
  t.equal(auth.checkNonce(n, '127.0.0.1'), 'ok')
  clock.tick(2_000)
  t.equal(auth.checkNonce(n, '127.0.0.1'), 'stale', 'expired')
  const other = new TurnAuth({ realm: 'r', users: [], secrets: [], nonceTtlS: 60 }, clock)
  t.equal(other.checkNonce(other.nonce('127.0.0.1'), '127.0.0.1'), 'ok')
  t.equal(other.checkNonce(auth.nonce('127.0.0.1'), '127.0.0.1'), 'stale', 'another server instance (key) does not accept it')
})

t.test('401 replies are limited per source per second, and the table is bounded', async (t) => {
  const clock = new ManualClock()
  const l = new SourceRateLimiter(3, clock)
  t.same([1, 2, 3, 4].map(() => l.allow('10.0.0.1')), [true, true, true, false])
  t.ok(l.allow('10.0.0.2'), 'another source has its own budget')
  clock.tick(1000)
  t.ok(l.allow('10.0.0.1'), 'a new second')
  const unlimited = new SourceRateLimiter(0, clock)
  t.ok([...Array(100)].every(() => unlimited.allow('x')))
  const many = new SourceRateLimiter(1, clock)
  for (let i = 0; i < 10_000; i++) many.allow(`ip${i}`)
  t.notOk(many.allow('one-more'), 'a full table refuses new sources within the second')
  clock.tick(1000)
  t.ok(many.allow('one-more'), 'stale windows are pruned')
  t.ok(many.size <= 10_000)
})
