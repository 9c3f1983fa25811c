/**
 * MAPPED-ADDRESS and the XOR address attributes: XOR-MAPPED-ADDRESS, XOR-PEER-ADDRESS,
 * XOR-RELAYED-ADDRESS (RFC 8489 §14.1-14.2, RFC 8656 §18.3, §18.5). Pure.
 */
import { ViaductError } from '../../../../src/core/errors.js'
import { TurnErrors } from '../errors.js'
import { FAMILY_IPV4, FAMILY_IPV6, MAGIC_COOKIE } from './constants.js'

export interface TransportAddress {
  family: 4 | 6
  address: string
  port: number
}

function bad(msg: string): ViaductError {
  return new ViaductError(TurnErrors.VIADUCT_ERR_TURN_BAD_REQUEST, msg)
}

/** Parse a dotted quad or an IPv6 literal into bytes; null when it is neither. */
export function ipToBytes(ip: string): Buffer | null {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip)
  if (v4) {
    const parts = v4.slice(1).map(Number)
    return parts.every((p) => p <= 255) ? Buffer.from(parts) : null
  }
  if (!/^[0-9a-fA-F:.]+$/.test(ip) || !ip.includes(':')) return null
  let s = ip
  // an embedded dotted quad at the end ("::ffff:1.2.3.4") becomes two hex words
  const quad = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s)
  if (quad) {
    const b = quad.slice(1).map(Number)
    if (b.some((x) => x > 255)) return null
    s = `${s.slice(0, quad.index)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`
  }
  const halves = s.split('::')
  if (halves.length > 2) return null
  const parse = (part: string): number[] | null => {
    if (part === '') return []
    const out: number[] = []
    for (const w of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(w)) return null
      out.push(parseInt(w, 16))
    }
    return out
  }
  const head = parse(halves[0])
  const rest = halves.length === 2 ? parse(halves[1]) : []
  if (!head || !rest) return null
  if (halves.length === 2 && head.length + rest.length > 7) return null
  const words = halves.length === 2 ? [...head, ...new Array(8 - head.length - rest.length).fill(0), ...rest] : head
  if (words.length !== 8) return null
  const out = Buffer.alloc(16)
  words.forEach((w, i) => out.writeUInt16BE(w, i * 2))
  return out
}

/** Bytes to a canonical IP string (RFC 5952 form for IPv6). */
export function bytesToIp(b: Buffer): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`
  const words: number[] = []
  for (let i = 0; i < 16; i += 2) words.push(b.readUInt16BE(i))
  // the longest run (of at least two) zero words becomes "::"
  let bestStart = -1
  let bestLen = 0
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && words[j] === 0) j++
    if (j - i > bestLen) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  const hex = words.map((w) => w.toString(16))
  if (bestLen < 2) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`
}

/** MAPPED-ADDRESS value (RFC 8489 §14.1): 0, family, port, address. */
export function encodeAddress(a: TransportAddress): Buffer {
  const ip = ipToBytes(a.address)
  if (!ip) throw new RangeError(`not an IP address: ${a.address}`)
  const out = Buffer.alloc(4 + ip.length)
  out[1] = ip.length === 4 ? FAMILY_IPV4 : FAMILY_IPV6
  out.writeUInt16BE(a.port, 2)
  ip.copy(out, 4)
  return out
}

export function decodeAddress(v: Buffer): TransportAddress {
  if (v.length < 4) throw bad('address attribute too short')
  const fam = v[1]
  const port = v.readUInt16BE(2)
  if (fam === FAMILY_IPV4 && v.length === 8) return { family: 4, address: bytesToIp(v.subarray(4, 8)), port }
  if (fam === FAMILY_IPV6 && v.length === 20) return { family: 6, address: bytesToIp(v.subarray(4, 20)), port }
  throw bad(`address attribute with family ${fam} and length ${v.length}`)
}

/**
 * RFC 8489 §14.2: "X-Port is computed by XOR'ing the mapped port with the most significant 16 bits of
 * the magic cookie. If the IP address family is IPv4, X-Address is computed by XOR'ing the mapped IP
 * address with the magic cookie. If the IP address family is IPv6, X-Address is computed by XOR'ing the
 * mapped IP address with the concatenation of the magic cookie and the 96-bit transaction ID."
 */
function xorInPlace(v: Buffer, transactionId: Buffer): Buffer {
  v.writeUInt16BE(v.readUInt16BE(2) ^ (MAGIC_COOKIE >>> 16), 2)
  const mask = Buffer.alloc(16)
  mask.writeUInt32BE(MAGIC_COOKIE, 0)
  transactionId.copy(mask, 4)
  for (let i = 4; i < v.length; i++) v[i] ^= mask[i - 4]
  return v
}

export function encodeXorAddress(a: TransportAddress, transactionId: Buffer): Buffer {
  return xorInPlace(encodeAddress(a), transactionId)
}

export function decodeXorAddress(v: Buffer, transactionId: Buffer): TransportAddress {
  if (v.length !== 8 && v.length !== 20) throw bad(`XOR address attribute of length ${v.length}`)
  return decodeAddress(xorInPlace(Buffer.from(v), transactionId))
}
