/**
 * The SOCKS handshake codec: pure functions, no sockets, no timers, no clock.
 *
 * Every decoder takes the bytes received so far and returns `null` ("need more bytes"), a
 * `{ value, bytesRead }`, or throws a ViaductError for bytes that can never become a valid message.
 * The session buffers; any split of the input gives the same result.
 */
import { isIP } from 'node:net'
import { ViaductError } from '../../../src/core/errors.js'
import { AddressType, MAX_SOCKS4_FIELD, SOCKS4_VERSION, SOCKS5_VERSION, USERPASS_VERSION } from './constants.js'
import { SocksErrors } from './errors.js'

export interface Decoded<T> {
  value: T
  bytesRead: number
}

export interface Socks5Greeting {
  methods: number[]
}

export interface UserPass {
  user: string
  password: string
}

/** A destination as it crossed the wire. */
export interface SocksAddress {
  /** AddressType.IPV4, DOMAIN or IPV6. */
  atyp: number
  /** Dotted quad, compressed IPv6, or the domain name. */
  host: string
  port: number
}

export interface Socks5Request extends SocksAddress {
  command: number
}

export interface Socks4Request {
  command: number
  port: number
  /** The IPv4 address, or the SOCKS4A host name when the address was 0.0.0.x (x != 0). */
  host: string
  /** True for SOCKS4A (a host name follows the USERID). */
  socks4a: boolean
  userId: string
}

function malformed(msg: string): ViaductError {
  return new ViaductError(SocksErrors.VIADUCT_ERR_SOCKS_MALFORMED, msg)
}

/**
 * Host names: RFC 1928 §5 "the address field contains a fully-qualified domain name. The first octet of
 * the address field contains the number of octets of name that follow, there is no terminating NUL
 * octet." We accept printable ASCII only (clients send IDNs as punycode).
 */
function checkName(buf: Uint8Array, start: number, end: number): string {
  if (end <= start) throw malformed('empty host name')
  for (let i = start; i < end; i++) {
    const c = buf[i]
    if (c <= 0x20 || c >= 0x7f) throw malformed(`host name contains byte 0x${c.toString(16).padStart(2, '0')}`)
  }
  return Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('latin1')
}

function ipv4(buf: Uint8Array, at: number): string {
  return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`
}

function ipv6(buf: Uint8Array, at: number): string {
  const words: string[] = []
  for (let i = 0; i < 16; i += 2) words.push(((buf[at + i] << 8) | buf[at + i + 1]).toString(16))
  // let node compress it ("::1") through its URL parser's canonical form
  return new URL(`http://[${words.join(':')}]/`).hostname.slice(1, -1)
}

/** Which protocol a connection speaks, from its first byte: 4, 5, or null when empty. Throws otherwise. */
export function sniffVersion(buf: Uint8Array): 4 | 5 | null {
  if (buf.length === 0) return null
  if (buf[0] === SOCKS5_VERSION) return 5
  if (buf[0] === SOCKS4_VERSION) return 4
  throw new ViaductError(SocksErrors.VIADUCT_ERR_SOCKS_VERSION, `first byte 0x${buf[0].toString(16).padStart(2, '0')} is not a SOCKS version`)
}

/**
 * RFC 1928 §3:
 *   +----+----------+----------+
 *   |VER | NMETHODS | METHODS  |
 *   +----+----------+----------+
 *   | 1  |    1     | 1 to 255 |
 */
export function decodeGreeting(buf: Uint8Array): Decoded<Socks5Greeting> | null {
  if (buf.length < 1) return null
  if (buf[0] !== SOCKS5_VERSION) throw new ViaductError(SocksErrors.VIADUCT_ERR_SOCKS_VERSION, `greeting version ${buf[0]} is not 5`)
  if (buf.length < 2) return null
  const n = buf[1]
  if (n === 0) throw malformed('greeting offers no methods')
  if (buf.length < 2 + n) return null
  return { value: { methods: Array.from(buf.subarray(2, 2 + n)) }, bytesRead: 2 + n }
}

/**
 * RFC 1929 §2:
 *   +----+------+----------+------+----------+
 *   |VER | ULEN |  UNAME   | PLEN |  PASSWD  |
 *   +----+------+----------+------+----------+
 *   | 1  |  1   | 1 to 255 |  1   | 1 to 255 |
 * Some clients send an empty password (PLEN 0); we accept it and let the user check fail.
 */
