/**
 * The SOCKS5 UDP request header (RFC 1928 §7), pure. A datagram is always complete, so the decoder
 * never answers "need more": a short or malformed datagram throws a ViaductError.
 *
 *   +----+------+------+----------+----------+----------+
 *   |RSV | FRAG | ATYP | DST.ADDR | DST.PORT |   DATA   |
 *   +----+------+------+----------+----------+----------+
 *   | 2  |  1   |  1   | Variable |    2     | Variable |
 */
import { ViaductError } from '../../../src/core/errors.js'
import { decodeAddress, encodeAddress, type Decoded, type SocksAddress } from './codec.js'
import { SocksErrors } from './errors.js'

export interface UdpDatagram extends SocksAddress {
  /** "FRAG Current fragment number"; 0 = a standalone datagram. */
  frag: number
  data: Buffer
}

export function decodeUdpDatagram(buf: Buffer): Decoded<UdpDatagram> {
  if (buf.length < 4) throw new ViaductError(SocksErrors.VIADUCT_ERR_SOCKS_MALFORMED, `UDP datagram of ${buf.length} bytes is shorter than its header`)
  const addr = decodeAddress(buf, 3)
  if (!addr) throw new ViaductError(SocksErrors.VIADUCT_ERR_SOCKS_MALFORMED, 'UDP datagram ends inside its address')
  const start = 3 + addr.bytesRead
  return { value: { frag: buf[2], ...addr.value, data: buf.subarray(start) }, bytesRead: buf.length }
}

/** A datagram from `host:port` to the client, with the header the client expects (FRAG 0). */
export function encodeUdpDatagram(host: string, port: number, data: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([0x00, 0x00, 0x00]), encodeAddress(host, port), data])
}
