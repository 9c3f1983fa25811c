/**
 * ChannelData (RFC 8656 §12.4) and the TCP/TLS stream framing that mixes it with STUN messages (§12.5):
 * padding, any split of a stream gives the same frames, garbage is a ViaductError.
 */
import t from 'tap'
import fc from 'fast-check'
import { isViaductError } from '../../src/core/errors.js'
import { decodeChannelData, decodeDatagram, decodeStreamFrame, encodeChannelData, StreamFramer, type Frame } from '../../modes/relay/turn/channel-data.js'
import { encodeMessage } from '../../modes/relay/turn/stun/index.js'

t.test('ChannelData is padded over streams only, and the length field leaves the padding out', async (t) => {
  const udp = encodeChannelData({ channel: 0x4001, data: Buffer.from('abcde') })
  t.equal(udp.toString('hex'), '40010005' + Buffer.from('abcde').toString('hex'))
  const tcp = encodeChannelData({ channel: 0x4001, data: Buffer.from('abcde') }, true)
  t.equal(tcp.length, 12)
  t.equal(tcp.readUInt16BE(2), 5)
  t.same(decodeChannelData(tcp, true), { value: { channel: 0x4001, data: Buffer.from('abcde') }, bytesRead: 12 })
  t.equal(decodeChannelData(tcp.subarray(0, 9), true), null, 'padding not yet there: need more bytes')
  t.throws(() => decodeChannelData(udp.subarray(0, 6)), { code: 'VIADUCT_ERR_TURN_MALFORMED' }, 'a datagram shorter than its length')
  t.throws(() => decodeChannelData(Buffer.from([0x80, 0, 0, 0])), { code: 'VIADUCT_ERR_TURN_MALFORMED' })
  const d = decodeDatagram(Buffer.concat([udp, Buffer.alloc(3)]))
  t.equal(d.kind, 'channel', 'UDP padding is ignored')
})

t.test('a stream with STUN, ChannelData and garbage', async (t) => {
  t.equal(decodeStreamFrame(Buffer.alloc(0)), null)
  t.throws(() => decodeStreamFrame(Buffer.from([0xc0])), { code: 'VIADUCT_ERR_TURN_MALFORMED' })
  const f = new StreamFramer()
  t.throws(() => f.push(Buffer.from('160301020001' + '0001fc0303', 'hex')), { code: 'VIADUCT_ERR_TURN_MALFORMED' }, 'a TLS ClientHello on the plain TCP port')
  // "GET " starts with 0b01: it frames as ChannelData 0x4745 of 0x5420 bytes and waits (bounded) for them
  const g = new StreamFramer()
  t.same(g.push(Buffer.from('GET / HTTP/1.1\r\n')), [])
  t.ok(g.buffered < 0x5420 + 4)
})

const frame = fc.oneof(
  fc.record({ channel: fc.integer({ min: 0x4000, max: 0x7fff }), data: fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)) }).map((c) => ({ kind: 'channel' as const, bytes: encodeChannelData(c, true), c })),
  fc
    .record({
      method: fc.integer({ min: 0, max: 0xfff }),
      data: fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)),
      tid: fc.uint8Array({ minLength: 12, maxLength: 12 }).map((u) => Buffer.from(u)),
    })
    .map((m) => ({ kind: 'stun' as const, bytes: encodeMessage({ method: m.method, cls: 0, transactionId: m.tid, attributes: [{ type: 0x13, value: m.data }] }), c: undefined })),
)

function describe(fs: Frame[]): string[] {
  return fs.map((f) => (f.kind === 'channel' ? `c${f.channel.channel}:${f.channel.data.toString('hex')}` : `s${f.message.method}:${f.message.raw.toString('hex')}`))
}

t.test('fast-check: any split of a stream gives the same frames', async (t) => {
  fc.assert(
    fc.property(fc.array(frame, { minLength: 1, maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 }), (frames, cuts) => {
      const all = Buffer.concat(frames.map((f) => f.bytes))
      const whole = describe(new StreamFramer().push(all))
      const f = new StreamFramer()
      const got: Frame[] = []
      let off = 0
      let i = 0
      while (off < all.length) {
        const n = cuts[i++ % cuts.length]
        got.push(...f.push(all.subarray(off, off + n)))
        off += n
      }
      const parts = describe(got)
      return whole.length === frames.length && JSON.stringify(parts) === JSON.stringify(whole) && f.buffered === 0
    }),
    { numRuns: 300 },
  )
  t.pass('same frames')
})

t.test('fast-check: random stream bytes give frames or a ViaductError, never anything else', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), (u) => {
      try {
        new StreamFramer().push(Buffer.from(u))
        decodeDatagram(Buffer.from(u))
        return true
      } catch (e) {
        return isViaductError(e)
      }
    }),
    { numRuns: 3000 },
  )
  t.pass('no crash')
})
