/**
 * STUN/TURN error codes. Each carries its STUN ERROR-CODE (RFC 8489 §14.8, RFC 8656 §18); only the
 * server turns a ViaductError into an error response, with the code's reason phrase.
 */
import { defineErrors } from '../../../src/core/errors.js'

export const TurnErrors = defineErrors({
  VIADUCT_ERR_TURN_MALFORMED: { message: 'malformed STUN message or ChannelData', stun: 400 },
  VIADUCT_ERR_TURN_BAD_REQUEST: { message: 'the request lacks a required attribute or has an invalid one', stun: 400 },
  VIADUCT_ERR_TURN_UNAUTHORIZED: { message: 'missing or wrong TURN credentials', stun: 401 },
  VIADUCT_ERR_TURN_FORBIDDEN: { message: 'the peer address is not allowed (loopback, private, special or denied range)', stun: 403 },
  VIADUCT_ERR_TURN_UNKNOWN_ATTRIBUTE: { message: 'the request has a comprehension-required attribute the server does not know', stun: 420 },
  VIADUCT_ERR_TURN_ALLOCATION_MISMATCH: { message: 'no allocation for this 5-tuple, or one already exists', stun: 437 },
  VIADUCT_ERR_TURN_STALE_NONCE: { message: 'the nonce has expired', stun: 438 },
  VIADUCT_ERR_TURN_ADDRESS_FAMILY: { message: 'the address family is not supported', stun: 440 },
  VIADUCT_ERR_TURN_WRONG_CREDENTIALS: { message: 'the request used other credentials than the ones that created the allocation', stun: 441 },
  VIADUCT_ERR_TURN_UNSUPPORTED_TRANSPORT: { message: 'only UDP relaying (REQUESTED-TRANSPORT 17) is supported', stun: 442 },
  VIADUCT_ERR_TURN_PEER_FAMILY: { message: 'the peer address family differs from the relayed address family', stun: 443 },
  VIADUCT_ERR_TURN_QUOTA: { message: 'allocation quota reached (per user or in total)', stun: 486 },
  VIADUCT_ERR_TURN_CAPACITY: { message: 'no relayed port is free in the configured range', stun: 508 },
  VIADUCT_ERR_TURN_SERVER: { message: 'the TURN server failed to carry out the request', stun: 500, kind: 'failure' },
})

/** Reason phrases sent with each error code (RFC 8489 §14.8, RFC 8656 §18). */
export const REASON_PHRASES: Readonly<Record<number, string>> = {
  300: 'Try Alternate',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  420: 'Unknown Attribute',
  437: 'Allocation Mismatch',
  438: 'Stale Nonce',
  440: 'Address Family not Supported',
  441: 'Wrong Credentials',
  442: 'Unsupported Transport Protocol',
  443: 'Peer Address Family Mismatch',
  486: 'Allocation Quota Reached',
  500: 'Server Error',
  508: 'Insufficient Capacity',
}
