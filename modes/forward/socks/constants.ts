/**
 * SOCKS wire constants: RFC 1928 (SOCKS5), RFC 1929 (username/password), and the SOCKS4 / SOCKS4A
 * protocol descriptions (Ying-Da Lee, "SOCKS: A protocol for TCP proxy across firewalls" and
 * "SOCKS 4A: A Simple Extension to SOCKS 4 Protocol").
 */

export const SOCKS4_VERSION = 0x04
export const SOCKS5_VERSION = 0x05
/** RFC 1929 §2: "The VER field contains the current version of the subnegotiation, which is X'01'." */
export const USERPASS_VERSION = 0x01

/** RFC 1928 §3 METHOD values. */
export const Method = {
  NO_AUTH: 0x00,
  GSSAPI: 0x01,
  USERPASS: 0x02,
  NO_ACCEPTABLE: 0xff,
} as const

/** RFC 1928 §4 CMD values (the same numbers SOCKS4 uses for CONNECT and BIND). */
export const Command = {
  CONNECT: 0x01,
  BIND: 0x02,
  UDP_ASSOCIATE: 0x03,
} as const

/** RFC 1928 §4 ATYP values. */
export const AddressType = {
  IPV4: 0x01,
  DOMAIN: 0x03,
  IPV6: 0x04,
} as const

/** RFC 1928 §6 REP values. */
export const Reply = {
  SUCCEEDED: 0x00,
  GENERAL_FAILURE: 0x01,
  NOT_ALLOWED: 0x02,
  NETWORK_UNREACHABLE: 0x03,
  HOST_UNREACHABLE: 0x04,
  CONNECTION_REFUSED: 0x05,
  TTL_EXPIRED: 0x06,
  COMMAND_NOT_SUPPORTED: 0x07,
  ADDRESS_TYPE_NOT_SUPPORTED: 0x08,
} as const

/** SOCKS4 CD values in the server's reply. */
export const Socks4Reply = {
  GRANTED: 0x5a,
  REJECTED: 0x5b,
  NO_IDENTD: 0x5c,
  USERID_MISMATCH: 0x5d,
} as const

/** Longest domain name, user name or password a one-byte length can carry. */
export const MAX_FIELD = 255
/** SOCKS4 USERID and SOCKS4A host name are NUL-terminated; we accept at most this many bytes before the NUL. */
export const MAX_SOCKS4_FIELD = 255
