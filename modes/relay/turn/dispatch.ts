/**
 * From a decoded frame to the handler and back to bytes: fingerprint check, the long-term credential
 * checks (RFC 8489 §9.2.4), unknown comprehension-required attributes (420), the method handler, and
 * the response with SOFTWARE, MESSAGE-INTEGRITY and FINGERPRINT. Errors become error responses here
 * and only here.
 */
import { isViaductError, ViaductError } from '../../../src/core/errors.js'
import type { Frame } from './channel-data.js'
import { REASON_PHRASES, TurnErrors } from './errors.js'
import { handleAllocate } from './handlers/allocate.js'
import { handleBinding } from './handlers/binding.js'
import { handleChannelBind } from './handlers/channel-bind.js'
import type { Handler, RequestContext } from './handlers/context.js'
import { handleCreatePermission } from './handlers/create-permission.js'
import { handleRefresh } from './handlers/refresh.js'
import { handleChannelData, handleSend } from './handlers/send.js'
import type { TurnState } from './state.js'
import {
  Attr,
  Class,
  Method,
  MethodName,
  checkFingerprint,
  effectiveAttributes,
  encode,
  encodeErrorCode,
  encodeText,
  encodeUnknownAttributes,
  hasIntegrity,
  isComprehensionRequired,
  verifyIntegrity,
  type DecodedAttribute,
  type DecodedMessage,
  type StunAttribute,
} from './stun/index.js'
import type { ClientTransport } from './transport.js'

const HANDLERS: Readonly<Record<number, Handler>> = {
  [Method.ALLOCATE]: handleAllocate,
  [Method.REFRESH]: handleRefresh,
  [Method.CREATE_PERMISSION]: handleCreatePermission,
  [Method.CHANNEL_BIND]: handleChannelBind,
}

/** Comprehension-required attributes the server understands in requests. */
const KNOWN_TURN = new Set<number>([
  Attr.USERNAME,
  Attr.MESSAGE_INTEGRITY,
  Attr.MESSAGE_INTEGRITY_SHA256,
  Attr.REALM,
  Attr.NONCE,
  Attr.LIFETIME,
  Attr.REQUESTED_TRANSPORT,
  Attr.XOR_PEER_ADDRESS,
  Attr.CHANNEL_NUMBER,
  Attr.DATA,
  Attr.REQUESTED_ADDRESS_FAMILY,
  Attr.EVEN_PORT,
  Attr.RESERVATION_TOKEN,
  Attr.ERROR_CODE,
])
/** Binding also carries ICE's attributes (RFC 8445 §16.1). */
const KNOWN_BINDING = new Set<number>([...KNOWN_TURN, Attr.PRIORITY, Attr.USE_CANDIDATE, Attr.XOR_MAPPED_ADDRESS, Attr.MAPPED_ADDRESS])

interface Reply {
  cls: typeof Class.SUCCESS | typeof Class.ERROR
  attributes: StunAttribute[]
  key?: Buffer
}

function errorAttrs(code: number, extra: StunAttribute[] = []): StunAttribute[] {
  return [{ type: Attr.ERROR_CODE, value: encodeErrorCode({ code, reason: REASON_PHRASES[code] ?? 'Error' }) }, ...extra]
}

/** Handle one frame from a client; never throws. */
export async function handleFrame(state: TurnState, t: ClientTransport, frame: Frame): Promise<void> {
  try {
    if (frame.kind === 'channel') {
      const why = handleChannelData(state, t, frame.channel)
      if (why) state.log.trace({ event: 'turn.drop', client: t.key, why }, 'ChannelData dropped')
      return
    }
    const msg = frame.message
    // RFC 8489 §7.3: a message whose FINGERPRINT does not match is not STUN: discard it.
    if (!checkFingerprint(msg)) {
      state.log.debug({ event: 'turn.bad_fingerprint', client: t.key }, 'STUN message with a wrong FINGERPRINT dropped')
      return
    }
    if (msg.cls === Class.INDICATION) {
      if (msg.method === Method.SEND) {
        const why = handleSend(state, t, msg, effectiveAttributes(msg.attributes))
        if (why) state.log.trace({ event: 'turn.drop', client: t.key, why }, 'Send indication dropped')
      }
      return
    }
    if (msg.cls !== Class.REQUEST) return // responses are not ours to take
    const reply = await handleRequest(state, t, msg)
    if (!reply) return
    const attributes = [...reply.attributes]
    // A Binding answer goes to an unauthenticated, possibly spoofed source: keep it small (no SOFTWARE,
    // FINGERPRINT only when the request had one) so it is barely larger than the request.
    const binding = msg.method === Method.BINDING
    if (state.config.software && !binding) attributes.push({ type: Attr.SOFTWARE, value: encodeText(state.config.software) })
    const fingerprint = !binding || msg.attributes.some((a) => a.type === Attr.FINGERPRINT)
    const out = encode({ method: msg.method, cls: reply.cls, transactionId: msg.transactionId, attributes }, { key: reply.key, fingerprint })
    if (msg.method === Method.ALLOCATE && reply.cls === Class.SUCCESS) {
      const a = state.allocationOf(t)
      if (a) a.createdBy = { transactionId: msg.transactionId.toString('hex'), response: out }
    }
    t.sendControl(out)
  } catch (err) {
    state.log.error({ event: 'error', err, client: t.key }, 'TURN frame handling failed')
  }
}

