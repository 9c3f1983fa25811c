/**
 * MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489 §14.5) and MESSAGE-INTEGRITY-SHA256 (§14.6), and the long-term
 * key (§9.2.2). Pure: node:crypto only.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { Attr, HEADER_LENGTH } from './constants.js'
import type { DecodedMessage } from './message.js'

/**
 * RFC 8489 §9.2.2: "key = MD5(username ":" OpaqueString(realm) ":" OpaqueString(password))". We apply no
 * string preparation beyond UTF-8 (as coturn and pion do), so ASCII credentials match every client.
 */
export function longTermKey(username: string, realm: string, password: string): Buffer {
  return createHash('md5').update(`${username}:${realm}:${password}`, 'utf8').digest()
}

/**
 * RFC 8489 §14.5: "The text used as input to HMAC is the STUN message, up to and including the attribute
 * preceding the MESSAGE-INTEGRITY attribute. The Length field of the STUN message header is adjusted to
 * point to the end of the MESSAGE-INTEGRITY attribute."
 */
function hmacOver(alg: 'sha1' | 'sha256', key: Buffer, upto: Buffer, attrLen: number): Buffer {
  const head = Buffer.from(upto)
  head.writeUInt16BE(upto.length - HEADER_LENGTH + 4 + attrLen, 2)
  return createHmac(alg, key).update(head).digest()
}

/** Append an HMAC attribute of `size` bytes, the header's length already covering it (§14.5, §14.6). */
function appendMac(msg: Buffer, key: Buffer, alg: 'sha1' | 'sha256', attr: number, size: number): Buffer {
  const mac = hmacOver(alg, key, msg, size)
  const out = Buffer.alloc(msg.length + 4 + size)
  msg.copy(out)
  out.writeUInt16BE(msg.length - HEADER_LENGTH + 4 + size, 2)
  out.writeUInt16BE(attr, msg.length)
  out.writeUInt16BE(size, msg.length + 2)
  mac.copy(out, msg.length + 4)
  return out
}

/** Append MESSAGE-INTEGRITY (HMAC-SHA1) to an encoded message. */
export function appendIntegrity(msg: Buffer, key: Buffer): Buffer {
  return appendMac(msg, key, 'sha1', Attr.MESSAGE_INTEGRITY, 20)
}

/** Append MESSAGE-INTEGRITY-SHA256 (untruncated) to an encoded message. */
export function appendIntegritySha256(msg: Buffer, key: Buffer): Buffer {
  return appendMac(msg, key, 'sha256', Attr.MESSAGE_INTEGRITY_SHA256, 32)
}

export type IntegrityResult = 'absent' | 'ok' | 'bad'

/**
 * Verify MESSAGE-INTEGRITY-SHA256 when present (§14.6: it "MAY be truncated" to no fewer than 16 bytes,
 * a multiple of 4), otherwise MESSAGE-INTEGRITY.
 */
export function verifyIntegrity(msg: DecodedMessage, key: Buffer): IntegrityResult {
  const sha256 = msg.attributes.find((a) => a.type === Attr.MESSAGE_INTEGRITY_SHA256)
  const sha1 = msg.attributes.find((a) => a.type === Attr.MESSAGE_INTEGRITY)
  // When both are present the first one wins (the other follows it and is ignored per §14.5)
  const use = sha1 && (!sha256 || sha1.offset < sha256.offset) ? sha1 : sha256
  if (!use) return 'absent'
  const isSha1 = use.type === Attr.MESSAGE_INTEGRITY
  const len = use.value.length
  if (isSha1 ? len !== 20 : len < 16 || len > 32 || len % 4 !== 0) return 'bad'
  const mac = hmacOver(isSha1 ? 'sha1' : 'sha256', key, msg.raw.subarray(0, use.offset), len).subarray(0, len)
  return timingSafeEqual(mac, use.value) ? 'ok' : 'bad'
}

export function hasIntegrity(msg: DecodedMessage): boolean {
  return msg.attributes.some((a) => a.type === Attr.MESSAGE_INTEGRITY || a.type === Attr.MESSAGE_INTEGRITY_SHA256)
}
