/**
 * forwardRequestFields (the one-pass request header builder on the hot path) gives exactly what the
 * composed rules give: Host first, stripHopByHop, Max-Forwards dropped on demand, then applyForwardedFor.
 */
import t from 'tap'
import fc from 'fast-check'
import { applyForwardedFor, forwardRequestFields, stripHopByHop, type ForwardedForMode } from '../../modes/forward/http/headers.js'

const names = fc.constantFrom(
  'Host', 'host', 'Connection', 'connection', 'Proxy-Connection', 'Keep-Alive', 'TE', 'Trailer', 'Transfer-Encoding', 'Upgrade',
  'Proxy-Authorization', 'Content-Length', 'X-Forwarded-For', 'x-forwarded-for', 'Max-Forwards', 'Accept', 'X-Custom', 'x-custom', 'Cookie',
)
const values = fc.oneof(fc.constantFrom('', ' ', 'x-custom', 'X-Custom, accept', 'close', '10.0.0.1', ' 10.0.0.2 , 10.0.0.3', 'max-forwards', 'x-forwarded-for'), fc.string({ maxLength: 12 }))
const raw = fc.array(fc.tuple(names, values), { maxLength: 12 }).map((pairs) => pairs.flat())
const modes = fc.constantFrom<ForwardedForMode>('off', 'add', 'replace')

function composed(r: string[], host: string, dropMf: boolean, mode: ForwardedForMode, ip: string): string[] {
  return applyForwardedFor(['Host', host, ...stripHopByHop(r, dropMf ? { drop: ['max-forwards'] } : {})], mode, ip)
}

t.test('equals the composed rules on random header lists', async (t) => {
  fc.assert(
    fc.property(raw, fc.boolean(), modes, fc.constantFrom('127.0.0.1', '::1'), (r, dropMf, mode, ip) => {
      t.same(forwardRequestFields(r, 'example.test:8080', dropMf, mode, ip), composed(r, 'example.test:8080', dropMf, mode, ip))
    }),
    { numRuns: 500 },
  )
})

t.test('examples', async (t) => {
  const r = ['Host', 'evil', 'Connection', 'X-Custom', 'X-Custom', 'drop me', 'Accept', '*/*', 'X-Forwarded-For', '10.0.0.1', 'Max-Forwards', '3']
  t.same(forwardRequestFields(r, 'a.test', true, 'add', '127.0.0.1'), ['Host', 'a.test', 'Accept', '*/*', 'X-Forwarded-For', '10.0.0.1, 127.0.0.1'])
  t.same(forwardRequestFields(r, 'a.test', false, 'off', '127.0.0.1'), ['Host', 'a.test', 'Accept', '*/*', 'Max-Forwards', '3'])
  t.same(forwardRequestFields(r, 'a.test', false, 'replace', '127.0.0.1'), ['Host', 'a.test', 'Accept', '*/*', 'Max-Forwards', '3', 'X-Forwarded-For', '127.0.0.1'])
})
