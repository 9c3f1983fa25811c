/** What a TURN method handler gets, and small helpers over the request's attributes. */
import { ViaductError } from '../../../../src/core/errors.js'
import { TurnErrors } from '../errors.js'
import type { TurnState } from '../state.js'
import type { ClientTransport } from '../transport.js'
import type { DecodedAttribute, DecodedMessage, StunAttribute } from '../stun/index.js'

export interface RequestContext {
  state: TurnState
  transport: ClientTransport
  msg: DecodedMessage
  /** Attributes that count (those after MESSAGE-INTEGRITY dropped). */
  attrs: DecodedAttribute[]
  /** Authenticated user name (empty for Binding). */
  username: string
}

/** A success response's attributes (the server adds SOFTWARE, MESSAGE-INTEGRITY and FINGERPRINT). */
export type Handler = (ctx: RequestContext) => StunAttribute[] | Promise<StunAttribute[]>

export function attr(ctx: RequestContext, type: number): DecodedAttribute | undefined {
  return ctx.attrs.find((a) => a.type === type)
}

export function attrs(ctx: RequestContext, type: number): DecodedAttribute[] {
  return ctx.attrs.filter((a) => a.type === type)
}

export function badRequest(msg: string): ViaductError {
  return new ViaductError(TurnErrors.VIADUCT_ERR_TURN_BAD_REQUEST, msg)
}

/**
 * RFC 8656 §5: "the server MUST check that the 5-tuple ... is associated with an allocation. If not,
 * the server MUST reject the request with a 437 (Allocation Mismatch) error", and §5: if the request
 * was authenticated with other credentials than the allocation's, "reject the request with a 441 (Wrong
 * Credentials) error".
 */
export function requireAllocation(ctx: RequestContext) {
  const a = ctx.state.allocationOf(ctx.transport)
  if (!a) throw new ViaductError(TurnErrors.VIADUCT_ERR_TURN_ALLOCATION_MISMATCH, 'no allocation on this 5-tuple')
  if (a.username !== ctx.username) throw new ViaductError(TurnErrors.VIADUCT_ERR_TURN_WRONG_CREDENTIALS, `allocation belongs to ${a.username}`)
  return a
}
