/** The client side of a 5-tuple: how the server answers a client on UDP, TCP or TLS. */
import type { TransportAddress } from './stun/address.js'

export type ClientProtocol = 'udp' | 'tcp' | 'tls'

export interface ClientTransport {
  readonly protocol: ClientProtocol
  /** The client's address as the server sees it. */
  readonly remote: TransportAddress
  /** The server's address the client talks to. */
  readonly local: TransportAddress
  /** The 5-tuple as a map key. */
  readonly key: string
  /** TCP and TLS: ChannelData is padded to 4 bytes (RFC 8656 §12.5). */
  readonly stream: boolean
  /** Responses and other control messages: always sent. */
  sendControl(buf: Buffer): void
  /** Relayed data: dropped (false) when the stream is backed up, as a datagram would be. */
  sendData(buf: Buffer): boolean
}

export function fiveTupleKey(protocol: ClientProtocol, remote: TransportAddress, local: TransportAddress): string {
  return `${protocol}|${remote.address}|${remote.port}|${local.address}|${local.port}`
}

export function formatAddress(a: { address: string; port: number }): string {
  return a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`
}
