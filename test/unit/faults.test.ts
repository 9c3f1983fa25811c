import t from 'tap'
import { Writable } from 'node:stream'
import { Faults } from '../../src/core/faults.js'
import { createLogger } from '../../src/core/log.js'

t.test('each place is logged once with its stack, and counted every time', async (t) => {
  const lines: Array<Record<string, unknown>> = []
  const dest = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l))
      cb()
    },
  })
  const faults = new Faults(createLogger({ level: 'info', pretty: false, destination: dest }))
  for (let i = 0; i < 5; i++) faults.report('turn.frame', new Error(`bad ${i}`))
  faults.report('ledger.close:x', new TypeError('other'))
  await new Promise((r) => setImmediate(r))
  t.equal(lines.length, 2, 'one line per place')
  t.match(lines[0], { level: 50, event: 'internal_error', where: 'turn.frame', err: { message: 'bad 0', stack: /Error: bad 0\n\s+at / } })
  t.same(new Map(faults.entries()), new Map([['turn.frame', 5], ['ledger.close:x', 1]]))
  t.equal(faults.total, 6)
})

t.test('a logger that throws does not turn a caught fault into an uncaught one', async (t) => {
  const faults = new Faults({
    error() {
      throw new Error('logger down')
    },
  } as never)
  t.doesNotThrow(() => faults.report('x', new Error('y')))
  t.equal(faults.total, 1)
})
