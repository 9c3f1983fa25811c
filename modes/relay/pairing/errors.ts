/**
 * Codes of the pairing relay. A refusal carries its `pairing` wire status (constants.ts Status), which
 * the relay sends before closing; codes without one end a pairing that is already splicing bytes,
 * where the relay has no channel of its own left, and appear in the ledger and the logs only.
 */
import { defineErrors, ViaductError } from '../../../src/core/errors.js'
import { CoreErrors } from '../../../src/core/errors.js'
import { Status } from './constants.js'

export const PairErrors = defineErrors({
  VIADUCT_ERR_PAIR_VERSION: { message: 'unsupported pairing protocol version', pairing: Status.VERSION },
  VIADUCT_ERR_PAIR_MALFORMED: { message: 'malformed pairing hello', pairing: Status.MALFORMED },
  VIADUCT_ERR_PAIR_WAIT_LIMIT: { message: 'too many peers are waiting for a partner', pairing: Status.WAIT_LIMIT },
  VIADUCT_ERR_PAIR_IP_LIMIT: { message: 'too many peers from this address are waiting for a partner', pairing: Status.IP_LIMIT },
  VIADUCT_ERR_PAIR_TOKEN_INVALID: { message: 'the pairing token is not valid for this room', pairing: Status.TOKEN_INVALID },
  VIADUCT_ERR_PAIR_TOKEN_EXPIRED: { message: 'the pairing token has expired', pairing: Status.TOKEN_EXPIRED },
  VIADUCT_ERR_PAIR_ROOM_FULL: { message: 'the room already has two peers', pairing: Status.ROOM_FULL },
  VIADUCT_ERR_PAIR_SIDE_TAKEN: { message: 'the waiting peer registered the same side', pairing: Status.SIDE_TAKEN },
  VIADUCT_ERR_PAIR_WAIT_TIMEOUT: { message: 'no partner arrived before the wait timeout', pairing: Status.WAIT_TIMEOUT, kind: 'ending' },
  VIADUCT_ERR_PAIR_HELLO_TIMEOUT: { message: 'no complete hello before the hello timeout', pairing: Status.HELLO_TIMEOUT },
  VIADUCT_ERR_PAIR_TRANSPORT: { message: 'a datagram (UDP) peer cannot pair with a stream (TCP, WebSocket) peer', pairing: Status.TRANSPORT_MISMATCH },
  VIADUCT_ERR_PAIR_ALREADY_REGISTERED: { message: 'this UDP address is already registered (waiting) with another hello', pairing: Status.ALREADY_REGISTERED },
  VIADUCT_ERR_PAIR_SHUTDOWN: { message: 'the relay is shutting down', pairing: Status.SHUTDOWN, kind: 'ending' },
  VIADUCT_ERR_PAIR_BYTES_LIMIT: { message: 'the pairing carried its maximum number of bytes', kind: 'ending' },
  VIADUCT_ERR_PAIR_DURATION_LIMIT: { message: 'the pairing reached its maximum duration', kind: 'ending' },
  VIADUCT_ERR_PAIR_PEER_RESET: { message: 'a peer reset its connection or failed', kind: 'failure' },
  VIADUCT_ERR_PAIR_MAPPING_EXPIRED: { message: 'a UDP peer sent nothing (not even a keepalive) for the UDP idle timeout', kind: 'ending' },
  VIADUCT_ERR_PAIR_REFUSED: { message: 'the relay refused the registration with an unknown status', kind: 'failure' },
  VIADUCT_ERR_PAIR_CONNECT: { message: 'the relay could not be reached or closed before pairing', kind: 'failure' },
})

/** Status byte -> code, for the client (every code that has a pairing status, plus the core's). */
const byStatus = new Map<number, string>()
for (const code of Object.keys(PairErrors)) {
  const e = new ViaductError(code)
  if (e.wire.pairing !== undefined) byStatus.set(e.wire.pairing, code)
}
if (!byStatus.has(Status.WAIT_LIMIT)) byStatus.set(Status.WAIT_LIMIT, CoreErrors.VIADUCT_ERR_SESSION_LIMIT)

/** The code a refusal status stands for; VIADUCT_ERR_PAIR_REFUSED for a status this build does not know. */
export function codeForStatus(status: number): string {
  return byStatus.get(status) ?? PairErrors.VIADUCT_ERR_PAIR_REFUSED
}

/** The status a code is refused with on the wire (MALFORMED for codes without one). */
export function statusForError(err: unknown): number {
  if (err instanceof ViaductError && err.wire.pairing !== undefined) return err.wire.pairing
  return Status.MALFORMED
}
