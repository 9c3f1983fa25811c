/**
 * Error answers (status from the wire mapping, a body naming the code, the 407 challenge), node parser
 * errors mapped to our codes, and the special-use names the dialer answers without DNS.
 */
import t from 'tap'
import { ViaductError, CoreErrors } from '../../src/core/errors.js'
import { ForwardErrors } from '../../modes/forward/errors.js'
import { HttpErrors } from '../../modes/forward/http/errors.js'
import { asViaductError, errorBody, errorHeaders, statusOf } from '../../modes/forward/http/replies.js'
import { clientErrorToViaduct } from '../../modes/forward/http/proxy.js'
import { specialUseName } from '../../modes/forward/dial.js'

t.test('status and body come from the code', async (t) => {
  const e = new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_REFUSED, 'h:1: connection refused')
  t.equal(statusOf(e), 502)
  t.equal(errorBody(e), '502 Bad Gateway\nVIADUCT_ERR_TARGET_REFUSED: h:1: connection refused\n')
  t.equal(statusOf(new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_TIMEOUT)), 504)
  t.equal(statusOf(new ViaductError(HttpErrors.VIADUCT_ERR_HTTP_HEADERS_TOO_LARGE)), 431)
  t.equal(statusOf(new ViaductError(ForwardErrors.VIADUCT_ERR_ACCESS_LOOP)), 508)
  t.equal(asViaductError(new Error('boom')).code, 'VIADUCT_ERR_TARGET_FAILED', 'a stray error becomes TARGET_FAILED')
})

t.test('headers: 407 challenge with realm, 503 Retry-After, no header injection from the realm', async (t) => {
  const auth = new ViaductError(ForwardErrors.VIADUCT_ERR_AUTH_REQUIRED)
  const h = errorHeaders(auth, errorBody(auth), { realm: 'corp "proxy"\r\nX: y' })
  const i = h.indexOf('Proxy-Authenticate')
  t.ok(i >= 0)
  t.equal(h[i + 1], 'Basic realm="corp proxyX: y", charset="UTF-8"')
  t.equal(h[h.indexOf('X-Viaduct-Error') + 1], 'VIADUCT_ERR_AUTH_REQUIRED')
  const lim = new ViaductError(CoreErrors.VIADUCT_ERR_SESSION_LIMIT)
  const hl = errorHeaders(lim, errorBody(lim), { realm: 'r', close: true })
  t.equal(hl[hl.indexOf('Retry-After') + 1], '1')
  t.equal(hl[hl.indexOf('Connection') + 1], 'close')
  t.equal(hl[hl.indexOf('Content-Length') + 1], String(Buffer.byteLength(errorBody(lim))))
})

t.test('node parser errors map to our codes', async (t) => {
  t.equal(clientErrorToViaduct(Object.assign(new Error('x'), { code: 'HPE_HEADER_OVERFLOW' })).code, HttpErrors.VIADUCT_ERR_HTTP_HEADERS_TOO_LARGE)
  t.equal(clientErrorToViaduct(Object.assign(new Error('x'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' })).code, HttpErrors.VIADUCT_ERR_HTTP_HEADER_TIMEOUT)
  const m = clientErrorToViaduct(Object.assign(new Error('x'), { code: 'HPE_INVALID_METHOD', reason: 'Invalid method encountered' }))
  t.equal(m.code, HttpErrors.VIADUCT_ERR_HTTP_MALFORMED)
  t.match(m.message, /HPE_INVALID_METHOD: Invalid method/)
})

t.test('special-use names (RFC 6761, RFC 7686) never reach DNS', async (t) => {
  for (const n of ['invalid', 'x.invalid', 'A.B.INVALID.', 'foo.onion']) t.throws(() => specialUseName(n), { code: 'ENOTFOUND' }, n)
  t.same(specialUseName('localhost'), ['127.0.0.1', '::1'])
  t.same(specialUseName('app.localhost'), ['127.0.0.1', '::1'])
  t.equal(specialUseName('example.com'), null)
  t.equal(specialUseName('invalid.example.com'), null, 'only the TLD counts')
})
