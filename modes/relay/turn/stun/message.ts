/**
 * The STUN message: header and attribute list (RFC 8489 §5, §14). Pure: no sockets, no timers, no clock.
 *
 * decodeMessage() returns null when more bytes are needed, throws ViaductError
 * (VIADUCT_ERR_TURN_MALFORMED) for bytes that are not a STUN message, and otherwise returns the message
 * with every attribute's value and offset, so MESSAGE-INTEGRITY and FINGERPRINT can be checked against
 * the raw bytes later.
 */
import { ViaductError } from '../../../../src/core/errors.js'
import { TurnErrors } from '../errors.js'
import { Attr, HEADER_LENGTH, MAGIC_COOKIE, TRANSACTION_ID_LENGTH, type StunClass } from './constants.js'

export interface StunAttribute {
  type: number
  value: Buffer
}

export interface DecodedAttribute extends StunAttribute {
  /** Offset of the attribute's 4-byte header within `raw`. */
  offset: number
}

export interface StunMessage {
  method: number
  cls: StunClass
  transactionId: Buffer
  attributes: StunAttribute[]
}

export interface DecodedMessage extends StunMessage {
  attributes: DecodedAttribute[]
  /** The exact bytes of the message (header and attributes). */
  raw: Buffer
}

export interface Decoded<T> {
  value: T
  bytesRead: number
}

/** Largest STUN message: the 16-bit length field plus the header. */
export const MAX_MESSAGE_LENGTH = HEADER_LENGTH + 0xffff

function malformed(msg: string): ViaductError {
  return new ViaductError(TurnErrors.VIADUCT_ERR_TURN_MALFORMED, `malformed STUN message: ${msg}`)
}

/**
 * RFC 8489 §5: "the message type field is decomposed further into the following structure":
 * M11..M7 C1 M6..M4 C0 M3..M0.
 */
export function encodeType(method: number, cls: StunClass): number {
  return (method & 0x000f) | ((method & 0x0070) << 1) | ((method & 0x0f80) << 2) | ((cls & 0b01) << 4) | ((cls & 0b10) << 7)
}

export function decodeType(type: number): { method: number; cls: StunClass } {
  const method = (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2)
  const cls = (((type & 0x0010) >> 4) | ((type & 0x0100) >> 7)) as StunClass
  return { method, cls }
}

/** Pad a length to the next multiple of 4 (RFC 8489 §14: attributes are padded to 32-bit boundaries). */
export function pad4(n: number): number {
  return (n + 3) & ~3
}

/**
 * True when the bytes start like a STUN message: "The most significant 2 bits of every STUN message
 * MUST be zeroes" and the magic cookie is in place (RFC 8489 §6).
 */
export function looksLikeStun(buf: Buffer): boolean {
  return buf.length >= HEADER_LENGTH && (buf[0] & 0xc0) === 0 && buf.readUInt32BE(4) === MAGIC_COOKIE
}

/** Decode one STUN message from the start of `buf`. */
export function decodeMessage(buf: Buffer): Decoded<DecodedMessage> | null {
  if (buf.length >= 1 && (buf[0] & 0xc0) !== 0) throw malformed('the two most significant bits are not zero')
  if (buf.length >= 8 && buf.readUInt32BE(4) !== MAGIC_COOKIE) throw malformed('no magic cookie')
  if (buf.length < HEADER_LENGTH) return null
  const length = buf.readUInt16BE(2)
  // RFC 8489 §5: "the message length MUST contain the size of the message in bytes, not including the
  // 20-byte STUN header. Since all STUN attributes are padded to a multiple of 4 bytes, the last 2 bits
  // of this field are always zero."
  if (length % 4 !== 0) throw malformed(`length ${length} is not a multiple of 4`)
  const total = HEADER_LENGTH + length
  if (buf.length < total) return null
  const raw = buf.subarray(0, total)
  const { method, cls } = decodeType(raw.readUInt16BE(0))
  const attributes: DecodedAttribute[] = []
  let off = HEADER_LENGTH
  while (off < total) {
    if (off + 4 > total) throw malformed('truncated attribute header')
    const type = raw.readUInt16BE(off)
    const len = raw.readUInt16BE(off + 2)
    const end = off + 4 + len
    if (end > total) throw malformed(`attribute 0x${type.toString(16).padStart(4, '0')} runs past the message`)
    attributes.push({ type, value: raw.subarray(off + 4, end), offset: off })
    off += 4 + pad4(len)
  }
  if (off !== total) throw malformed('attribute padding runs past the message')
  return {
    value: { method, cls, transactionId: raw.subarray(8, 8 + TRANSACTION_ID_LENGTH), attributes, raw },
    bytesRead: total,
  }
}

/**
 * The attributes that count: RFC 8489 §14.5 "With the exception of the MESSAGE-INTEGRITY-SHA256 and
 * FINGERPRINT attributes, which appear after MESSAGE-INTEGRITY, agents MUST ignore all other attributes
 * that follow MESSAGE-INTEGRITY."
 */
export function effectiveAttributes<A extends StunAttribute>(attrs: readonly A[]): A[] {
  const out: A[] = []
  let afterIntegrity = false
  for (const a of attrs) {
    if (afterIntegrity && a.type !== Attr.MESSAGE_INTEGRITY_SHA256 && a.type !== Attr.FINGERPRINT) continue
    out.push(a)
    if (a.type === Attr.MESSAGE_INTEGRITY || a.type === Attr.MESSAGE_INTEGRITY_SHA256) afterIntegrity = true
  }
  return out
}

/** The first attribute of a type (RFC 8489 §14: "only the first occurrence needs to be processed"). */
export function getAttr<A extends StunAttribute>(msg: { attributes: readonly A[] }, type: number): A | undefined {
  for (const a of msg.attributes) if (a.type === type) return a
  return undefined
}

export function getAllAttrs<A extends StunAttribute>(msg: { attributes: readonly A[] }, type: number): A[] {
  return msg.attributes.filter((a) => a.type === type)
}

/** Write the header and attributes (no integrity, no fingerprint: see integrity.ts for those). */
export function encodeMessage(msg: StunMessage): Buffer {
  if (msg.transactionId.length !== TRANSACTION_ID_LENGTH) throw new RangeError('a transaction id has 12 bytes')
  let length = 0
  for (const a of msg.attributes) {
    if (a.value.length > 0xffff) throw new RangeError(`attribute 0x${a.type.toString(16)} is too long`)
    length += 4 + pad4(a.value.length)
  }
  if (length > 0xffff) throw new RangeError('STUN message too long')
  const out = Buffer.alloc(HEADER_LENGTH + length)
  out.writeUInt16BE(encodeType(msg.method, msg.cls), 0)
  out.writeUInt16BE(length, 2)
  out.writeUInt32BE(MAGIC_COOKIE, 4)
  msg.transactionId.copy(out, 8)
  let off = HEADER_LENGTH
  for (const a of msg.attributes) {
    out.writeUInt16BE(a.type, off)
    out.writeUInt16BE(a.value.length, off + 2)
    a.value.copy(out, off + 4)
    off += 4 + pad4(a.value.length)
  }
  return out
}
