/**
 * Binding (RFC 8489 §3, the "discovery server"): answered on the TURN port without authentication, so a
 * peer learns its server-reflexive address.
 */
import { Attr, encodeXorAddress } from '../stun/index.js'
import type { Handler } from './context.js'

/** RFC 8489 §7.3.1: "the server MUST add an XOR-MAPPED-ADDRESS attribute to the response". */
export const handleBinding: Handler = (ctx) => {
  ctx.state.bindings++
  return [{ type: Attr.XOR_MAPPED_ADDRESS, value: encodeXorAddress(ctx.transport.remote, ctx.msg.transactionId) }]
}
