/**
 * The SOCKS handshake codec: golden vectors from the RFCs, bad input, and fast-check properties
 * (any split of a valid message gives the same result; random bytes give a value, null or a ViaductError).
 */
import t from 'tap'
import fc from 'fast-check'
import { ViaductError } from '../../src/core/errors.js'
import {
  decodeAddress,
  decodeGreeting,
  decodeSocks4Request,
  decodeSocks5Request,
  decodeUserPass,
  encodeAddress,
  encodeAuthReply,
  encodeMethodReply,
  encodeSocks4Reply,
  encodeSocks5Reply,
  sniffVersion,
  type Decoded,
} from '../../modes/forward/socks/codec.js'
import { decodeUdpDatagram, encodeUdpDatagram } from '../../modes/forward/socks/udp-codec.js'
import { sniffMixed } from '../../modes/forward/mixed.js'

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex')

t.test('golden vectors', async (t) => {
  t.same(decodeGreeting(hex('05 02 00 02')), { value: { methods: [0, 2] }, bytesRead: 4 })
  t.same(decodeUserPass(hex('01 05 616c696365 03 707721')), { value: { user: 'alice', password: 'pw!' }, bytesRead: 11 })
  t.same(decodeSocks5Request(hex('05 01 00 01 7f000001 0050')), { value: { command: 1, atyp: 1, host: '127.0.0.1', port: 80 }, bytesRead: 10 })
  t.same(decodeSocks5Request(hex('05 01 00 03 0b 6578616d706c652e636f6d 01bb')), { value: { command: 1, atyp: 3, host: 'example.com', port: 443 }, bytesRead: 18 })
  t.same(decodeSocks5Request(hex('05 01 00 04 00000000000000000000000000000001 1f90')), { value: { command: 1, atyp: 4, host: '::1', port: 8080 }, bytesRead: 22 })
  t.same(decodeSocks5Request(hex('05 01 00 04 20010db8000000000000000000000001 0016'))?.value.host, '2001:db8::1')
  // SOCKS4: "VN=4 CD=1 DSTPORT DSTIP USERID NULL"
  t.same(decodeSocks4Request(hex('04 01 0050 7f000001 626f62 00')), { value: { command: 1, port: 80, host: '127.0.0.1', socks4a: false, userId: 'bob' }, bytesRead: 12 })
  // SOCKS4A: DSTIP 0.0.0.x, then the name after USERID's NUL
  t.same(decodeSocks4Request(hex('04 01 0050 00000001 00 6c6f63616c686f7374 00')), {
    value: { command: 1, port: 80, host: 'localhost', socks4a: true, userId: '' },
    bytesRead: 19,
  })
  t.same([...encodeMethodReply(0xff)], [5, 0xff])
  t.same([...encodeAuthReply(false)], [1, 1])
  t.same(encodeSocks5Reply(0, '127.0.0.1', 1080), hex('05 00 00 01 7f000001 0438'))
  t.same(encodeSocks5Reply(5), hex('05 05 00 01 00000000 0000'))
  t.same(encodeSocks5Reply(0, '::1', 80), hex('05 00 00 04 00000000000000000000000000000001 0050'))
  t.same(encodeSocks4Reply(0x5a, 80, '10.0.0.1'), hex('00 5a 0050 0a000001'))
  t.same(encodeAddress('example.com', 443), hex('03 0b 6578616d706c652e636f6d 01bb'))
  t.same(encodeAddress('[fe80::1:2]', 1), hex('04 fe800000000000000000000000010002 0001'))
  t.equal(sniffVersion(Buffer.alloc(0)), null)
  t.equal(sniffVersion(hex('05')), 5)
  t.equal(sniffVersion(hex('04')), 4)
  t.equal(sniffMixed(0x05), 'socks')
  t.equal(sniffMixed(0x04), 'socks')
  t.equal(sniffMixed('G'.charCodeAt(0)), 'http')
  t.equal(sniffMixed('C'.charCodeAt(0)), 'http')
})

