/** The pairing hello and status codecs: golden vectors, round trips, random splits, random bytes. */
import t from 'tap'
import fc from 'fast-check'
import { ViaductError } from '../../src/core/errors.js'
import { decodeHello, encodeHello } from '../../modes/relay/pairing/hello.js'
import { decodeStatus, encodePaired, encodeRefusal, encodeWaiting } from '../../modes/relay/pairing/status.js'
import { PairErrors } from '../../modes/relay/pairing/errors.js'
import { MAX_HELLO_BYTES, Status } from '../../modes/relay/pairing/constants.js'

const idArb = fc.stringMatching(/^[\x21-\x7e]{1,128}$/)
const tokenArb = fc.stringMatching(/^[\x21-\x7e]{1,512}$/)
const sideArb = fc.constantFrom(0, 1, 2) as fc.Arbitrary<0 | 1 | 2>

/** Feed `buf` in pieces cut at `cuts`, like a stream session does, and decode once per piece. */
function decodeInPieces<T>(decode: (b: Buffer) => { value: T; bytesRead: number } | null, buf: Buffer, cuts: number[]) {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b)
  let have = Buffer.alloc(0)
  let prev = 0
  for (const p of [...points, buf.length]) {
    have = Buffer.concat([have, buf.subarray(prev, p)])
    prev = p
    const r = decode(have)
    if (r) return r
  }
  return null
}

t.test('hello golden vector', async (t) => {
  const b = encodeHello({ id: 'room1', token: 'tok', side: 1 })
  t.equal(b.toString('hex'), '5644' + '01' + '01' + '01' + '05' + '0003' + Buffer.from('room1tok').toString('hex'))
  const r = decodeHello(b)
  t.same(r, { value: { version: 1, side: 1, id: 'room1', token: 'tok' }, bytesRead: 16 })
  const withTail = decodeHello(Buffer.concat([b, Buffer.from('payload')]))
  t.equal(withTail?.bytesRead, 16, 'bytes after the hello are left to the caller')
})

t.test('hello: truncated prefixes need more bytes', async (t) => {
  const b = encodeHello({ id: 'abc', token: 'def' })
  for (let i = 0; i < b.length; i++) t.equal(decodeHello(b.subarray(0, i)), null, `prefix of ${i} bytes`)
})

t.test('hello: malformed input throws the right code early', async (t) => {
  const code = (f: () => unknown) => {
    try {
      f()
      return 'no error'
    } catch (e) {
      return (e as ViaductError).code
    }
  }
  t.equal(code(() => decodeHello(Buffer.from('G'))), PairErrors.VIADUCT_ERR_PAIR_MALFORMED, 'one wrong byte is enough')
  t.equal(code(() => decodeHello(Buffer.from([0x56, 0x45]))), PairErrors.VIADUCT_ERR_PAIR_MALFORMED)
  t.equal(code(() => decodeHello(Buffer.from([0x56, 0x44, 2]))), PairErrors.VIADUCT_ERR_PAIR_VERSION, 'unknown version')
  t.equal(code(() => decodeHello(Buffer.from([0x56, 0x44, 1, 2]))), PairErrors.VIADUCT_ERR_PAIR_MALFORMED, 'a status is not a hello')
  t.equal(code(() => decodeHello(Buffer.from([0x56, 0x44, 1, 1, 3]))), PairErrors.VIADUCT_ERR_PAIR_MALFORMED, 'side 3')
  t.equal(code(() => decodeHello(Buffer.from([0x56, 0x44, 1, 1, 0, 0]))), PairErrors.VIADUCT_ERR_PAIR_MALFORMED, 'empty id')
  t.equal(code(() => decodeHello(Buffer.from([0x56, 0x44, 1, 1, 0, 129]))), PairErrors.VIADUCT_ERR_PAIR_MALFORMED, 'id too long')
  t.equal(code(() => decodeHello(Buffer.from([0x56, 0x44, 1, 1, 0, 1, 0, 0]))), PairErrors.VIADUCT_ERR_PAIR_MALFORMED, 'empty token')
  t.equal(code(() => decodeHello(Buffer.from([0x56, 0x44, 1, 1, 0, 1, 0x02, 0x01]))), PairErrors.VIADUCT_ERR_PAIR_MALFORMED, 'oversized token length (513)')
  t.equal(code(() => decodeHello(Buffer.from([0x56, 0x44, 1, 1, 0, 1, 0, 1, 0x20]))), PairErrors.VIADUCT_ERR_PAIR_MALFORMED, 'space in id')
  t.equal(code(() => decodeHello(Buffer.from([0x56, 0x44, 1, 1, 0, 1, 0, 2, 0x41, 0x41, 0x00]))), PairErrors.VIADUCT_ERR_PAIR_MALFORMED, 'NUL in the token, before it is complete')
  t.equal(code(() => encodeHello({ id: 'has space', token: 'x' })), PairErrors.VIADUCT_ERR_PAIR_MALFORMED, 'encoder refuses what the decoder would')
  t.equal(code(() => encodeHello({ id: 'é', token: 'x' })), PairErrors.VIADUCT_ERR_PAIR_MALFORMED)
})

