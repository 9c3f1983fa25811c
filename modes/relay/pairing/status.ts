/**
 * The STATUS message (relay -> peer), a pure codec.
 *
 *  offset size field
 *  0      2    magic "VD" (0x56 0x44)
 *  2      1    version (1)
 *  3      1    type 0x02 STATUS
 *  4      1    status: 0 WAITING, 1 PAIRED, 10.. refused (see constants.ts Status)
 *  5      1    reserved, 0
 *  6      2    body length L, big-endian (0..1024)
 *  8      L    body
 *
 * Bodies:
 *  WAITING  u32 wait timeout in ms (how long the relay holds the registration), big-endian
 *  PAIRED   your transport(1) peer transport(1) your address, peer address; an address is
 *           family(1: 4 or 6) port(2, big-endian) ip(4 or 16): the address the relay observed,
 *           like STUN's XOR-MAPPED-ADDRESS (not XORed: no ALG rewrites this protocol)
 *  refused  UTF-8 message for humans (empty over UDP)
 */
import { isIP } from 'node:net'
import { ViaductError } from '../../../src/core/errors.js'
import { normalizeIp } from '../../../src/core/net-policy.js'
import { HEADER_BYTES, MAGIC_0, MAGIC_1, MAX_STATUS_BODY_BYTES, MessageType, PROTOCOL_VERSION, Status, TRANSPORT_NAMES, TRANSPORT_CODES, type TransportName } from './constants.js'
import { PairErrors } from './errors.js'
import { checkPrefix, type Decoded } from './hello.js'

export interface PeerAddress {
  address: string
  family: 4 | 6
  port: number
}

export type StatusMessage =
  | { status: typeof Status.WAITING; waitTimeoutMs: number }
  | { status: typeof Status.PAIRED; self: PeerAddress; peer: PeerAddress; selfTransport: TransportName; peerTransport: TransportName }
  | { status: number; message: string }

function malformed(why: string): ViaductError {
  return new ViaductError(PairErrors.VIADUCT_ERR_PAIR_MALFORMED, `malformed pairing status: ${why}`)
}

function header(status: number, bodyLen: number): Buffer {
  const b = Buffer.allocUnsafe(HEADER_BYTES + bodyLen)
  b[0] = MAGIC_0
  b[1] = MAGIC_1
  b[2] = PROTOCOL_VERSION
  b[3] = MessageType.STATUS
  b[4] = status
  b[5] = 0
  b.writeUInt16BE(bodyLen, 6)
  return b
}

export function encodeWaiting(waitTimeoutMs: number): Buffer {
  const b = header(Status.WAITING, 4)
  b.writeUInt32BE(Math.min(0xffffffff, Math.max(0, Math.floor(waitTimeoutMs))), HEADER_BYTES)
  return b
}

function addressBytes(a: PeerAddress): Buffer {
  const n = normalizeIp(a.address)
  if (!n) throw new Error(`not an IP address: ${a.address}`)
  const out = Buffer.alloc(n.family === 4 ? 7 : 19)
  out[0] = n.family
  out.writeUInt16BE(a.port, 1)
  if (n.family === 4) n.ip.split('.').forEach((x, i) => (out[3 + i] = Number(x)))
  else v6Bytes(n.ip).copy(out, 3)
  return out
}

function v6Bytes(ip: string): Buffer {
  const [head, tail] = ip.split('::')
  const words = (s: string | undefined) => (s ? s.split(':').map((w) => parseInt(w, 16)) : [])
  const h = words(head)
  const t = tail === undefined ? [] : words(tail)
  const all = [...h, ...new Array(8 - h.length - t.length).fill(0), ...t]
  const b = Buffer.alloc(16)
  all.forEach((w, i) => b.writeUInt16BE(w, i * 2))
  return b
}

export function encodePaired(p: { self: PeerAddress; peer: PeerAddress; selfTransport: TransportName; peerTransport: TransportName }): Buffer {
  const a = addressBytes(p.self)
  const b = addressBytes(p.peer)
  const out = header(Status.PAIRED, 2 + a.length + b.length)
  out[HEADER_BYTES] = TRANSPORT_CODES[p.selfTransport]
  out[HEADER_BYTES + 1] = TRANSPORT_CODES[p.peerTransport]
  a.copy(out, HEADER_BYTES + 2)
  b.copy(out, HEADER_BYTES + 2 + a.length)
  return out
}

/** A refusal; the message is cut to fit (UDP refusals pass an empty message: never larger than a hello). */
export function encodeRefusal(status: number, message = ''): Buffer {
  if (status < Status.VERSION || status > 255) throw new Error(`not a refusal status: ${status}`)
  let body = Buffer.from(message, 'utf8')
  if (body.length > 200) body = body.subarray(0, 200)
  const out = header(status, body.length)
  body.copy(out, HEADER_BYTES)
  return out
}

function readAddress(buf: Uint8Array, at: number, end: number): { addr: PeerAddress; next: number } {
  if (at >= end) throw malformed('address missing')
  const family = buf[at]
  if (family !== 4 && family !== 6) throw malformed(`address family ${family} is not 4 or 6`)
  const len = family === 4 ? 4 : 16
  if (at + 3 + len > end) throw malformed('address truncated')
  const port = (buf[at + 1] << 8) | buf[at + 2]
  let address: string
  if (family === 4) address = Array.from(buf.subarray(at + 3, at + 7)).join('.')
  else {
    const words: string[] = []
    for (let i = 0; i < 16; i += 2) words.push(((buf[at + 3 + i] << 8) | buf[at + 4 + i]).toString(16))
    address = words.join(':')
    if (isIP(address) !== 6) throw malformed('bad IPv6 address')
  }
  return { addr: { address, family, port }, next: at + 3 + len }
}

export function decodeStatus(buf: Uint8Array): Decoded<StatusMessage> | null {
  checkPrefix(buf, MessageType.STATUS, 'status')
  if (buf.length < HEADER_BYTES) return null
  const status = buf[4]
  const len = (buf[6] << 8) | buf[7]
  if (len > MAX_STATUS_BODY_BYTES) throw malformed(`body length ${len} is above ${MAX_STATUS_BODY_BYTES}`)
  if (status > Status.PAIRED && status < Status.VERSION) throw malformed(`unknown status ${status}`)
  const end = HEADER_BYTES + len
  if (buf.length < end) return null
  const body = HEADER_BYTES
  if (status === Status.WAITING) {
    if (len !== 4) throw malformed('WAITING body is not 4 bytes')
    const waitTimeoutMs = ((buf[body] << 24) >>> 0) + ((buf[body + 1] << 16) | (buf[body + 2] << 8) | buf[body + 3])
    return { value: { status: Status.WAITING, waitTimeoutMs }, bytesRead: end }
  }
  if (status === Status.PAIRED) {
    if (len < 2) throw malformed('PAIRED body too short')
    const selfTransport = TRANSPORT_NAMES[buf[body]]
    const peerTransport = TRANSPORT_NAMES[buf[body + 1]]
    if (!selfTransport || !peerTransport) throw malformed('unknown transport')
    const a = readAddress(buf, body + 2, end)
    const b = readAddress(buf, a.next, end)
    if (b.next !== end) throw malformed('PAIRED body has trailing bytes')
    return { value: { status: Status.PAIRED, self: a.addr, peer: b.addr, selfTransport, peerTransport }, bytesRead: end }
  }
  const message = Buffer.from(buf.subarray(body, end)).toString('utf8')
  return { value: { status, message }, bytesRead: end }
}
