/**
 * The STUN codec against the RFC 5769 test vectors and captured coturn client packets, plus fast-check
 * properties: encode/decode round trips, any split of a stream gives the same frames, random bytes give a
 * value or a ViaductError and nothing else.
 */
import t from 'tap'
import fc from 'fast-check'
import { readFileSync } from 'node:fs'
import { isViaductError } from '../../src/core/errors.js'
import {
  Attr,
  Class,
  Method,
  appendFingerprint,
  appendIntegrity,
  appendIntegritySha256,
  checkFingerprint,
  crc32,
  decodeErrorCode,
  decodeMessage,
  decodeType,
  decodeXorAddress,
  decodeUnknownAttributes,
  encode,
  encodeErrorCode,
  encodeMessage,
  encodeType,
  encodeUnknownAttributes,
  encodeXorAddress,
  bytesToIp,
  ipToBytes,
  getAttr,
  longTermKey,
  verifyIntegrity,
  type DecodedMessage,
} from '../../modes/relay/turn/stun/index.js'

function fixture(name: string): Buffer {
  const text = readFileSync(new URL(`../fixtures/stun/${name}`, import.meta.url), 'utf8')
  return Buffer.from(text.split('\n').filter((l) => !l.startsWith('#')).join('').replace(/\s+/g, ''), 'hex')
}

function decodeAll(b: Buffer): DecodedMessage {
  const r = decodeMessage(b)
  if (!r) throw new Error('need more bytes')
  if (r.bytesRead !== b.length) throw new Error('trailing bytes')
  return r.value
}

const SHORT_TERM = Buffer.from('VOkJxbRl1RmTxUk/WvJxBt', 'utf8')

t.test('RFC 5769 §2.1 sample request', async (t) => {
  const m = decodeAll(fixture('rfc5769-request.hex'))
  t.equal(m.method, Method.BINDING)
  t.equal(m.cls, Class.REQUEST)
  t.equal(m.transactionId.toString('hex'), 'b7e7a701bc34d686fa87dfae')
  t.equal(getAttr(m, Attr.SOFTWARE)?.value.toString(), 'STUN test client')
  t.equal(getAttr(m, Attr.USERNAME)?.value.toString(), 'evtj:h6vY')
  t.equal(getAttr(m, Attr.PRIORITY)?.value.readUInt32BE(0), 0x6e0001ff)
  t.equal(verifyIntegrity(m, SHORT_TERM), 'ok', 'MESSAGE-INTEGRITY with the short-term password')
  t.equal(verifyIntegrity(m, Buffer.from('wrong')), 'bad')
  t.ok(checkFingerprint(m), 'FINGERPRINT matches')
  // re-encoding the attributes before MESSAGE-INTEGRITY gives the same bytes (padding with spaces aside)
  const before = m.attributes.filter((a) => a.type !== Attr.MESSAGE_INTEGRITY && a.type !== Attr.FINGERPRINT)
  const again = encode({ method: m.method, cls: m.cls, transactionId: m.transactionId, attributes: before }, { key: SHORT_TERM, fingerprint: true })
  t.equal(again.length, m.raw.length)
  t.equal(verifyIntegrity(decodeAll(again), SHORT_TERM), 'ok')
})

t.test('RFC 5769 §2.2 and §2.3 responses: XOR-MAPPED-ADDRESS, integrity, fingerprint', async (t) => {
  const v4 = decodeAll(fixture('rfc5769-ipv4-response.hex'))
  t.equal(v4.cls, Class.SUCCESS)
  t.same(decodeXorAddress(getAttr(v4, Attr.XOR_MAPPED_ADDRESS)!.value, v4.transactionId), { family: 4, address: '192.0.2.1', port: 32853 })
  t.equal(verifyIntegrity(v4, SHORT_TERM), 'ok')
  t.ok(checkFingerprint(v4))
  const v6 = decodeAll(fixture('rfc5769-ipv6-response.hex'))
  t.same(decodeXorAddress(getAttr(v6, Attr.XOR_MAPPED_ADDRESS)!.value, v6.transactionId), { family: 6, address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 })
  t.equal(verifyIntegrity(v6, SHORT_TERM), 'ok')
  t.ok(checkFingerprint(v6))
  // and our encoder produces the vector's XOR-MAPPED-ADDRESS bytes
  t.same(encodeXorAddress({ family: 4, address: '192.0.2.1', port: 32853 }, v4.transactionId), getAttr(v4, Attr.XOR_MAPPED_ADDRESS)!.value)
  t.same(encodeXorAddress({ family: 6, address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 }, v6.transactionId), getAttr(v6, Attr.XOR_MAPPED_ADDRESS)!.value)
  // a flipped bit breaks the fingerprint
  const bad = Buffer.from(v4.raw)
  bad[30] ^= 1
  t.notOk(checkFingerprint(decodeAll(bad)))
})

