/**
 * The request-target parser: golden cases, bad input, and fast-check properties (a value or a ViaductError,
 * nothing else; a normalized URL parses to itself; the host never escapes the authority).
 */
import t from 'tap'
import fc from 'fast-check'
import { ViaductError } from '../../src/core/errors.js'
import { parseAbsoluteUrl, parseAuthority, parseRequestTarget } from '../../modes/forward/http/target.js'

t.test('absolute form', async (t) => {
  const a = parseAbsoluteUrl('HTTP://Example.COM/a/b?c=d')
  t.same(a, { scheme: 'http', host: 'example.com', port: 80, path: '/a/b?c=d', hostHeader: 'example.com', url: 'http://example.com/a/b?c=d' })
  t.equal(parseAbsoluteUrl('http://example.com').path, '/', 'empty path becomes "/" (RFC 9112 §3.2.1)')
  t.equal(parseAbsoluteUrl('http://example.com?q').path, '/?q')
  t.same(parseAbsoluteUrl('http://[::1]:8080/x'), { scheme: 'http', host: '::1', port: 8080, path: '/x', hostHeader: '[::1]:8080', url: 'http://[::1]:8080/x' })
  t.equal(parseAbsoluteUrl('http://10.0.0.1:80/').hostHeader, '10.0.0.1', 'default port omitted from Host')
  t.equal(parseAbsoluteUrl('ws://h.test:81/s').scheme, 'ws')
})

t.test('authority form for CONNECT', async (t) => {
  t.same(parseRequestTarget('CONNECT', 'example.com:443'), { form: 'authority', target: { host: 'example.com', port: 443, authority: 'example.com:443' } })
  t.same(parseRequestTarget('CONNECT', '[2001:db8::1]:443'), { form: 'authority', target: { host: '2001:db8::1', port: 443, authority: '[2001:db8::1]:443' } })
  for (const bad of ['example.com', 'example.com:', ':443', 'example.com:0', 'example.com:65536', 'a b:1', '[::1:443', '[zz]:1', 'user@h:1', 'h:1:2', 'http://h:1']) {
    t.throws(() => parseRequestTarget('CONNECT', bad), { code: 'VIADUCT_ERR_HTTP_MALFORMED' }, `CONNECT ${bad}`)
  }
})

t.test('origin and asterisk forms', async (t) => {
  t.same(parseRequestTarget('GET', '/x?y'), { form: 'origin', path: '/x?y' })
  t.same(parseRequestTarget('OPTIONS', '*'), { form: 'asterisk' })
  t.throws(() => parseRequestTarget('GET', '*'), { code: 'VIADUCT_ERR_HTTP_MALFORMED' })
})

t.test('refused targets', async (t) => {
  const malformed = [
    'http://user:pw@example.com/',
    'http://example.com/#frag',
    'http://exa%6dple.com/',
    'http://exa\\mple.com/',
    'http://example..com/',
    'http://-/',
    'http://' + 'a'.repeat(64) + '.com/',
    'http:///path',
    'http://example.com:99999/',
    'http://1.2.3/',
    'http://999.1.1.1/',
    'http:example.com/',
    'example.com/',
    'http://example.com /',
    'http://[::1/',
    'http://[1.2.3.4]/',
    '',
  ]
  for (const m of malformed) t.throws(() => parseRequestTarget('GET', m), { code: 'VIADUCT_ERR_HTTP_MALFORMED' }, JSON.stringify(m))
  for (const s of ['https://example.com/', 'ftp://example.com/', 'gopher://h/']) t.throws(() => parseRequestTarget('GET', s), { code: 'VIADUCT_ERR_HTTP_SCHEME' }, s)
  t.throws(() => parseRequestTarget('GET', 'http://h/' + 'a'.repeat(70_000)), { code: 'VIADUCT_ERR_HTTP_MALFORMED' }, 'oversized')
})

t.test('property: any string gives a value or a ViaductError', async () => {
  fc.assert(
    fc.property(fc.constantFrom('GET', 'CONNECT', 'OPTIONS'), fc.string({ maxLength: 300 }), (method, s) => {
      try {
        parseRequestTarget(method, s)
      } catch (e) {
        if (!(e instanceof ViaductError)) throw e
      }
    }),
    { numRuns: 3000 },
  )
})

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/)
const hostName = fc.array(label, { minLength: 1, maxLength: 4 }).map((ls) => [...ls, 'test'].join('.'))
const pathPart = fc.stringMatching(/^(\/[A-Za-z0-9._~!$&'()*+,;=:@%-]{0,12}){0,4}(\?[A-Za-z0-9=&%]{0,12})?$/)

t.test('property: a normalized URL parses to itself, and host/port/path round-trip', async () => {
  fc.assert(
    fc.property(hostName, fc.integer({ min: 1, max: 65535 }), pathPart, (host, port, path) => {
      const a = parseAbsoluteUrl(`http://${host}:${port}${path}`)
      const again = parseAbsoluteUrl(a.url)
      return a.host === host && a.port === port && again.url === a.url && a.path.startsWith('/') && a.path.endsWith(path.replace(/^$/, '/').replace(/^\?/, '/?'))
    }),
    { numRuns: 1000 },
  )
})

t.test('property: the host is never taken from beyond the authority', async () => {
  // whatever follows the authority (path, query, tricks), the parsed host is the authority's host
  fc.assert(
    fc.property(hostName, fc.string({ maxLength: 40 }), (host, tail) => {
      try {
        const a = parseAbsoluteUrl(`http://${host}/${tail}`)
        return a.host === host
      } catch (e) {
        return e instanceof ViaductError
      }
    }),
    { numRuns: 2000 },
  )
})

t.test('parseAuthority', async (t) => {
  t.same(parseAuthority('h.test', false), { host: 'h.test', port: 80 })
  t.same(parseAuthority('h.test.', false), { host: 'h.test.', port: 80 }, 'one trailing dot allowed')
  t.equal(parseAuthority('h.test', true), null)
  t.same(parseAuthority('H.TEST:0080', true), { host: 'h.test', port: 80 })
})