t.test('hello: round trip and any split give the same result', async (t) => {
  fc.assert(
    fc.property(idArb, tokenArb, sideArb, fc.array(fc.nat(700), { maxLength: 8 }), (id, token, side, cuts) => {
      const b = encodeHello({ id, token, side })
      const whole = decodeHello(b)
      const pieces = decodeInPieces(decodeHello, b, cuts)
      return whole !== null && whole.value.id === id && whole.value.token === token && whole.value.side === side && whole.bytesRead === b.length && JSON.stringify(pieces) === JSON.stringify(whole)
    }),
    { numRuns: 300 },
  )
  t.pass('300 random hellos')
})

t.test('hello: random bytes give null, a value or a ViaductError, nothing else', async (t) => {
  let values = 0
  let errors = 0
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 700 }), fc.uint8Array({ maxLength: 60 }).map((u) => Uint8Array.from([0x56, 0x44, 1, 1, ...u]))), (u) => {
      try {
        const r = decodeHello(Buffer.from(u))
        if (r) {
          values++
          return r.bytesRead <= u.length && r.bytesRead <= MAX_HELLO_BYTES
        }
        return true
      } catch (e) {
        errors++
        return e instanceof ViaductError && (e.code === PairErrors.VIADUCT_ERR_PAIR_MALFORMED || e.code === PairErrors.VIADUCT_ERR_PAIR_VERSION)
      }
    }),
    { numRuns: 2000 },
  )
  t.ok(errors > 0, `errors seen (${errors}), values ${values}`)
})

t.test('status: golden vectors and round trips', async (t) => {
  const w = encodeWaiting(60_000)
  t.equal(w.toString('hex'), '5644010200000004' + '0000ea60')
  t.same(decodeStatus(w), { value: { status: Status.WAITING, waitTimeoutMs: 60_000 }, bytesRead: 12 })
  const p = encodePaired({ self: { address: '203.0.113.5', family: 4, port: 40000 }, peer: { address: '::ffff:198.51.100.7', family: 6, port: 5 }, selfTransport: 'tcp', peerTransport: 'ws' })
  t.equal(p.toString('hex'), '5644010201000010' + '0103' + '04' + '9c40' + 'cb007105' + '04' + '0005' + 'c6336407')
  t.same(decodeStatus(p)?.value, { status: 1, self: { address: '203.0.113.5', family: 4, port: 40000 }, peer: { address: '198.51.100.7', family: 4, port: 5 }, selfTransport: 'tcp', peerTransport: 'ws' }, 'mapped IPv6 goes out as IPv4')
  const p6 = encodePaired({ self: { address: '2001:db8::1', family: 6, port: 1 }, peer: { address: '::1', family: 6, port: 2 }, selfTransport: 'udp', peerTransport: 'udp' })
  const d6 = decodeStatus(p6)?.value as { self: { address: string }; peer: { address: string } }
  t.equal(d6.self.address, '2001:db8:0:0:0:0:0:1')
  t.equal(d6.peer.address, '0:0:0:0:0:0:0:1')
  const r = encodeRefusal(Status.TOKEN_INVALID, 'nope')
  t.same(decodeStatus(r)?.value, { status: 14, message: 'nope' })
  t.equal(encodeRefusal(Status.ROOM_FULL).length, 8, 'a UDP refusal is 8 bytes')
  t.equal(encodeRefusal(Status.ROOM_FULL, 'x'.repeat(1000)).length, 208, 'messages are cut to 200 bytes')
  t.throws(() => encodeRefusal(1), 'PAIRED is not a refusal')
})

t.test('status: any split, truncation, random bytes', async (t) => {
  const msgs = [encodeWaiting(5), encodeRefusal(16, 'room full'), encodePaired({ self: { address: '10.0.0.1', family: 4, port: 1 }, peer: { address: 'fe80::1', family: 6, port: 2 }, selfTransport: 'ws', peerTransport: 'tcp' })]
  fc.assert(
    fc.property(fc.constantFrom(...msgs), fc.array(fc.nat(100), { maxLength: 6 }), (m, cuts) => JSON.stringify(decodeInPieces(decodeStatus, m, cuts)) === JSON.stringify(decodeStatus(m))),
  )
  for (const m of msgs) for (let i = 0; i < m.length; i++) t.equal(decodeStatus(m.subarray(0, i)), null, `truncated at ${i} of ${m.length}`)
  const bad = Buffer.from(msgs[2])
  bad[10] = 9 // address family 9
  t.throws(() => decodeStatus(bad), { code: PairErrors.VIADUCT_ERR_PAIR_MALFORMED })
  t.throws(() => decodeStatus(Buffer.from('5644010205000000', 'hex')), { code: PairErrors.VIADUCT_ERR_PAIR_MALFORMED }, 'status 5 is not defined')
  t.throws(() => decodeStatus(Buffer.from('5644010200000401', 'hex')), { code: PairErrors.VIADUCT_ERR_PAIR_MALFORMED }, 'oversized body length')
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 80 }), fc.uint8Array({ maxLength: 60 }).map((u) => Uint8Array.from([0x56, 0x44, 1, 2, ...u]))), (u) => {
      try {
        decodeStatus(Buffer.from(u))
        return true
      } catch (e) {
        return e instanceof ViaductError
      }
    }),
    { numRuns: 2000 },
  )
})