export function decodeUserPass(buf: Uint8Array): Decoded<UserPass> | null {
  if (buf.length < 1) return null
  if (buf[0] !== USERPASS_VERSION) throw malformed(`username/password version ${buf[0]} is not 1`)
  if (buf.length < 2) return null
  const ulen = buf[1]
  if (ulen === 0) throw malformed('empty user name')
  if (buf.length < 3 + ulen) return null
  const plen = buf[2 + ulen]
  const end = 3 + ulen + plen
  if (buf.length < end) return null
  const user = Buffer.from(buf.subarray(2, 2 + ulen)).toString('utf8')
  const password = Buffer.from(buf.subarray(3 + ulen, end)).toString('utf8')
  return { value: { user, password }, bytesRead: end }
}

/**
 * DST.ADDR and DST.PORT at `at` (RFC 1928 §4/§5), shared by requests and UDP headers.
 * Returns null when more bytes are needed.
 */
export function decodeAddress(buf: Uint8Array, at: number): Decoded<SocksAddress> | null {
  if (buf.length < at + 1) return null
  const atyp = buf[at]
  let host: string
  let end: number
  switch (atyp) {
    case AddressType.IPV4:
      end = at + 1 + 4
      if (buf.length < end + 2) return null
      host = ipv4(buf, at + 1)
      break
    case AddressType.IPV6:
      end = at + 1 + 16
      if (buf.length < end + 2) return null
      host = ipv6(buf, at + 1)
      break
    case AddressType.DOMAIN: {
      if (buf.length < at + 2) return null
      const len = buf[at + 1]
      if (len === 0) throw malformed('empty host name')
      end = at + 2 + len
      if (buf.length < end + 2) return null
      host = checkName(buf, at + 2, end)
      break
    }
    default:
      throw new ViaductError(SocksErrors.VIADUCT_ERR_SOCKS_ADDRESS_TYPE, `address type 0x${atyp.toString(16).padStart(2, '0')} is not IPv4 (1), domain (3) or IPv6 (4)`)
  }
  const port = (buf[end] << 8) | buf[end + 1]
  return { value: { atyp, host, port }, bytesRead: end + 2 - at }
}

/**
 * RFC 1928 §4:
 *   +----+-----+-------+------+----------+----------+
 *   |VER | CMD |  RSV  | ATYP | DST.ADDR | DST.PORT |
 *   +----+-----+-------+------+----------+----------+
 *   | 1  |  1  | X'00' |  1   | Variable |    2     |
 * The command is returned as sent; the session decides which it supports (reply 0x07 otherwise).
 * RSV is not checked: several clients send garbage there.
 */
export function decodeSocks5Request(buf: Uint8Array): Decoded<Socks5Request> | null {
  if (buf.length < 1) return null
  if (buf[0] !== SOCKS5_VERSION) throw new ViaductError(SocksErrors.VIADUCT_ERR_SOCKS_VERSION, `request version ${buf[0]} is not 5`)
  if (buf.length < 3) return null
  const addr = decodeAddress(buf, 3)
  if (!addr) return null
  return { value: { command: buf[1], ...addr.value }, bytesRead: 3 + addr.bytesRead }
}

/** Index of the NUL ending a SOCKS4 field starting at `from`, null when not yet received; throws when too long. */
function nulAt(buf: Uint8Array, from: number, what: string): number | null {
  const limit = Math.min(buf.length, from + MAX_SOCKS4_FIELD + 1)
  for (let i = from; i < limit; i++) if (buf[i] === 0) return i
  if (buf.length > from + MAX_SOCKS4_FIELD) throw malformed(`${what} is longer than ${MAX_SOCKS4_FIELD} bytes`)
  return null
}

/**
 * SOCKS4:
 *   +----+----+----+----+----+----+----+----+----+----+....+----+
 *   | VN | CD | DSTPORT |      DSTIP        | USERID       |NULL|
 *   +----+----+----+----+----+----+----+----+----+----+....+----+
 *      1    1      2              4           variable       1
 * SOCKS4A: "if the client cannot resolve the destination host's domain name ... set the first three
 * bytes of DSTIP to NULL and the last byte to a non-zero value ... Following the NULL byte terminating
 * USERID, the client must send the destination domain name and terminate it with another NULL byte."
 */
