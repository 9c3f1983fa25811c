/** The PAC file generator: evaluated the way a browser does, with PAC's helper functions. */
import t from 'tap'
import fc from 'fast-check'
import { runInNewContext } from 'node:vm'
import { buildPac, cidrToNetMask, proxyString, type PacInput } from '../../src/admin/pac.js'

function ipNum(s: string): number {
  return s.split('.').reduce((a, x) => a * 256 + Number(x), 0)
}

/** A browser's PAC environment (the functions our file uses), in a fresh context. */
function load(input: PacInput): (url: string, host: string) => string {
  const sandbox: Record<string, unknown> = {
    isPlainHostName: (h: string) => !h.includes('.'),
    dnsDomainIs: (h: string, d: string) => h.endsWith(d),
    isInNet: (h: string, net: string, mask: string) => ((ipNum(h) & ipNum(mask)) >>> 0) === ((ipNum(net) & ipNum(mask)) >>> 0),
    dnsResolve: () => {
      throw new Error('the PAC file must not resolve names')
    },
  }
  runInNewContext(buildPac(input), sandbox)
  const f = sandbox.FindProxyForURL as (u: string, h: string) => string
  return (url, host) => f(url, host)
}

const HTTP = { host: '127.0.0.1', port: 8080 }
const SOCKS = { host: '127.0.0.1', port: 1080 }

t.test('proxy string: HTTP first, then SOCKS5 and SOCKS; DIRECT when nothing listens', async (t) => {
  t.equal(proxyString({ http: HTTP, socks: SOCKS }), 'PROXY 127.0.0.1:8080; SOCKS5 127.0.0.1:1080; SOCKS 127.0.0.1:1080')
  t.equal(proxyString({ http: HTTP }), 'PROXY 127.0.0.1:8080')
  t.equal(proxyString({ socks: { host: '::1', port: 1080 } }), 'SOCKS5 [::1]:1080; SOCKS [::1]:1080')
  t.equal(proxyString({}), 'DIRECT')
  t.equal(load({})('http://example.com/', 'example.com'), 'DIRECT')
})

t.test('routing decisions follow the access rules', async (t) => {
  const find = load({ http: HTTP, socks: SOCKS, denyHosts: ['ads.example', '*.tracker.example', '203.0.113.0/24'], allowPrivate: ['10.1.0.0/16'] })
  const P = proxyString({ http: HTTP, socks: SOCKS })
  t.equal(find('http://example.com/', 'example.com'), P)
  t.equal(find('https://EXAMPLE.org/', 'EXAMPLE.org'), P, 'case-insensitive')
  t.equal(find('http://ads.example/', 'ads.example'), 'DIRECT', 'denied host: the proxy would only refuse it')
  t.equal(find('http://a.tracker.example/', 'a.tracker.example'), 'DIRECT', 'denied subdomain')
  t.equal(find('http://tracker.example/', 'tracker.example'), P, '"*.x" does not cover the apex')
  t.equal(find('http://203.0.113.9/', '203.0.113.9'), 'DIRECT', 'denied CIDR')
  t.equal(find('http://intranet/', 'intranet'), 'DIRECT', 'plain host names go direct')
  t.equal(find('http://localhost:3000/', 'localhost'), 'DIRECT')
  t.equal(find('http://printer.local/', 'printer.local'), 'DIRECT')
  t.equal(find('http://192.168.1.1/', '192.168.1.1'), 'DIRECT', 'private range the proxy refuses')
  t.equal(find('http://127.0.0.1/', '127.0.0.1'), 'DIRECT', 'loopback the proxy refuses')
  t.equal(find('http://10.1.2.3/', '10.1.2.3'), P, 'private range allowed by allowPrivate')
  t.equal(find('http://10.2.0.1/', '10.2.0.1'), 'DIRECT')
  t.equal(find('http://[2001:db8::1]/', '[2001:db8::1]'), 'DIRECT', 'IPv6 literals go direct (PAC isInNet is IPv4 only)')
})

t.test('a non-empty allowHosts sends only those through the proxy', async (t) => {
  const find = load({ http: HTTP, allowHosts: ['.corp.example', 'api.example.com', '198.51.100.0/24'] })
  t.equal(find('http://corp.example/', 'corp.example'), 'PROXY 127.0.0.1:8080', '".x" covers the apex')
  t.equal(find('http://a.b.corp.example/', 'a.b.corp.example'), 'PROXY 127.0.0.1:8080')
  t.equal(find('http://api.example.com/', 'api.example.com'), 'PROXY 127.0.0.1:8080')
  t.equal(find('http://www.example.com/', 'www.example.com'), 'DIRECT')
  t.equal(find('http://198.51.100.7/', '198.51.100.7'), 'PROXY 127.0.0.1:8080')
  t.equal(find('http://198.51.101.7/', '198.51.101.7'), 'DIRECT')
})

t.test('CIDR to net/mask', async (t) => {
  t.same(cidrToNetMask('10.0.0.0/8'), ['10.0.0.0', '255.0.0.0'])
  t.same(cidrToNetMask('172.16.0.0/12'), ['172.16.0.0', '255.240.0.0'])
  t.same(cidrToNetMask('1.2.3.4'), ['1.2.3.4', '255.255.255.255'])
  t.same(cidrToNetMask('0.0.0.0/0'), ['0.0.0.0', '0.0.0.0'])
  t.equal(cidrToNetMask('::1/128'), null)
  t.equal(cidrToNetMask('10.0.0.0/33'), null)
  t.equal(cidrToNetMask('nonsense'), null)
})

t.test('hostile patterns cannot break out of the generated script', async (t) => {
  const evil = ['"; throw 1; "', '</script>', "'\\u2028'", '\u2028\u2029', '*.x"]});alert(1);//']
  const find = load({ http: HTTP, denyHosts: evil, allowHosts: [] })
  t.equal(find('http://example.com/', 'example.com'), 'PROXY 127.0.0.1:8080')
})

t.test('property: any host and any rule set gives DIRECT or the proxy string, never an exception', async () => {
  const host = fc.oneof(fc.domain(), fc.ipV4(), fc.string({ maxLength: 40 }))
  const rule = fc.oneof(fc.domain(), fc.domain().map((d) => `*.${d}`), fc.domain().map((d) => `.${d}`), fc.ipV4().map((ip) => `${ip}/${ip.length % 33}`), fc.string({ maxLength: 20 }))
  fc.assert(
    fc.property(host, fc.array(rule, { maxLength: 5 }), fc.array(rule, { maxLength: 5 }), (h, allow, deny) => {
      const find = load({ http: HTTP, socks: SOCKS, allowHosts: allow, denyHosts: deny })
      const r = find(`http://${h}/`, h)
      return r === 'DIRECT' || r === proxyString({ http: HTTP, socks: SOCKS })
    }),
    { numRuns: 300 },
  )
})