t.test('RFC 5769 §2.4 long-term credentials: key = MD5(user:realm:pass)', async (t) => {
  const m = decodeAll(fixture('rfc5769-long-term.hex'))
  const user = getAttr(m, Attr.USERNAME)!.value.toString('utf8')
  t.equal(user, '\u30DE\u30C8\u30EA\u30C3\u30AF\u30B9')
  t.equal(getAttr(m, Attr.NONCE)!.value.toString(), 'f//499k954d6OL34oL9FSTvy64sA')
  t.equal(getAttr(m, Attr.REALM)!.value.toString(), 'example.org')
  // the password after SASLprep is "TheMatrIX"
  t.equal(verifyIntegrity(m, longTermKey(user, 'example.org', 'TheMatrIX')), 'ok')
  t.equal(verifyIntegrity(m, longTermKey(user, 'example.org', 'TheMatrix')), 'bad')
})

t.test('captured turnutils_uclient Allocate requests', async (t) => {
  const a = decodeAll(fixture('uclient-allocate.hex'))
  t.equal(a.method, Method.ALLOCATE)
  t.equal(a.cls, Class.REQUEST)
  t.equal(getAttr(a, Attr.REQUESTED_TRANSPORT)!.value[0], 17)
  t.equal(getAttr(a, Attr.LIFETIME)!.value.readUInt32BE(0), 777)
  t.ok(checkFingerprint(a))
  const b = decodeAll(fixture('uclient-allocate-even-port.hex'))
  t.equal(getAttr(b, Attr.EVEN_PORT)!.value[0] & 0x80, 0x80, 'EVEN-PORT with the R bit')
  t.ok(checkFingerprint(b))
})

t.test('captured Chromium requests', async (t) => {
  const a = decodeAll(fixture('chromium-allocate.hex'))
  t.equal(a.method, Method.ALLOCATE)
  t.same(a.attributes.map((x) => x.type), [Attr.REQUESTED_TRANSPORT], 'only REQUESTED-TRANSPORT (the 401 brings the rest)')
  t.equal(a.attributes[0].value[0], 17)
  const b = decodeAll(fixture('chromium-binding.hex'))
  t.equal(b.method, Method.BINDING)
  t.equal(b.attributes.length, 0)
})

t.test('message type interleaves method and class bits (RFC 8489 §5)', async (t) => {
  t.equal(encodeType(Method.BINDING, Class.REQUEST), 0x0001)
  t.equal(encodeType(Method.BINDING, Class.SUCCESS), 0x0101)
  t.equal(encodeType(Method.BINDING, Class.ERROR), 0x0111)
  t.equal(encodeType(Method.ALLOCATE, Class.REQUEST), 0x0003)
  t.equal(encodeType(Method.SEND, Class.INDICATION), 0x0016)
  t.equal(encodeType(Method.DATA, Class.INDICATION), 0x0017)
  t.equal(encodeType(Method.CHANNEL_BIND, Class.ERROR), 0x0119)
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xfff }), fc.integer({ min: 0, max: 3 }), (m, c) => {
      const d = decodeType(encodeType(m, c as 0))
      return d.method === m && d.cls === c
    }),
  )
})

t.test('bad input: truncated, wrong cookie, bad length, attribute overflow', async (t) => {
  const good = fixture('rfc5769-request.hex')
  for (let n = 0; n < good.length; n++) {
    const r = (() => {
      try {
        return decodeMessage(good.subarray(0, n))
      } catch (e) {
        return e
      }
    })()
    if (r !== null) t.fail(`a ${n}-byte prefix should need more bytes`)
  }
  t.pass('every prefix needs more bytes')
  const code = (b: Buffer) => {
    try {
      decodeMessage(b)
      return 'ok'
    } catch (e) {
      return isViaductError(e) ? e.code : 'other'
    }
  }
  const cookie = Buffer.from(good)
  cookie[4] = 0
  t.equal(code(cookie), 'VIADUCT_ERR_TURN_MALFORMED', 'no magic cookie')
  const top = Buffer.from(good)
  top[0] = 0x80
  t.equal(code(top), 'VIADUCT_ERR_TURN_MALFORMED', 'top bits set')
  const len = Buffer.from(good)
  len.writeUInt16BE(0x57, 2)
  t.equal(code(len), 'VIADUCT_ERR_TURN_MALFORMED', 'length not a multiple of 4')
  const over = Buffer.from(good)
  over.writeUInt16BE(0x0100, 22)
  t.equal(code(over), 'VIADUCT_ERR_TURN_MALFORMED', 'attribute runs past the message')
})