export function decodeSocks4Request(buf: Uint8Array): Decoded<Socks4Request> | null {
  if (buf.length < 1) return null
  if (buf[0] !== SOCKS4_VERSION) throw new ViaductError(SocksErrors.VIADUCT_ERR_SOCKS_VERSION, `request version ${buf[0]} is not 4`)
  if (buf.length < 8) {
    // reject an over-long USERID early even before the fixed part is complete? nothing to check yet
    return null
  }
  const command = buf[1]
  const port = (buf[2] << 8) | buf[3]
  const socks4a = buf[4] === 0 && buf[5] === 0 && buf[6] === 0 && buf[7] !== 0
  const uEnd = nulAt(buf, 8, 'USERID')
  if (uEnd === null) return null
  const userId = Buffer.from(buf.subarray(8, uEnd)).toString('utf8')
  if (!socks4a) return { value: { command, port, host: ipv4(buf, 4), socks4a, userId }, bytesRead: uEnd + 1 }
  const hEnd = nulAt(buf, uEnd + 1, 'SOCKS4A host name')
  if (hEnd === null) return null
  const host = checkName(buf, uEnd + 1, hEnd)
  return { value: { command, port, host, socks4a, userId }, bytesRead: hEnd + 1 }
}

/** RFC 1928 §3: the server's METHOD selection message. */
export function encodeMethodReply(method: number): Buffer {
  return Buffer.from([SOCKS5_VERSION, method])
}

/** RFC 1929 §2: "A STATUS field of X'00' indicates success." */
export function encodeAuthReply(ok: boolean): Buffer {
  return Buffer.from([USERPASS_VERSION, ok ? 0x00 : 0x01])
}

/** DST/BND address bytes for an IP literal or a host name. */
export function encodeAddress(host: string, port: number): Buffer {
  const bare = host.replace(/^\[|\]$/g, '')
  const fam = isIP(bare)
  let head: Buffer
  if (fam === 4) {
    head = Buffer.from([AddressType.IPV4, ...bare.split('.').map(Number)])
  } else if (fam === 6) {
    head = Buffer.concat([Buffer.from([AddressType.IPV6]), ipv6Bytes(bare)])
  } else {
    const name = Buffer.from(bare, 'latin1')
    if (name.length === 0 || name.length > 255) throw new RangeError(`host name of ${name.length} bytes cannot be encoded`)
    head = Buffer.concat([Buffer.from([AddressType.DOMAIN, name.length]), name])
  }
  const p = Buffer.alloc(2)
  p.writeUInt16BE(port & 0xffff)
  return Buffer.concat([head, p])
}

function ipv6Bytes(ip: string): Buffer {
  const out = Buffer.alloc(16)
  let s = ip
  const pct = s.indexOf('%')
  if (pct >= 0) s = s.slice(0, pct)
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s)
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number)
    s = s.slice(0, quad.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [h, r] = s.split('::')
  const hw = h ? h.split(':') : []
  const rw = r !== undefined && r !== '' ? r.split(':') : []
  const words = [...hw, ...new Array(8 - hw.length - rw.length).fill('0'), ...rw]
  words.forEach((w, i) => out.writeUInt16BE(parseInt(w, 16), i * 2))
  return out
}

/**
 * RFC 1928 §6:
 *   +----+-----+-------+------+----------+----------+
 *   |VER | REP |  RSV  | ATYP | BND.ADDR | BND.PORT |
 *   +----+-----+-------+------+----------+----------+
 * A failure reply carries 0.0.0.0:0.
 */
export function encodeSocks5Reply(rep: number, bindHost = '0.0.0.0', bindPort = 0): Buffer {
  return Buffer.concat([Buffer.from([SOCKS5_VERSION, rep, 0x00]), encodeAddress(bindHost, bindPort)])
}

/**
 * SOCKS4 reply: "VN is the version of the reply code and should be 0. CD is the result code":
 *   | VN | CD | DSTPORT | DSTIP |
 */
export function encodeSocks4Reply(code: number, port = 0, ip = '0.0.0.0'): Buffer {
  const b = Buffer.alloc(8)
  b[0] = 0x00
  b[1] = code
  b.writeUInt16BE(port & 0xffff, 2)
  const parts = isIP(ip) === 4 ? ip.split('.').map(Number) : [0, 0, 0, 0]
  for (let i = 0; i < 4; i++) b[4 + i] = parts[i]
  return b
}
