/** The STUN codec in one import, plus a helper that encodes a message with integrity and fingerprint. */
import { appendFingerprint } from './fingerprint.js'
import { appendIntegrity } from './integrity.js'
import { encodeMessage, type StunMessage } from './message.js'

export * from './constants.js'
export * from './message.js'
export * from './address.js'
export * from './attributes.js'
export * from './integrity.js'
export * from './fingerprint.js'

export interface EncodeOptions {
  /** Long-term (or short-term) key: append MESSAGE-INTEGRITY. */
  key?: Buffer
  /** Append FINGERPRINT last. */
  fingerprint?: boolean
}

export function encode(msg: StunMessage, opts: EncodeOptions = {}): Buffer {
  let out = encodeMessage(msg)
  if (opts.key) out = appendIntegrity(out, opts.key)
  if (opts.fingerprint) out = appendFingerprint(out)
  return out
}
