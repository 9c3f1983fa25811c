/** STUN/TURN numbers: methods, classes, attribute types (RFC 8489 §18, RFC 8656 §17-18). */

/** RFC 8489 §6: "The magic cookie field MUST contain the fixed value 0x2112A442 in network byte order." */
export const MAGIC_COOKIE = 0x2112a442
export const HEADER_LENGTH = 20
export const TRANSACTION_ID_LENGTH = 12

export const Method = {
  BINDING: 0x001,
  ALLOCATE: 0x003,
  REFRESH: 0x004,
  SEND: 0x006,
  DATA: 0x007,
  CREATE_PERMISSION: 0x008,
  CHANNEL_BIND: 0x009,
} as const

export const MethodName: Readonly<Record<number, string>> = {
  0x001: 'Binding',
  0x003: 'Allocate',
  0x004: 'Refresh',
  0x006: 'Send',
  0x007: 'Data',
  0x008: 'CreatePermission',
  0x009: 'ChannelBind',
}

export const Class = {
  REQUEST: 0b00,
  INDICATION: 0b01,
  SUCCESS: 0b10,
  ERROR: 0b11,
} as const
export type StunClass = (typeof Class)[keyof typeof Class]

export const Attr = {
  MAPPED_ADDRESS: 0x0001,
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  UNKNOWN_ATTRIBUTES: 0x000a,
  CHANNEL_NUMBER: 0x000c,
  LIFETIME: 0x000d,
  XOR_PEER_ADDRESS: 0x0012,
  DATA: 0x0013,
  REALM: 0x0014,
  NONCE: 0x0015,
  XOR_RELAYED_ADDRESS: 0x0016,
  REQUESTED_ADDRESS_FAMILY: 0x0017,
  EVEN_PORT: 0x0018,
  REQUESTED_TRANSPORT: 0x0019,
  DONT_FRAGMENT: 0x001a,
  MESSAGE_INTEGRITY_SHA256: 0x001c,
  PASSWORD_ALGORITHM: 0x001d,
  USERHASH: 0x001e,
  XOR_MAPPED_ADDRESS: 0x0020,
  RESERVATION_TOKEN: 0x0022,
  PRIORITY: 0x0024,
  USE_CANDIDATE: 0x0025,
  ADDITIONAL_ADDRESS_FAMILY: 0x8000,
  ADDRESS_ERROR_CODE: 0x8001,
  PASSWORD_ALGORITHMS: 0x8002,
  ALTERNATE_DOMAIN: 0x8003,
  ICMP: 0x8004,
  SOFTWARE: 0x8022,
  ALTERNATE_SERVER: 0x8023,
  FINGERPRINT: 0x8028,
  ICE_CONTROLLED: 0x8029,
  ICE_CONTROLLING: 0x802a,
} as const

/** RFC 8489 §14: "Attributes with type values between 0x0000 and 0x7FFF are comprehension-required". */
export function isComprehensionRequired(type: number): boolean {
  return type < 0x8000
}

/** REQUESTED-TRANSPORT protocol number for UDP (RFC 8656 §18.7). */
export const TRANSPORT_UDP = 17

export const FAMILY_IPV4 = 0x01
export const FAMILY_IPV6 = 0x02
