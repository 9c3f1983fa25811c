/**
 * The plain-HTTP destination check and its short memory: allowed answers are reused for TTL_MS, refusals
 * are never reused, a new policy object starts afresh, and the map stays bounded.
 */
import t from 'tap'
import { ManualClock } from '../../src/core/clock.js'
import { isViaductError } from '../../src/core/errors.js'
import { AccessPolicy } from '../../modes/forward/access.js'
import { DestinationChecks, MAX_ENTRIES, TTL_MS } from '../../modes/forward/http/destinations.js'

function policy(denyHosts: string[] = []): { p: AccessPolicy; calls: () => number } {
  const p = new AccessPolicy({ clients: [], allowHosts: [], denyHosts, allowPrivate: ['127.0.0.0/8'], connectPorts: ['443'] })
  let n = 0
  const orig = p.checkDestination.bind(p)
  p.checkDestination = (host, port, tunnel) => {
    n++
    orig(host, port, tunnel)
  }
  return { p, calls: () => n }
}

/** The ViaductError code `fn` throws, or 'no error'. */
function codeOf(fn: () => void): string {
  try {
    fn()
  } catch (e) {
    return isViaductError(e) ? e.code : `not a ViaductError: ${String(e)}`
  }
  return 'no error'
}

t.test('an allowed destination is checked once per TTL', async (t) => {
  const clock = new ManualClock()
  const { p, calls } = policy()
  const d = new DestinationChecks(() => p, clock)
  for (let i = 0; i < 50; i++) d.check('127.0.0.1', 8080)
  t.equal(calls(), 1, 'the policy was asked once for 50 requests')
  d.check('127.0.0.1', 8081)
  t.equal(calls(), 2, 'another port is another destination')
  clock.tick(TTL_MS + 1)
  d.check('127.0.0.1', 8080)
  t.equal(calls(), 3, 'after the TTL the policy is asked again')
})

t.test('a refused destination is refused every time, with its error', async (t) => {
  const clock = new ManualClock()
  const { p, calls } = policy()
  const d = new DestinationChecks(() => p, clock)
  for (let i = 0; i < 3; i++) {
    t.equal(codeOf(() => d.check('10.0.0.1', 80)), 'VIADUCT_ERR_ACCESS_PRIVATE')
  }
  t.equal(calls(), 3, 'refusals are not remembered')
})

t.test('a new policy object forgets the old answers', async (t) => {
  const clock = new ManualClock()
  const a = policy()
  let current = a.p
  const d = new DestinationChecks(() => current, clock)
  d.check('example.com', 80)
  const b = policy(['example.com'])
  current = b.p
  t.equal(codeOf(() => d.check('example.com', 80)), 'VIADUCT_ERR_ACCESS_DESTINATION')
  t.equal(b.calls(), 1)
})

t.test('the memory is bounded', async (t) => {
  const clock = new ManualClock()
  const { p, calls } = policy()
  const d = new DestinationChecks(() => p, clock)
  for (let i = 0; i < MAX_ENTRIES + 10; i++) d.check(`h${i}.example`, 80)
  t.equal(calls(), MAX_ENTRIES + 10)
  d.check('h0.example', 80)
  t.equal(calls(), MAX_ENTRIES + 11, 'the first entries were dropped when the map was full')
  t.ok((d as unknown as { allowed: Map<string, number> }).allowed.size <= MAX_ENTRIES)
})
