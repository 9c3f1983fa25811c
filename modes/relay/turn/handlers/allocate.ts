/** Allocate (RFC 8656 §7.2): create the allocation for this 5-tuple and its relayed UDP socket. */
import type { Socket } from 'node:dgram'
import { ViaductError } from '../../../../src/core/errors.js'
import { Allocation } from '../allocation.js'
import { TurnErrors } from '../errors.js'
import { Attr, FAMILY_IPV4, FAMILY_IPV6, TRANSPORT_UDP, decodeAddressFamily, decodeRequestedTransport, decodeUint32, encodeUint32, encodeXorAddress } from '../stun/index.js'
import { formatAddress } from '../transport.js'
import { attr, badRequest, type Handler } from './context.js'

/**
 * RFC 8656 §7.2: "If the request contains a LIFETIME attribute, then the server computes the minimum of
 * the client's proposed lifetime and the server's maximum allowed lifetime. If this computed value is
 * greater than the default lifetime, then the server uses the computed lifetime ... Otherwise, the
 * server uses the default lifetime."
 */
export function desiredLifetime(requested: number | undefined, defaultS: number, maxS: number): number {
  if (requested === undefined) return defaultS
  const v = Math.min(requested, maxS)
  return v > defaultS ? v : defaultS
}

export const handleAllocate: Handler = async (ctx) => {
  const { state, transport, username } = ctx
  const cfg = state.config
  // 2. "The server checks if the 5-tuple is currently in use by an existing allocation. If yes, the
  // server rejects the request with a 437 (Allocation Mismatch) error." (A retransmission of the request
  // that created it is answered by the server from the cached response before this handler runs.)
  if (state.allocationOf(transport)) throw new ViaductError(TurnErrors.VIADUCT_ERR_TURN_ALLOCATION_MISMATCH, 'an allocation already exists on this 5-tuple')

  // 3. "If the REQUESTED-TRANSPORT attribute is not included or is malformed, the server rejects the
  // request with a 400 (Bad Request) error. Otherwise, if the attribute ... specifies a protocol that is
  // not supported by the server, the server rejects the request with a 442".
  const rt = attr(ctx, Attr.REQUESTED_TRANSPORT)
  if (!rt) throw badRequest('Allocate without REQUESTED-TRANSPORT')
  const proto = decodeRequestedTransport(rt.value)
  if (proto !== TRANSPORT_UDP) throw new ViaductError(TurnErrors.VIADUCT_ERR_TURN_UNSUPPORTED_TRANSPORT, `REQUESTED-TRANSPORT ${proto}: only UDP (17) is relayed`)

  // 5. "The server checks if the request contains a RESERVATION-TOKEN attribute. If yes, and the request
  // also contains an EVEN-PORT or REQUESTED-ADDRESS-FAMILY or ADDITIONAL-ADDRESS-FAMILY attribute, the
  // server rejects the request with a 400 (Bad Request) error. Otherwise, it checks to see if the token
  // is valid ... If the token is not valid for some reason, the server rejects the request with a 508".
  const token = attr(ctx, Attr.RESERVATION_TOKEN)
  const evenPort = attr(ctx, Attr.EVEN_PORT)
  const reqFamily = attr(ctx, Attr.REQUESTED_ADDRESS_FAMILY)
  const additional = attr(ctx, Attr.ADDITIONAL_ADDRESS_FAMILY)
  if (token && (evenPort || reqFamily || additional)) throw badRequest('RESERVATION-TOKEN with EVEN-PORT or an address family')
  if (token && token.value.length !== 8) throw badRequest('RESERVATION-TOKEN must have 8 bytes')
  if (token && !state.reservations.has(token.value.toString('hex'))) throw new ViaductError(TurnErrors.VIADUCT_ERR_TURN_CAPACITY, 'unknown or expired RESERVATION-TOKEN')

  // 6. "... both REQUESTED-ADDRESS-FAMILY and ADDITIONAL-ADDRESS-FAMILY attributes ... 400 (Bad Request)".
  if (reqFamily && additional) throw badRequest('both REQUESTED-ADDRESS-FAMILY and ADDITIONAL-ADDRESS-FAMILY')
  // 7. Address family: the relayed socket's family is the relay IP's.
  const bindIp = state.relayBindIp(transport)
  const relayFamily: 4 | 6 = bindIp.includes(':') ? 6 : 4
  if (reqFamily) {
    const f = decodeAddressFamily(reqFamily.value)
    if (f !== FAMILY_IPV4 && f !== FAMILY_IPV6) throw badRequest(`REQUESTED-ADDRESS-FAMILY ${f}`)
    if ((f === FAMILY_IPV4 ? 4 : 6) !== relayFamily) throw new ViaductError(TurnErrors.VIADUCT_ERR_TURN_ADDRESS_FAMILY, `this server relays IPv${relayFamily} only`)
  }
  // 8. "The server checks if the request contains an EVEN-PORT attribute with the R bit set to 1. If yes,
  // and the request also contains an ADDITIONAL-ADDRESS-FAMILY attribute, the server rejects the request
  // with a 400 (Bad Request) error."
  if (evenPort && evenPort.value.length < 1) throw badRequest('EVEN-PORT without its flags byte')
  const reserveNext = evenPort !== undefined && (evenPort.value[0] & 0x80) !== 0
  if (reserveNext && additional) throw badRequest('EVEN-PORT with R=1 and ADDITIONAL-ADDRESS-FAMILY')
  if (!state.accepting) throw new ViaductError(TurnErrors.VIADUCT_ERR_TURN_CAPACITY, 'the server is shutting down')

  // 10. "the server MAY choose to reject the request with a 486 (Allocation Quota Reached) error if it
  // feels the client is trying to exceed some locally defined allocation quota."
  state.checkQuota(username)

  const lifetimeAttr = attr(ctx, Attr.LIFETIME)
  const lifetimeS = desiredLifetime(lifetimeAttr ? decodeUint32(lifetimeAttr.value, 'LIFETIME') : undefined, cfg.defaultLifetimeS, cfg.maxLifetimeS)

  // "If the request contains a RESERVATION-TOKEN attribute, the server uses the previously reserved
  // transport address corresponding to the included token (if it is still available)." With EVEN-PORT
  // R=0 the port is even; with R=1 the pair N, N+1 is taken and N+1 reserved under a new token.
  let socket: Socket
  let port: number
  let reservationToken: Buffer | undefined
  if (token) {
    const r = state.takeReservation(token.value)
    if (!r) throw new ViaductError(TurnErrors.VIADUCT_ERR_TURN_CAPACITY, 'unknown or expired RESERVATION-TOKEN')
    ;({ socket, port } = r)
  } else if (reserveNext) {
    const pair = await state.ports.bindPair(bindIp, relayFamily)
    ;({ socket, port } = pair)
    reservationToken = state.reserve(pair.next, port + 1, bindIp, relayFamily)
  } else {
    ;({ socket, port } = await state.ports.bind(bindIp, relayFamily, evenPort !== undefined))
  }
  const giveBack = () => {
    socket.close()
    state.ports.release(port)
  }
  if (state.allocationOf(transport) || !state.accepting) {
    giveBack()
    throw new ViaductError(TurnErrors.VIADUCT_ERR_TURN_ALLOCATION_MISMATCH, 'an allocation was created meanwhile')
  }
  // the quota may have been taken while we were binding
  try {
    state.checkQuota(username)
  } catch (err) {
    giveBack()
    throw err
  }
  const relayed = { family: relayFamily, address: state.advertisedIp(bindIp, transport), port }
  const session = state.core.ledger.open({
    mode: 'relay',
    protocol: `turn-${transport.protocol}`,
    client: formatAddress(transport.remote),
    user: username || undefined,
    listener: `turn-${transport.protocol}`,
    meta: { relayed: formatAddress(relayed), server: formatAddress(transport.local), lifetimeS },
  })
  const a = new Allocation({
    transport,
    username,
    socket,
    port,
    relayed,
    lifetimeS,
    session,
    clock: state.clock,
    log: state.log,
    bandwidthBytesPerS: cfg.bandwidthBytesPerS,
    onClose: (x) => state.remove(x),
  })
  state.add(a)
  return [
    { type: Attr.XOR_RELAYED_ADDRESS, value: encodeXorAddress(relayed, ctx.msg.transactionId) },
    { type: Attr.LIFETIME, value: encodeUint32(lifetimeS) },
    { type: Attr.XOR_MAPPED_ADDRESS, value: encodeXorAddress(transport.remote, ctx.msg.transactionId) },
    ...(reservationToken ? [{ type: Attr.RESERVATION_TOKEN, value: reservationToken }] : []),
  ]
}