t.test('bad input throws the right codes', async (t) => {
  const code = (fn: () => unknown) => {
    try {
      fn()
      return 'no error'
    } catch (e) {
      return e instanceof ViaductError ? e.code : `not a ViaductError: ${e}`
    }
  }
  t.equal(code(() => sniffVersion(hex('47'))), 'VIADUCT_ERR_SOCKS_VERSION')
  t.equal(code(() => decodeGreeting(hex('04 01 00'))), 'VIADUCT_ERR_SOCKS_VERSION')
  t.equal(code(() => decodeGreeting(hex('05 00'))), 'VIADUCT_ERR_SOCKS_MALFORMED')
  t.equal(code(() => decodeUserPass(hex('02 01 41 01 41'))), 'VIADUCT_ERR_SOCKS_MALFORMED')
  t.equal(code(() => decodeUserPass(hex('01 00 00'))), 'VIADUCT_ERR_SOCKS_MALFORMED')
  t.equal(code(() => decodeSocks5Request(hex('05 01 00 02 00'))), 'VIADUCT_ERR_SOCKS_ADDRESS_TYPE')
  t.equal(code(() => decodeSocks5Request(hex('05 01 00 03 00 0050'))), 'VIADUCT_ERR_SOCKS_MALFORMED')
  t.equal(code(() => decodeSocks5Request(hex('05 01 00 03 03 610062 0050'))), 'VIADUCT_ERR_SOCKS_MALFORMED', 'NUL inside a name')
  t.equal(code(() => decodeSocks5Request(hex('04 01 00 01'))), 'VIADUCT_ERR_SOCKS_VERSION')
  t.equal(code(() => decodeSocks4Request(Buffer.concat([hex('04 01 0050 7f000001'), Buffer.alloc(256, 0x41)]))), 'VIADUCT_ERR_SOCKS_MALFORMED', 'USERID too long')
  t.equal(code(() => decodeSocks4Request(Buffer.concat([hex('04 01 0050 00000001 00'), Buffer.alloc(256, 0x61)]))), 'VIADUCT_ERR_SOCKS_MALFORMED', '4A name too long')
  t.equal(code(() => decodeSocks4Request(hex('04 01 0050 00000001 00 00'))), 'VIADUCT_ERR_SOCKS_MALFORMED', '4A empty name')
  t.equal(code(() => decodeUdpDatagram(hex('0000'))), 'VIADUCT_ERR_SOCKS_MALFORMED')
  t.equal(code(() => decodeUdpDatagram(hex('0000 00 01 7f00'))), 'VIADUCT_ERR_SOCKS_MALFORMED')
  t.equal(code(() => decodeUdpDatagram(hex('0000 00 09 7f000001 0050'))), 'VIADUCT_ERR_SOCKS_ADDRESS_TYPE')
  // truncated input is "need more", never an error
  t.equal(decodeSocks5Request(hex('05 01 00 03 0b 6578')), null)
  t.equal(decodeSocks4Request(hex('04 01 0050 7f000001 6262')), null)
  t.equal(decodeGreeting(hex('05 03 00')), null)
  t.equal(decodeAddress(hex('01 7f000001 00'), 0), null)
})

/** Feed `bytes` in pieces as a session would (appending), return the first non-null result or the error. */
function feed<T>(decode: (b: Buffer) => Decoded<T> | null, bytes: Buffer, cuts: number[]): unknown {
  let buf = Buffer.alloc(0)
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  let at = 0
  for (const p of [...points, bytes.length]) {
    buf = Buffer.concat([buf, bytes.subarray(at, p)])
    at = p
    try {
      const r = decode(buf)
      if (r) return r
    } catch (e) {
      return (e as ViaductError).code
    }
  }
  return null
}

const hostArb = fc.oneof(
  fc.ipV4(),
  fc.ipV6(),
  fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}\.){0,3}[a-z]{2,6}$/),
)
const portArb = fc.integer({ min: 0, max: 65535 })

