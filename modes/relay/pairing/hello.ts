/**
 * The HELLO message (peer -> relay), a pure codec: no sockets, no timers, no clock.
 *
 *  offset size field
 *  0      2    magic "VD" (0x56 0x44)
 *  2      1    version (1)
 *  3      1    type 0x01 HELLO
 *  4      1    side: 0 any, 1 A, 2 B
 *  5      1    id length N (1..128)
 *  6      2    token length M (1..512), big-endian
 *  8      N    id, printable ASCII 0x21..0x7e
 *  8+N    M    token, printable ASCII 0x21..0x7e
 *
 * The decoder returns null while bytes are missing, throws ViaductError (MALFORMED or VERSION) as soon as
 * the bytes it has cannot start a valid hello, and { value, bytesRead } otherwise. Bytes after the hello
 * (early payload on a stream) are left to the caller.
 */
import { ViaductError } from '../../../src/core/errors.js'
import { HEADER_BYTES, MAGIC_0, MAGIC_1, MAX_ID_BYTES, MAX_TOKEN_BYTES, MessageType, PROTOCOL_VERSION, Side, SUPPORTED_VERSIONS, type SideValue } from './constants.js'
import { PairErrors } from './errors.js'

export interface Hello {
  version: number
  side: SideValue
  id: string
  token: string
}

export interface Decoded<T> {
  value: T
  bytesRead: number
}

function malformed(why: string): ViaductError {
  return new ViaductError(PairErrors.VIADUCT_ERR_PAIR_MALFORMED, `malformed pairing hello: ${why}`)
}

/** Check the magic, version and type on whatever prefix is present; throws on the first wrong byte. */
export function checkPrefix(buf: Uint8Array, type: number, what: string): void {
  if (buf.length > 0 && buf[0] !== MAGIC_0) throw malformedOf(what, 'does not start with "VD"')
  if (buf.length > 1 && buf[1] !== MAGIC_1) throw malformedOf(what, 'does not start with "VD"')
  if (buf.length > 2 && !SUPPORTED_VERSIONS.includes(buf[2])) {
    throw new ViaductError(PairErrors.VIADUCT_ERR_PAIR_VERSION, `pairing protocol version ${buf[2]} is not supported (this relay speaks ${SUPPORTED_VERSIONS.join(', ')})`)
  }
  if (buf.length > 3 && buf[3] !== type) throw malformedOf(what, `message type ${buf[3]} is not ${type}`)
}

function malformedOf(what: string, why: string): ViaductError {
  return new ViaductError(PairErrors.VIADUCT_ERR_PAIR_MALFORMED, `malformed pairing ${what}: ${why}`)
}

export function isPrintableAscii(buf: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] < 0x21 || buf[i] > 0x7e) return false
  return true
}

function ascii(buf: Uint8Array, from: number, to: number): string {
  let s = ''
  for (let i = from; i < to; i++) s += String.fromCharCode(buf[i])
  return s
}

export function decodeHello(buf: Uint8Array): Decoded<Hello> | null {
  checkPrefix(buf, MessageType.HELLO, 'hello')
  if (buf.length > 4 && buf[4] > Side.B) throw malformed(`side ${buf[4]} is not 0, 1 or 2`)
  if (buf.length > 5 && (buf[5] === 0 || buf[5] > MAX_ID_BYTES)) throw malformed(`id length ${buf[5]} is not 1..${MAX_ID_BYTES}`)
  if (buf.length < HEADER_BYTES) return null
  const idLen = buf[5]
  const tokenLen = (buf[6] << 8) | buf[7]
  if (tokenLen === 0 || tokenLen > MAX_TOKEN_BYTES) throw malformed(`token length ${tokenLen} is not 1..${MAX_TOKEN_BYTES}`)
  const end = HEADER_BYTES + idLen + tokenLen
  // Check the characters we already have, so garbage is refused before the whole length arrives.
  const have = Math.min(buf.length, end)
  if (!isPrintableAscii(buf, HEADER_BYTES, Math.min(have, HEADER_BYTES + idLen))) throw malformed('the id has a byte outside 0x21..0x7e')
  if (have > HEADER_BYTES + idLen && !isPrintableAscii(buf, HEADER_BYTES + idLen, have)) throw malformed('the token has a byte outside 0x21..0x7e')
  if (buf.length < end) return null
  return {
    value: {
      version: buf[2],
      side: buf[4] as SideValue,
      id: ascii(buf, HEADER_BYTES, HEADER_BYTES + idLen),
      token: ascii(buf, HEADER_BYTES + idLen, end),
    },
    bytesRead: end,
  }
}

/** Encode a hello; throws MALFORMED for an id or token the decoder would refuse. */
export function encodeHello(h: { id: string; token: string; side?: SideValue; version?: number }): Buffer {
  const id = Buffer.from(h.id, 'latin1')
  const token = Buffer.from(h.token, 'latin1')
  if (id.length === 0 || id.length > MAX_ID_BYTES || id.toString('latin1') !== h.id || !isPrintableAscii(id, 0, id.length)) {
    throw malformed(`the id must be 1..${MAX_ID_BYTES} printable ASCII characters`)
  }
  if (token.length === 0 || token.length > MAX_TOKEN_BYTES || token.toString('latin1') !== h.token || !isPrintableAscii(token, 0, token.length)) {
    throw malformed(`the token must be 1..${MAX_TOKEN_BYTES} printable ASCII characters`)
  }
  const out = Buffer.allocUnsafe(HEADER_BYTES + id.length + token.length)
  out[0] = MAGIC_0
  out[1] = MAGIC_1
  out[2] = h.version ?? PROTOCOL_VERSION
  out[3] = MessageType.HELLO
  out[4] = h.side ?? Side.ANY
  out[5] = id.length
  out.writeUInt16BE(token.length, 6)
  id.copy(out, HEADER_BYTES)
  token.copy(out, HEADER_BYTES + id.length)
  return out
}

/** A room id the hello can carry. */
export function isValidId(id: string): boolean {
  return id.length > 0 && id.length <= MAX_ID_BYTES && /^[\x21-\x7e]+$/.test(id)
}