t.test('ERROR-CODE and UNKNOWN-ATTRIBUTES round trip', async (t) => {
  for (const code of [300, 400, 401, 403, 420, 437, 438, 440, 441, 442, 443, 486, 500, 508]) {
    t.same(decodeErrorCode(encodeErrorCode({ code, reason: `r${code}` })), { code, reason: `r${code}` })
  }
  t.throws(() => decodeErrorCode(Buffer.from([0, 0, 2, 0])), { code: 'VIADUCT_ERR_TURN_BAD_REQUEST' })
  t.same(decodeUnknownAttributes(encodeUnknownAttributes([0x1a, 0x7f00])), [0x1a, 0x7f00])
})

t.test('IP literals: bytes and back (RFC 5952 form)', async (t) => {
  t.equal(bytesToIp(ipToBytes('::ffff:127.0.0.1')!), '::ffff:7f00:1')
  t.equal(bytesToIp(ipToBytes('2001:db8::1')!), '2001:db8::1')
  t.equal(bytesToIp(ipToBytes('::')!), '::')
  t.equal(ipToBytes('1.2.3.256'), null)
  t.equal(ipToBytes('1::2::3'), null)
  t.equal(ipToBytes('hello'), null)
  fc.assert(
    fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (ip) => {
      const b = ipToBytes(ip)
      return b !== null && ipToBytes(bytesToIp(b))!.equals(b)
    }),
  )
})

const attribute = fc.record({ type: fc.integer({ min: 0, max: 0xffff }), value: fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u)) })
const message = fc.record({
  method: fc.integer({ min: 0, max: 0xfff }),
  cls: fc.constantFrom(0, 1, 2, 3) as fc.Arbitrary<0 | 1 | 2 | 3>,
  transactionId: fc.uint8Array({ minLength: 12, maxLength: 12 }).map((u) => Buffer.from(u)),
  attributes: fc.array(attribute, { maxLength: 8 }),
})

t.test('fast-check: encode then decode gives the message back', async (t) => {
  fc.assert(
    fc.property(message, (m) => {
      const d = decodeAll(encodeMessage(m))
      return (
        d.method === m.method &&
        d.cls === m.cls &&
        d.transactionId.equals(m.transactionId) &&
        d.attributes.length === m.attributes.length &&
        d.attributes.every((a, i) => a.type === m.attributes[i].type && a.value.equals(m.attributes[i].value))
      )
    }),
  )
  t.pass('round trips')
})

t.test('fast-check: integrity and fingerprint verify after any message, and fail with another key', async (t) => {
  fc.assert(
    fc.property(message, fc.uint8Array({ minLength: 1, maxLength: 32 }), (m, k) => {
      const key = Buffer.from(k)
      const withMi = decodeAll(appendFingerprint(appendIntegrity(encodeMessage({ ...m, attributes: m.attributes.filter((a) => a.type !== Attr.MESSAGE_INTEGRITY && a.type !== Attr.MESSAGE_INTEGRITY_SHA256 && a.type !== Attr.FINGERPRINT) }), key)))
      const other = Buffer.concat([key, Buffer.from([1])])
      return verifyIntegrity(withMi, key) === 'ok' && verifyIntegrity(withMi, other) === 'bad' && checkFingerprint(withMi)
    }),
  )
  const sha = decodeAll(appendIntegritySha256(encodeMessage({ method: 3, cls: 0, transactionId: Buffer.alloc(12, 7), attributes: [] }), Buffer.from('k')))
  t.equal(verifyIntegrity(sha, Buffer.from('k')), 'ok', 'MESSAGE-INTEGRITY-SHA256')
  t.equal(verifyIntegrity(sha, Buffer.from('j')), 'bad')
})

t.test('fast-check: random bytes give a message, null, or a ViaductError; nothing else', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (u) => {
      const b = Buffer.from(u)
      // make about half of them look like STUN so the attribute walk is exercised
      if (b.length >= 8 && u[0] % 2 === 0) {
        b[0] &= 0x3f
        b.writeUInt32BE(0x2112a442, 4)
      }
      try {
        const r = decodeMessage(b)
        if (r) {
          getAttr(r.value, Attr.XOR_MAPPED_ADDRESS)
          checkFingerprint(r.value)
          verifyIntegrity(r.value, Buffer.from('k'))
        }
        return true
      } catch (e) {
        return isViaductError(e)
      }
    }),
    { numRuns: 3000 },
  )
  t.pass('no crash')
})

t.test('CRC-32 is the ISO one', async (t) => {
  t.equal(crc32(Buffer.from('123456789')), 0xcbf43926)
})
