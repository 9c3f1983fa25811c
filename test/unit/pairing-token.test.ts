/** Pairing tokens: mint, verify, expiry, rotation, tampering. */
import t from 'tap'
import fc from 'fast-check'
import { createHmac } from 'node:crypto'
import { mintToken, verifyToken } from '../../modes/relay/pairing/token.js'
import { PairErrors } from '../../modes/relay/pairing/errors.js'

const NOW = 1_700_000_000_000

t.test('a minted token verifies for its room until it expires', async (t) => {
  const tok = mintToken({ secret: 's3cret-value', room: 'r1', ttlS: 60, nowMs: NOW })
  t.match(tok, /^1\.1700000060\.[A-Za-z0-9_-]{43}$/)
  t.same(verifyToken({ token: tok, room: 'r1', secrets: ['s3cret-value'], nowMs: NOW + 59_999 }), { expiry: 1_700_000_060 })
  t.throws(() => verifyToken({ token: tok, room: 'r1', secrets: ['s3cret-value'], nowMs: NOW + 60_000 }), { code: PairErrors.VIADUCT_ERR_PAIR_TOKEN_EXPIRED })
  t.throws(() => verifyToken({ token: tok, room: 'r2', secrets: ['s3cret-value'], nowMs: NOW }), { code: PairErrors.VIADUCT_ERR_PAIR_TOKEN_INVALID }, 'another room')
  t.throws(() => verifyToken({ token: tok, room: 'r1', secrets: ['other-secret'], nowMs: NOW }), { code: PairErrors.VIADUCT_ERR_PAIR_TOKEN_INVALID }, 'another secret')
  t.throws(() => verifyToken({ token: tok, room: 'r1', secrets: [], nowMs: NOW }), { code: PairErrors.VIADUCT_ERR_PAIR_TOKEN_INVALID }, 'no secret')
})

t.test('rotation: every configured secret verifies', async (t) => {
  const old = mintToken({ secret: 'old-secret-1', room: 'r', nowMs: NOW })
  const neu = mintToken({ secret: 'new-secret-2', room: 'r', nowMs: NOW })
  for (const tok of [old, neu]) t.ok(verifyToken({ token: tok, room: 'r', secrets: ['new-secret-2', 'old-secret-1'], nowMs: NOW }))
})

t.test('the format is documented: any language can mint one', async (t) => {
  // docs/relay-protocol.md: "1." expiry "." base64url(HMAC-SHA256(secret, "viaduct-pair:1:" expiry ":" room))
  const expiry = 1_800_000_000
  const sig = createHmac('sha256', 'k-12345678').update(`viaduct-pair:1:${expiry}:room-x`).digest('base64url')
  t.ok(verifyToken({ token: `1.${expiry}.${sig}`, room: 'room-x', secrets: ['k-12345678'], nowMs: NOW }))
})

t.test('tampered or garbage tokens are TOKEN_INVALID, nothing else', async (t) => {
  const tok = mintToken({ secret: 'abcdefgh', room: 'r', nowMs: NOW })
  const later = tok.replace('.1700003600.', '.1700009999.')
  t.throws(() => verifyToken({ token: later, room: 'r', secrets: ['abcdefgh'], nowMs: NOW }), { code: PairErrors.VIADUCT_ERR_PAIR_TOKEN_INVALID }, 'a longer expiry breaks the signature')
  fc.assert(
    fc.property(fc.string({ maxLength: 80 }), (s) => {
      try {
        verifyToken({ token: s, room: 'r', secrets: ['abcdefgh'], nowMs: NOW })
        return false
      } catch (e) {
        return (e as { code: string }).code === PairErrors.VIADUCT_ERR_PAIR_TOKEN_INVALID
      }
    }),
    { numRuns: 500 },
  )
  // a caller's mistake is a configuration error, not a refusal a relay would send
  t.throws(() => mintToken({ secret: 'abcdefgh', room: 'bad room', nowMs: NOW }), { code: 'VIADUCT_ERR_CONFIG_INVALID' })
  t.throws(() => mintToken({ secret: 'abcdefgh', room: 'r', ttlS: 0, nowMs: NOW }), { code: 'VIADUCT_ERR_CONFIG_INVALID' })
  t.throws(() => mintToken({ secret: 'abcdefg', room: 'r', nowMs: NOW }), { code: 'VIADUCT_ERR_CONFIG_INVALID', message: /at least 8 characters/ })
})

t.test('mintToken reads the system clock when no time is given', async (t) => {
  const before = Math.floor(Date.now() / 1000)
  const tok = mintToken({ secret: 'abcdefgh', room: 'r', ttlS: 60 })
  const expiry = Number(tok.split('.')[1])
  t.ok(expiry >= before + 60 && expiry <= Math.floor(Date.now() / 1000) + 60, 'expiry is now + ttl')
  t.same(verifyToken({ token: tok, room: 'r', secrets: ['abcdefgh'], nowMs: Date.now() }), { expiry })
})
