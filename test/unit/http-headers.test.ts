/**
 * Header rules: hop-by-hop removal (RFC 9110 §7.6.1), Via, X-Forwarded-For, Max-Forwards, raw head
 * serialization; fast-check properties over random header lists.
 */
import t from 'tap'
import fc from 'fast-check'
import {
  HOP_BY_HOP,
  applyForwardedFor,
  connectionOptions,
  hostFieldProblem,
  maxForwards,
  serializeHead,
  stripHopByHop,
  traceBody,
  viaPseudonym,
  viaValue,
} from '../../modes/forward/http/headers.js'

t.test('stripHopByHop removes the fixed list, Connection options, Host and Content-Length', async (t) => {
  const raw = [
    'Host', 'a', 'Connection', 'keep-alive, X-Foo', 'x-foo', '1', 'X-Bar', '2', 'Proxy-Connection', 'keep-alive', 'Keep-Alive', '5',
    'TE', 'trailers', 'Trailer', 'X', 'Transfer-Encoding', 'chunked', 'Upgrade', 'h2c', 'Proxy-Authorization', 'Basic x',
    'Proxy-Authenticate', 'Basic', 'Content-Length', '3', 'X-Bar', '3',
  ]
  t.same(stripHopByHop(raw), ['X-Bar', '2', 'X-Bar', '3'], 'order and repeats of the rest kept')
  t.same(stripHopByHop(['A', '1', 'B', '2'], { drop: ['b'] }), ['A', '1'])
  t.same([...connectionOptions(['connection', ' Close ,  Foo,,', 'Proxy-Connection', 'bar'])], ['close', 'foo', 'bar'])
})

t.test('Via, X-Forwarded-For, Max-Forwards', async (t) => {
  t.equal(viaValue('1.1', 'viaduct'), '1.1 viaduct')
  t.equal(viaPseudonym(true), 'viaduct')
  t.equal(viaPseudonym(false), null)
  t.equal(viaPseudonym('edge-1\r\nX-Evil: 1'), 'edge-1X-Evil1', 'config cannot inject header syntax')
  t.same(applyForwardedFor(['A', '1', 'X-Forwarded-For', '10.0.0.1'], 'off', '127.0.0.1'), ['A', '1'])
  t.same(applyForwardedFor(['X-Forwarded-For', '10.0.0.1', 'x-forwarded-for', '10.0.0.2'], 'add', '127.0.0.1'), ['X-Forwarded-For', '10.0.0.1, 10.0.0.2, 127.0.0.1'])
  t.same(applyForwardedFor(['X-Forwarded-For', '10.0.0.1'], 'replace', '::1'), ['X-Forwarded-For', '::1'])
  t.equal(maxForwards('TRACE', ['Max-Forwards', '0']), 'answer')
  t.equal(maxForwards('OPTIONS', ['max-forwards', '5']), 4)
  t.equal(maxForwards('OPTIONS', ['max-forwards', '99999']), 255, 'capped')
  t.equal(maxForwards('GET', ['Max-Forwards', '0']), null, 'only TRACE and OPTIONS')
  t.equal(maxForwards('TRACE', ['Max-Forwards', 'x']), null, 'not a number: ignored')
  t.equal(maxForwards('TRACE', ['Max-Forwards', '1', 'Max-Forwards', '2']), null, 'repeated: ignored')
  t.equal(maxForwards('TRACE', []), null)
})

t.test('Host field rules (RFC 9112 §3.2)', async (t) => {
  t.equal(hostFieldProblem(['Host', 'a'], '1.1'), null)
  t.match(hostFieldProblem(['Host', 'a', 'host', 'b'], '1.1'), /more than one/)
  t.match(hostFieldProblem([], '1.1'), /without a Host/)
  t.equal(hostFieldProblem([], '1.0'), null)
})

t.test('serializeHead and traceBody never let CR/LF through', async (t) => {
  t.equal(serializeHead(200, 'OK', ['A', 'b\r\nX: y']), 'HTTP/1.1 200 OK\r\nA: b  X: y\r\n\r\n')
  const tb = traceBody('TRACE', 'http://h/', '1.1', ['Cookie', 's', 'Authorization', 'x', 'X', '1'])
  t.equal(tb, 'TRACE http://h/ HTTP/1.1\r\nX: 1\r\n\r\n')
})

const token = fc.stringMatching(/^[A-Za-z0-9-]{1,12}$/)
const anyName = fc.oneof(token, fc.constantFrom(...HOP_BY_HOP, 'Host', 'Content-Length', 'CONNECTION', 'Keep-ALIVE'))
const value = fc.stringMatching(/^[ -~]{0,20}$/)
const headers = fc.array(fc.tuple(anyName, value), { maxLength: 20 }).map((pairs) => pairs.flat())

t.test('property: nothing hop-by-hop or Connection-named survives; every other field survives in order', async () => {
  fc.assert(
    fc.property(headers, (raw) => {
      const out = stripHopByHop(raw)
      const named = connectionOptions(raw)
      const kept: string[] = []
      for (let i = 0; i < raw.length; i += 2) {
        const n = raw[i].toLowerCase()
        if (!HOP_BY_HOP.has(n) && !named.has(n) && n !== 'host' && n !== 'content-length') kept.push(raw[i], raw[i + 1])
      }
      if (out.length !== kept.length || out.some((x, i) => x !== kept[i])) return false
      for (let i = 0; i < out.length; i += 2) if (HOP_BY_HOP.has(out[i].toLowerCase())) return false
      return true
    }),
    { numRuns: 2000 },
  )
})

t.test('property: stripping is idempotent', async () => {
  fc.assert(fc.property(headers, (raw) => {
    const once = stripHopByHop(raw)
    const twice = stripHopByHop(once)
    return once.length === twice.length && once.every((x, i) => x === twice[i])
  }), { numRuns: 1000 })
})
