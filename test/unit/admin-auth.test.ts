/** The admin server's request checks: tokens, Host headers, cookies; hostile input never throws. */
import t from 'tap'
import fc from 'fast-check'
import type { IncomingMessage } from 'node:http'
import { hostOfHeader, loopbackHostHeader, presentedToken, tokenCookie, tokenMatches, TOKEN_COOKIE } from '../../src/admin/auth.js'

function req(headers: Record<string, string>): IncomingMessage {
  return { headers } as unknown as IncomingMessage
}

const TOKEN = 'tok-0123456789abcdef'

t.test('token comparison', async (t) => {
  t.ok(tokenMatches(TOKEN, TOKEN))
  t.notOk(tokenMatches(`${TOKEN}x`, TOKEN))
  t.notOk(tokenMatches('', TOKEN))
  t.notOk(tokenMatches(undefined, TOKEN))
})

t.test('where a token comes from', async (t) => {
  const u = (q = '') => new URL(`http://x/api${q}`)
  t.equal(presentedToken(req({ authorization: `Bearer ${TOKEN}` }), u()), TOKEN)
  t.equal(presentedToken(req({ authorization: `bearer   ${TOKEN}  ` }), u()), TOKEN, 'scheme is case-insensitive')
  t.equal(presentedToken(req({ authorization: `Basic ${TOKEN}` }), u(`?token=${TOKEN}`)), undefined, 'a non-Bearer header presents nothing, even with ?token=')
  t.equal(presentedToken(req({}), u(`?token=${TOKEN}`)), TOKEN)
  t.equal(presentedToken(req({ cookie: `a=1; ${TOKEN_COOKIE}=${TOKEN}; b=2` }), u()), TOKEN)
  t.equal(presentedToken(req({ cookie: `${TOKEN_COOKIE}=%E0%A4%A` }), u()), undefined, 'a malformed cookie presents nothing')
  t.equal(presentedToken(req({}), u()), undefined)
  t.equal(tokenCookie('a b'), `${TOKEN_COOKIE}=a%20b; Path=/; HttpOnly; SameSite=Strict`)
})

t.test('Host headers', async (t) => {
  t.equal(hostOfHeader('127.0.0.1:8081'), '127.0.0.1')
  t.equal(hostOfHeader('[::1]:8081'), '::1')
  t.equal(hostOfHeader('[::1]'), '::1')
  t.equal(hostOfHeader('LocalHost'), 'localhost')
  t.equal(hostOfHeader('::1'), '::1', 'a bare IPv6 literal stays whole')
  for (const h of ['127.0.0.1:1', '127.9.9.9', 'localhost:80', 'a.localhost', '[::1]:1', '', undefined]) t.ok(loopbackHostHeader(h), `${h} is loopback`)
  for (const h of ['example.com', '10.0.0.1:80', '[2001:db8::1]:80', 'localhost.example.com', '127.0.0.1.nip.io']) t.notOk(loopbackHostHeader(h), `${h} is not`)
})

t.test('property: random headers never throw', async () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 80 }), fc.string({ maxLength: 80 }), fc.string({ maxLength: 80 }), (auth, cookie, host) => {
      const p = presentedToken(req({ authorization: auth, cookie }), new URL('http://x/'))
      tokenMatches(p, TOKEN)
      loopbackHostHeader(host)
      hostOfHeader(host)
      return true
    }),
    { numRuns: 1000 },
  )
})
