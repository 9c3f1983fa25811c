/**
 * ChannelData messages (RFC 8656 §12.4) and the stream framing that mixes them with STUN messages over
 * TCP and TLS (§12.5). Pure: no sockets, no timers.
 *
 * RFC 8656 §12.4: "The Channel Number field specifies the number of the channel on which the data is
 * traveling ... The Length field specifies the length in bytes of the application data field (i.e., it
 * does not include the size of the ChannelData header)."
 */
import { ViaductError } from '../../../src/core/errors.js'
import { TurnErrors } from './errors.js'
import { decodeMessage, pad4, type Decoded, type DecodedMessage } from './stun/message.js'

/**
 * RFC 8656 §12 binds "channel numbers in the range 0x4000 through 0x4FFF" and reserves 0x5000-0xFFFF;
 * RFC 5766, which it replaced, allowed 0x4000-0x7FFF, and RFC 5766 clients (coturn's turnutils_uclient
 * among them) still pick numbers up to 0x7FFF. Like coturn we accept the older range: every number in
 * it starts with the bits 0b01, so framing is unambiguous either way.
 */
export const CHANNEL_MIN = 0x4000
export const CHANNEL_MAX_RFC8656 = 0x4fff
export const CHANNEL_MAX = 0x7fff
export const CHANNEL_HEADER = 4

export interface ChannelData {
  channel: number
  data: Buffer
}

export function isChannelNumber(n: number): boolean {
  return n >= CHANNEL_MIN && n <= CHANNEL_MAX
}

function malformed(msg: string): ViaductError {
  return new ViaductError(TurnErrors.VIADUCT_ERR_TURN_MALFORMED, `malformed ChannelData: ${msg}`)
}

/**
 * Encode a ChannelData message. `padded` (TCP and TLS): RFC 8656 §12.5 "Over TCP and TLS-over-TCP, the
 * ChannelData message MUST be padded to a multiple of four bytes in order to ensure the alignment of
 * subsequent messages. The padding is not reflected in the length field".
 */
export function encodeChannelData(cd: ChannelData, padded = false): Buffer {
  if (cd.data.length > 0xffff) throw new RangeError('ChannelData payload too long')
  const len = CHANNEL_HEADER + (padded ? pad4(cd.data.length) : cd.data.length)
  const out = Buffer.alloc(len)
  out.writeUInt16BE(cd.channel, 0)
  out.writeUInt16BE(cd.data.length, 2)
  cd.data.copy(out, CHANNEL_HEADER)
  return out
}

/**
 * Decode one ChannelData message from the start of `buf`. `padded` consumes the padding (stream);
 * over UDP "the ChannelData message MAY be padded" and the rest of the datagram is ignored.
 */
export function decodeChannelData(buf: Buffer, padded = false): Decoded<ChannelData> | null {
  if (buf.length >= 1 && (buf[0] & 0xc0) !== 0x40) throw malformed('the first two bits are not 0b01')
  if (buf.length < CHANNEL_HEADER) return null
  const channel = buf.readUInt16BE(0)
  // 0b01 in the first two bits already means 0x4000-0x7FFF: every such number is a channel number.
  const len = buf.readUInt16BE(2)
  const need = CHANNEL_HEADER + (padded ? pad4(len) : len)
  if (buf.length < need) {
    if (!padded) throw malformed(`length ${len} runs past the datagram`)
    return null
  }
  return { value: { channel, data: buf.subarray(CHANNEL_HEADER, CHANNEL_HEADER + len) }, bytesRead: padded ? need : buf.length }
}

export type Frame = { kind: 'stun'; message: DecodedMessage } | { kind: 'channel'; channel: ChannelData }

/**
 * One frame from a TCP/TLS stream: a STUN message or a padded ChannelData message, told apart by the
 * first two bits (RFC 8656 §12: "0b00: STUN ... 0b01: ChannelData"). null = need more bytes.
 */
export function decodeStreamFrame(buf: Buffer): Decoded<Frame> | null {
  if (buf.length === 0) return null
  const top = buf[0] & 0xc0
  if (top === 0x00) {
    const r = decodeMessage(buf)
    return r && { value: { kind: 'stun', message: r.value }, bytesRead: r.bytesRead }
  }
  if (top === 0x40) {
    const r = decodeChannelData(buf, true)
    return r && { value: { kind: 'channel', channel: r.value }, bytesRead: r.bytesRead }
  }
  throw new ViaductError(TurnErrors.VIADUCT_ERR_TURN_MALFORMED, 'neither STUN nor ChannelData on the stream')
}

/** One UDP datagram: a whole STUN message or a ChannelData message. */
export function decodeDatagram(buf: Buffer): Frame {
  if (buf.length > 0 && (buf[0] & 0xc0) === 0x40) {
    const r = decodeChannelData(buf, false)
    if (!r) throw malformed('datagram shorter than the ChannelData header')
    return { kind: 'channel', channel: r.value }
  }
  const r = decodeMessage(buf)
  if (!r) throw new ViaductError(TurnErrors.VIADUCT_ERR_TURN_MALFORMED, 'malformed STUN message: datagram shorter than its length field')
  if (r.bytesRead !== buf.length) throw new ViaductError(TurnErrors.VIADUCT_ERR_TURN_MALFORMED, 'malformed STUN message: bytes after the message')
  return { kind: 'stun', message: r.value }
}

/**
 * Accumulates stream bytes and yields frames; bounded: a frame can never exceed 65535 + 20 bytes, so the
 * buffer never holds more than one maximal frame plus one read.
 */
export class StreamFramer {
  private buf: Buffer = Buffer.alloc(0)

  /** Add bytes; returns the complete frames. Throws ViaductError on garbage (close the stream). */
  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk])
    const out: Frame[] = []
    for (;;) {
      const r = decodeStreamFrame(this.buf)
      if (!r) break
      out.push(r.value)
      this.buf = this.buf.subarray(r.bytesRead)
    }
    // copy the remainder so a frame does not pin the large chunk it came in
    if (this.buf.length > 0 && this.buf.length < 4096) this.buf = Buffer.from(this.buf)
    return out
  }

  get buffered(): number {
    return this.buf.length
  }
}