async function handleRequest(state: TurnState, t: ClientTransport, msg: DecodedMessage): Promise<Reply | null> {
  const attrs = effectiveAttributes(msg.attributes)
  const name = MethodName[msg.method] ?? `0x${msg.method.toString(16)}`
  if (msg.method === Method.BINDING) {
    const unknown = unknownAttrs(attrs, KNOWN_BINDING)
    if (unknown.length) return { cls: Class.ERROR, attributes: errorAttrs(420, [{ type: Attr.UNKNOWN_ATTRIBUTES, value: encodeUnknownAttributes(unknown) }]) }
    const ctx: RequestContext = { state, transport: t, msg, attrs, username: '' }
    const attributes = await handleBinding(ctx)
    if (state.bindings % 1000 === 1) state.log.debug({ event: 'turn.binding', count: state.bindings }, 'Binding requests answered')
    return { cls: Class.SUCCESS, attributes }
  }
  const handler = HANDLERS[msg.method]
  if (!handler) return { cls: Class.ERROR, attributes: errorAttrs(400) }

  // A retransmitted Allocate (same transaction) gets the same answer, not 437.
  if (msg.method === Method.ALLOCATE) {
    const a = state.allocationOf(t)
    if (a?.createdBy && a.createdBy.transactionId === msg.transactionId.toString('hex')) {
      t.sendControl(a.createdBy.response)
      return null
    }
  }

  let username = ''
  let key: Buffer | undefined
  if (!state.auth.open) {
    const auth = authenticate(state, t, msg, attrs)
    if ('reply' in auth) {
      if (auth.reply && auth.reply.attributes.length) {
        const code = auth.code
        state.log.debug({ event: 'turn.auth', client: t.key, method: name, code }, `${name} answered ${code}`)
      }
      return auth.reply
    }
    username = auth.username
    key = auth.key
  }

  const unknown = unknownAttrs(attrs, KNOWN_TURN)
  if (unknown.length) {
    state.log.debug({ event: 'turn.unknown_attributes', client: t.key, method: name, unknown }, `${name} with unknown attributes`)
    return { cls: Class.ERROR, attributes: errorAttrs(420, [{ type: Attr.UNKNOWN_ATTRIBUTES, value: encodeUnknownAttributes(unknown) }]), key }
  }
  try {
    const attributes = await handler({ state, transport: t, msg, attrs, username })
    return { cls: Class.SUCCESS, attributes, key }
  } catch (err) {
    const e = isViaductError(err) ? err : new ViaductError(TurnErrors.VIADUCT_ERR_TURN_SERVER, (err as Error).message, { cause: err })
    const code = e.wire.stun ?? 500
    const lvl = code === 500 ? 'error' : 'debug'
    state.log[lvl]({ event: 'turn.error', client: t.key, method: name, code: e.code, stun: code, detail: e.message }, `${name} refused: ${e.message}`)
    return { cls: Class.ERROR, attributes: errorAttrs(code), key }
  }
}

function unknownAttrs(attrs: DecodedAttribute[], known: Set<number>): number[] {
  const out: number[] = []
  for (const a of attrs) if (isComprehensionRequired(a.type) && !known.has(a.type) && !out.includes(a.type)) out.push(a.type)
  return out
}

type AuthOutcome = { username: string; key: Buffer } | { reply: Reply | null; code: number }

/** RFC 8489 §9.2.4, in the order the RFC gives. */
function authenticate(state: TurnState, t: ClientTransport, msg: DecodedMessage, attrs: DecodedAttribute[]): AuthOutcome {
  const realm = state.auth.realm
  const challenge = (code: number): AuthOutcome => {
    // A 401 over UDP answers an unauthenticated datagram: rate-limited per source (no reflector).
    if (t.protocol === 'udp' && !state.limiter.allow(t.remote.address)) {
      state.log.debug({ event: 'turn.rate_limited', client: t.key }, 'unauthenticated reply suppressed (rate limit)')
      return { reply: null, code }
    }
    return {
      code,
      reply: {
        cls: Class.ERROR,
        attributes: errorAttrs(code, [
          { type: Attr.REALM, value: encodeText(realm) },
          { type: Attr.NONCE, value: encodeText(state.auth.nonce(t.remote.address)) },
        ]),
      },
    }
  }
  // "If the message does not contain a MESSAGE-INTEGRITY or MESSAGE-INTEGRITY-SHA256 attribute, the server
  // MUST generate an error response with an error code of 401 (Unauthenticated). This response MUST
  // include a REALM value ... a NONCE".
  if (!hasIntegrity(msg)) return challenge(401)
  const get = (type: number) => attrs.find((a) => a.type === type)
  const u = get(Attr.USERNAME)
  const r = get(Attr.REALM)
  const n = get(Attr.NONCE)
  // "If the message contains a MESSAGE-INTEGRITY or a MESSAGE-INTEGRITY-SHA256 attribute, but is missing
  // either the USERNAME or USERHASH, REALM, or NONCE attribute, the server MUST generate an error response
  // with an error code of 400 (Bad Request)."
  if (!u || !r || !n) return { code: 400, reply: { cls: Class.ERROR, attributes: errorAttrs(400) } }
  // "If the NONCE is no longer valid, the server MUST generate an error response with an error code of
  // 438 (Stale Nonce). This response MUST include NONCE, REALM".
  if (state.auth.checkNonce(n.value.toString('utf8'), t.remote.address) !== 'ok') return challenge(438)
  // "If the value of the USERNAME or USERHASH attribute is not valid, the server MUST generate an error
  // response with an error code of 401 (Unauthenticated)." A REALM other than ours cannot match a key.
  const username = u.value.toString('utf8')
  if (r.value.toString('utf8') !== realm) return challenge(401)
  // "Using the password associated with the username in the USERNAME attribute, compute the value for
  // the message integrity as described in Section 14.5. If the resulting value does not match the
  // contents of the corresponding MESSAGE-INTEGRITY attribute, ... 401 (Unauthenticated)."
  for (const key of state.auth.keysFor(username)) {
    if (verifyIntegrity(msg, key) === 'ok') return { username, key }
  }
  return challenge(401)
}
