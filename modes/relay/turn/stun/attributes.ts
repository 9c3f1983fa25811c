/**
 * The small attributes TURN needs: USERNAME, REALM, NONCE, SOFTWARE (UTF-8 strings), LIFETIME,
 * REQUESTED-TRANSPORT, CHANNEL-NUMBER, REQUESTED-ADDRESS-FAMILY, ERROR-CODE, UNKNOWN-ATTRIBUTES
 * (RFC 8489 §14, RFC 8656 §18). DATA is raw bytes. Decoders throw VIADUCT_ERR_TURN_BAD_REQUEST.
 */
import { ViaductError } from '../../../../src/core/errors.js'
import { TurnErrors } from '../errors.js'

function bad(msg: string): ViaductError {
  return new ViaductError(TurnErrors.VIADUCT_ERR_TURN_BAD_REQUEST, msg)
}

/**
 * RFC 8489 §14.3 USERNAME "MUST contain a UTF-8-encoded sequence of fewer than 509 bytes"; §14.9 REALM
 * and §14.10 NONCE "MUST be fewer than 128 characters (which can be as long as 509 bytes ...)";
 * §14.14 SOFTWARE "fewer than 128 characters". 763 bytes bounds all of them.
 */
export const MAX_TEXT_BYTES = 763

export function encodeText(s: string): Buffer {
  return Buffer.from(s, 'utf8')
}

export function decodeText(v: Buffer, what = 'text attribute', max = MAX_TEXT_BYTES): string {
  if (v.length > max) throw bad(`${what} is longer than ${max} bytes`)
  return v.toString('utf8')
}

/** LIFETIME (RFC 8656 §18.4): "the duration for which the server will maintain an allocation", seconds. */
export function encodeUint32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n >>> 0, 0)
  return b
}

export function decodeUint32(v: Buffer, what: string): number {
  if (v.length !== 4) throw bad(`${what} must have 4 bytes, has ${v.length}`)
  return v.readUInt32BE(0)
}

/**
 * REQUESTED-TRANSPORT (RFC 8656 §18.7): "the Protocol field specifies the desired protocol. The codepoints
 * used in this field are taken from those allowed in the Protocol field in the IPv4 header"; 3 bytes RFFU.
 */
export function encodeRequestedTransport(protocol: number): Buffer {
  return Buffer.from([protocol & 0xff, 0, 0, 0])
}

export function decodeRequestedTransport(v: Buffer): number {
  if (v.length !== 4) throw bad('REQUESTED-TRANSPORT must have 4 bytes')
  return v[0]
}

/** CHANNEL-NUMBER (RFC 8656 §18.1): 16-bit channel number then 16 bits RFFU. */
export function encodeChannelNumber(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt16BE(n, 0)
  return b
}

export function decodeChannelNumber(v: Buffer): number {
  if (v.length !== 4) throw bad('CHANNEL-NUMBER must have 4 bytes')
  return v.readUInt16BE(0)
}

/** REQUESTED-ADDRESS-FAMILY (RFC 8656 §18.6): family byte 0x01 (IPv4) or 0x02 (IPv6), 3 bytes RFFU. */
export function decodeAddressFamily(v: Buffer): number {
  if (v.length !== 4) throw bad('REQUESTED-ADDRESS-FAMILY must have 4 bytes')
  return v[0]
}

export function encodeAddressFamily(family: number): Buffer {
  return Buffer.from([family, 0, 0, 0])
}

export interface ErrorCodeValue {
  code: number
  reason: string
}

/**
 * ERROR-CODE (RFC 8489 §14.8): 21 reserved bits, Class (3 bits, the hundreds digit), Number (8 bits,
 * 0-99), then a UTF-8 reason phrase. "The Class represents the hundreds digit of the error code. The
 * value MUST be between 3 and 6."
 */
export function encodeErrorCode(e: ErrorCodeValue): Buffer {
  const reason = Buffer.from(e.reason, 'utf8')
  const b = Buffer.alloc(4 + reason.length)
  b[2] = Math.floor(e.code / 100) & 0x07
  b[3] = e.code % 100
  reason.copy(b, 4)
  return b
}

export function decodeErrorCode(v: Buffer): ErrorCodeValue {
  if (v.length < 4) throw bad('ERROR-CODE too short')
  const cls = v[2] & 0x07
  const num = v[3]
  if (cls < 3 || cls > 6 || num > 99) throw bad(`ERROR-CODE class ${cls} number ${num}`)
  return { code: cls * 100 + num, reason: decodeText(v.subarray(4), 'ERROR-CODE reason') }
}

/** UNKNOWN-ATTRIBUTES (RFC 8489 §14.13): a list of 16-bit attribute types. */
export function encodeUnknownAttributes(types: readonly number[]): Buffer {
  const b = Buffer.alloc(types.length * 2)
  types.forEach((t, i) => b.writeUInt16BE(t, i * 2))
  return b
}

export function decodeUnknownAttributes(v: Buffer): number[] {
  if (v.length % 2 !== 0) throw bad('UNKNOWN-ATTRIBUTES has an odd length')
  const out: number[] = []
  for (let i = 0; i < v.length; i += 2) out.push(v.readUInt16BE(i))
  return out
}
