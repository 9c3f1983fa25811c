/**
 * Every error code has a row in docs/errors.md, and every row names a real code, with the same wire
 * mappings (fastify does this for FST_ERR_*).
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { registeredErrors } from '../../src/core/errors.js'
import '../../modes/index.js'
import '../../src/admin/index.js'

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8')
const rows = new Map<string, string[]>()
for (const line of doc.split('\n')) {
  const m = /^\|\s*`(VIADUCT_ERR_[A-Z0-9_]+)`\s*\|(.*)\|\s*$/.exec(line)
  if (m) rows.set(m[1], m[2].split('|').map((c) => c.trim()))
}

t.test('every registered code is documented', async (t) => {
  const codes = [...registeredErrors().keys()]
  t.ok(codes.length > 10, 'the tables were loaded')
  for (const code of codes) t.ok(rows.has(code), `${code} has a row in docs/errors.md`)
})

t.test('every documented code exists', async (t) => {
  const known = registeredErrors()
  for (const code of rows.keys()) t.ok(known.has(code), `${code} in docs/errors.md is a real code`)
})

t.test('documented wire mappings match the code tables', async (t) => {
  // columns: meaning | HTTP | SOCKS5 | SOCKS4 | STUN | pairing | what to do
  for (const [code, spec] of registeredErrors()) {
    const cells = rows.get(code)
    if (!cells) continue
    const want = [spec.http, spec.socks5, spec.socks4, spec.stun, spec.pairing].map((v, i) =>
      v === undefined ? '' : i === 1 || i === 2 ? `0x${v.toString(16).padStart(2, '0')}` : String(v),
    )
    t.same(cells.slice(1, 6).map((c) => (c === '-' ? '' : c)), want, `${code}: HTTP, SOCKS5, SOCKS4, STUN, pairing columns`)
  }
})
