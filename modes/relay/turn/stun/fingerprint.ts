/**
 * FINGERPRINT (RFC 8489 §14.7): "the CRC-32 of the STUN message up to (but excluding) the FINGERPRINT
 * attribute itself, XOR'ed with the 32-bit value 0x5354554e". Pure.
 */
import { Attr, HEADER_LENGTH } from './constants.js'
import type { DecodedMessage } from './message.js'

export const FINGERPRINT_XOR = 0x5354554e

const TABLE = (() => {
  const t = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[n] = c >>> 0
  }
  return t
})()

/** CRC-32 as in ISO/IEC 13239 (the one zlib and RFC 1952 use). */
export function crc32(buf: Buffer): number {
  let c = 0xffffffff
  for (let i = 0; i < buf.length; i++) c = TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

/** Append FINGERPRINT to an encoded message (its length field is updated to include the attribute). */
export function appendFingerprint(msg: Buffer): Buffer {
  const out = Buffer.alloc(msg.length + 8)
  msg.copy(out)
  out.writeUInt16BE(msg.length - HEADER_LENGTH + 8, 2)
  const crc = (crc32(out.subarray(0, msg.length)) ^ FINGERPRINT_XOR) >>> 0
  out.writeUInt16BE(Attr.FINGERPRINT, msg.length)
  out.writeUInt16BE(4, msg.length + 2)
  out.writeUInt32BE(crc, msg.length + 4)
  return out
}

/**
 * Check a FINGERPRINT if present: true when absent or right, false when wrong or not the last
 * attribute ("When present, the FINGERPRINT attribute MUST be the last attribute in the message").
 */
export function checkFingerprint(msg: DecodedMessage): boolean {
  const i = msg.attributes.findIndex((a) => a.type === Attr.FINGERPRINT)
  if (i < 0) return true
  const a = msg.attributes[i]
  if (i !== msg.attributes.length - 1 || a.value.length !== 4) return false
  const head = Buffer.from(msg.raw.subarray(0, a.offset))
  head.writeUInt16BE(a.offset - HEADER_LENGTH + 8, 2)
  return ((crc32(head) ^ FINGERPRINT_XOR) >>> 0) === a.value.readUInt32BE(0)
}