t.test('property: round trip of requests and any split gives the same result', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 3 }), hostArb, portArb, fc.array(fc.nat(), { maxLength: 8 }), (cmd, host, port, cuts) => {
      const bytes = Buffer.concat([Buffer.from([5, cmd, 0]), encodeAddress(host, port)])
      const whole = decodeSocks5Request(bytes)
      if (!whole) return false
      const again = encodeAddress(whole.value.host, whole.value.port)
      if (!again.equals(bytes.subarray(3))) return false
      return JSON.stringify(feed(decodeSocks5Request, bytes, cuts)) === JSON.stringify(whole)
    }),
    { numRuns: 500 },
  )
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 40 }).map((u) => Buffer.from(u.map((c) => 0x61 + (c % 26)))),
      fc.uint8Array({ minLength: 0, maxLength: 40 }).map((u) => Buffer.from(u.map((c) => 0x21 + (c % 90)))),
      fc.array(fc.nat(), { maxLength: 8 }),
      (user, pass, cuts) => {
        const bytes = Buffer.concat([Buffer.from([1, user.length]), user, Buffer.from([pass.length]), pass])
        const whole = decodeUserPass(bytes)
        return whole !== null && whole.value.user === user.toString() && JSON.stringify(feed(decodeUserPass, bytes, cuts)) === JSON.stringify(whole)
      },
    ),
    { numRuns: 300 },
  )
  fc.assert(
    fc.property(fc.boolean(), portArb, fc.ipV4(), fc.stringMatching(/^[a-z]{0,30}$/), fc.array(fc.nat(), { maxLength: 8 }), (a, port, ip, user, cuts) => {
      const fixed = Buffer.alloc(8)
      fixed[0] = 4
      fixed[1] = 1
      fixed.writeUInt16BE(port, 2)
      const addr = a ? [0, 0, 0, 7] : ip.split('.').map(Number)
      addr.forEach((x, i) => (fixed[4 + i] = x))
      const bytes = Buffer.concat([fixed, Buffer.from(user), Buffer.from([0]), a ? Buffer.from('example.org\0') : Buffer.alloc(0)])
      const whole = decodeSocks4Request(bytes)
      if (!whole || whole.bytesRead !== bytes.length) return false
      return JSON.stringify(feed(decodeSocks4Request, bytes, cuts)) === JSON.stringify(whole)
    }),
    { numRuns: 300 },
  )
})

t.test('property: random bytes give a value, null, or a ViaductError, and splits agree', async (t) => {
  const decoders: Array<[string, (b: Buffer) => Decoded<unknown> | null]> = [
    ['greeting', decodeGreeting],
    ['userpass', decodeUserPass],
    ['socks5 request', decodeSocks5Request],
    ['socks4 request', decodeSocks4Request],
  ]
  for (const [name, decode] of decoders) {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.array(fc.nat(), { maxLength: 6 }), (u, cuts) => {
        const bytes = Buffer.from(u)
        let whole: unknown
        try {
          whole = decode(bytes)
        } catch (e) {
          if (!(e instanceof ViaductError)) return false
          whole = e.code
        }
        const split = feed(decode, bytes, cuts)
        // a split may stop earlier at a complete prefix message only if the whole input decodes the same
        return JSON.stringify(split) === JSON.stringify(whole)
      }),
      { numRuns: 400 },
    )
    t.pass(`${name}: random bytes handled`)
  }
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (u) => {
      try {
        const d = decodeUdpDatagram(Buffer.from(u))
        return d.bytesRead === u.length
      } catch (e) {
        return e instanceof ViaductError
      }
    }),
    { numRuns: 500 },
  )
})

t.test('UDP header round trip', async (t) => {
  fc.assert(
    fc.property(hostArb, portArb, fc.uint8Array({ maxLength: 100 }), (host, port, data) => {
      const d = decodeUdpDatagram(encodeUdpDatagram(host, port, data)).value
      return d.frag === 0 && d.port === port && Buffer.from(data).equals(d.data) && encodeAddress(d.host, d.port).equals(encodeAddress(host, port))
    }),
    { numRuns: 300 },
  )
  const d = decodeUdpDatagram(hex('0000 02 01 7f000001 0035 aabb')).value
  t.equal(d.frag, 2)
  t.same([...d.data], [0xaa, 0xbb])
})
