/**
 * Numbers of the pairing protocol (docs/relay-protocol.md). Shared by the codecs, the relay and the
 * client; no code here.
 */

/** Every hello and status starts with "VD" (0x56 0x44). An HTTP request starts with a letter other than V. */
export const MAGIC_0 = 0x56
export const MAGIC_1 = 0x44

/** The protocol versions this build speaks. A hello with another version is refused with status 10. */
export const PROTOCOL_VERSION = 1
export const SUPPORTED_VERSIONS: readonly number[] = [1]

/** Message types (byte 3). */
export const MessageType = {
  HELLO: 0x01,
  STATUS: 0x02,
} as const

/** Fixed header of both messages: magic(2) version(1) type(1) + 4 type-specific bytes. */
export const HEADER_BYTES = 8

/** Room (pairing id): 1..128 printable ASCII bytes (0x21..0x7e). */
export const MAX_ID_BYTES = 128
/** Token: 1..512 printable ASCII bytes. */
export const MAX_TOKEN_BYTES = 512
/** The largest hello: header + id + token. */
export const MAX_HELLO_BYTES = HEADER_BYTES + MAX_ID_BYTES + MAX_TOKEN_BYTES
/** The largest status body we accept (a refusal message or two addresses). */
export const MAX_STATUS_BODY_BYTES = 1024

/** Which side of the room a peer takes (byte 4 of the hello). ANY pairs with anything. */
export const Side = {
  ANY: 0,
  A: 1,
  B: 2,
} as const
export type SideValue = (typeof Side)[keyof typeof Side]

/** Transports, as they appear in a PAIRED status. */
export const Transport = {
  TCP: 1,
  UDP: 2,
  WS: 3,
} as const
export type TransportName = 'tcp' | 'udp' | 'ws'
export const TRANSPORT_NAMES: Record<number, TransportName> = { 1: 'tcp', 2: 'udp', 3: 'ws' }
export const TRANSPORT_CODES: Record<TransportName, number> = { tcp: 1, udp: 2, ws: 3 }

/** Status values (byte 4 of a STATUS). 0 and 1 are progress; 10 and above are refusals. */
export const Status = {
  WAITING: 0,
  PAIRED: 1,
  VERSION: 10,
  MALFORMED: 11,
  WAIT_LIMIT: 12,
  IP_LIMIT: 13,
  TOKEN_INVALID: 14,
  TOKEN_EXPIRED: 15,
  ROOM_FULL: 16,
  SIDE_TAKEN: 17,
  WAIT_TIMEOUT: 18,
  HELLO_TIMEOUT: 19,
  TRANSPORT_MISMATCH: 20,
  ALREADY_REGISTERED: 21,
  SHUTDOWN: 22,
} as const

/** WebSocket close code for a refusal: 4000 + status. */
export const WS_REFUSAL_BASE = 4000

/** Client defaults. */
export const DEFAULT_UDP_KEEPALIVE_MS = 15_000
export const DEFAULT_UDP_HELLO_RETRY_MS = 1_000
