/** Refresh (RFC 8656 §8.2): extend the allocation's time-to-expiry, or delete it with LIFETIME 0. */
import { CloseReason } from '../../../../src/core/ledger.js'
import { Attr, decodeUint32, encodeUint32 } from '../stun/index.js'
import { desiredLifetime } from './allocate.js'
import { attr, requireAllocation, type Handler } from './context.js'

export const handleRefresh: Handler = (ctx) => {
  const a = requireAllocation(ctx)
  const cfg = ctx.state.config
  const l = attr(ctx, Attr.LIFETIME)
  const requested = l ? decodeUint32(l.value, 'LIFETIME') : undefined
  // "if the request contains a LIFETIME attribute and the attribute value is zero, then the 'desired
  // lifetime' is zero ... If the 'desired lifetime' is zero, then the request succeeds and the
  // allocation is deleted."
  if (requested === 0) {
    a.close(CloseReason.DELETED)
    return [{ type: Attr.LIFETIME, value: encodeUint32(0) }]
  }
  const lifetimeS = desiredLifetime(requested, cfg.defaultLifetimeS, cfg.maxLifetimeS)
  a.refresh(lifetimeS)
  return [{ type: Attr.LIFETIME, value: encodeUint32(lifetimeS) }]
}
