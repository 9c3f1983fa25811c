/**
 * The session survives any split of the handshake on a real socket: fast-check picks cut points in a
 * SOCKS5 (with username/password) or SOCKS4A handshake, the pieces are written with pauses between them,
 * and the tunnel must work every time.
 */
import t from 'tap'
import fc from 'fast-check'
import { connect } from 'node:net'
import { encodeAddress } from '../../modes/forward/socks/codec.js'
import { echoServer, socksGateway } from '../helpers/socks-fixtures.js'
import { settle } from '../helpers/gateway.js'

function pieces(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % bytes.length))].filter((p) => p > 0).sort((a, b) => a - b)
  const out: Buffer[] = []
  let at = 0
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(at, p))
    at = p
  }
  return out
}

/** Write the pieces with small pauses, then "ping"; resolve with everything received. */
function run(port: number, parts: Buffer[], expectBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port })
    let got = Buffer.alloc(0)
    const timer = setTimeout(() => {
      s.destroy()
      reject(new Error(`timeout, got ${got.toString('hex')}`))
    }, 5000)
    s.on('data', (c) => {
      got = Buffer.concat([got, c])
      if (got.length >= expectBytes) {
        clearTimeout(timer)
        s.destroy()
        resolve(got)
      }
    })
    s.on('error', reject)
    s.on('connect', async () => {
      for (const p of parts) {
        s.write(p)
        await new Promise((r) => setTimeout(r, 2))
      }
    })
  })
}

t.test('SOCKS5 with username/password, split anywhere', async (t) => {
  const echo = await echoServer(t)
  const { gw, port } = await socksGateway(t, { users: ['split:test'] })
  const auth = Buffer.concat([Buffer.from([1, 5]), Buffer.from('split'), Buffer.from([4]), Buffer.from('test')])
  const hs = Buffer.concat([Buffer.from([5, 2, 0, 2]), auth, Buffer.from([5, 1, 0]), encodeAddress('localhost', echo.port), Buffer.from('ping')])
  // method reply 2 + auth reply 2 + CONNECT reply 10 + echo 4
  await fc.assert(
    fc.asyncProperty(fc.array(fc.nat(), { maxLength: 10 }), async (cuts) => {
      const got = await run(port, pieces(hs, cuts), 18)
      return got.subarray(0, 4).equals(Buffer.from([5, 2, 1, 0])) && got[5] === 0 && got.subarray(14).toString() === 'ping'
    }),
    { numRuns: 25 },
  )
  const recs = await settle(gw)
  t.ok(recs.length >= 25 && recs.every((r) => r.user === 'split' && r.protocol === 'socks5'), `${recs.length} sessions, all authenticated`)
})

t.test('SOCKS4A, split anywhere', async (t) => {
  const echo = await echoServer(t)
  const { port } = await socksGateway(t)
  const head = Buffer.from([4, 1, echo.port >> 8, echo.port & 0xff, 0, 0, 0, 9])
  const hs = Buffer.concat([head, Buffer.from('someone\0localhost\0'), Buffer.from('ping')])
  await fc.assert(
    fc.asyncProperty(fc.array(fc.nat(), { maxLength: 10 }), async (cuts) => {
      const got = await run(port, pieces(hs, cuts), 12)
      return got[1] === 0x5a && got.subarray(8).toString() === 'ping'
    }),
    { numRuns: 25 },
  )
  t.pass('every split worked')
})
