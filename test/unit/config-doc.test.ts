/**
 * docs/configuration.md is generated from the schema: this fails when someone changes a key, a default
 * or a description without regenerating it (`npm run docs`), and when the doc's examples stop validating.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { renderConfigReference } from '../../src/config/doc.js'
import { validateConfig } from '../../src/config/load.js'
import { CORE_FLAGS } from '../../src/cli/main.js'
import { modes } from '../../modes/index.js'

const file = new URL('../../docs/configuration.md', import.meta.url)
const doc = readFileSync(file, 'utf8')

t.test('docs/configuration.md matches the schema (run `npm run docs` to regenerate)', async (t) => {
  const want = renderConfigReference(modes, CORE_FLAGS)
  const docLines = doc.split('\n')
  const wantLines = want.split('\n')
  const firstDiff = wantLines.findIndex((l, i) => l !== docLines[i])
  t.equal(firstDiff, -1, firstDiff < 0 ? 'identical' : `first difference at line ${firstDiff + 1}:\n  doc:    ${docLines[firstDiff]}\n  schema: ${wantLines[firstDiff]}`)
  t.equal(doc.length, want.length, 'same length')
})

t.test('every key of the schema has a description', async (t) => {
  const undocumented = renderConfigReference(modes, CORE_FLAGS)
    .split('\n')
    .filter((l) => l.startsWith('| `') && /\|\s*\|$/.test(l.trimEnd()))
  t.same(undocumented, [], 'no row with an empty description')
})

t.test('the YAML examples in the reference validate', async (t) => {
  const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1])
  t.ok(blocks.length >= 1, 'has an example')
  for (const b of blocks) t.doesNotThrow(() => validateConfig(modes, parseYaml(b)), b.split('\n')[0])
})
