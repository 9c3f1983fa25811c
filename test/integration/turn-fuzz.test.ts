/**
 * Random bytes and random-but-well-framed STUN messages into a running TURN server (UDP and TCP) never
 * crash it or leave state behind: afterwards a real client still allocates and relays, each 5-tuple
 * holds at most one allocation, and destroy() leaves no live session. The server is an open relay on
 * loopback here (no users), so random requests reach the method handlers without authentication.
 */
import t from 'tap'
import fc from 'fast-check'
import { createSocket } from 'node:dgram'
import { connect } from 'node:net'
import { startGateway, addr } from '../helpers/gateway.js'
import { TurnClient } from '../../modes/relay/turn/client.js'
import { encodeChannelData } from '../../modes/relay/turn/channel-data.js'
import { Attr, encodeMessage } from '../../modes/relay/turn/stun/index.js'

const TYPES = [...Object.values(Attr), 0x7f7f, 0xbeef]
const stunMessage = fc
  .record({
    method: fc.constantFrom(0x001, 0x003, 0x004, 0x006, 0x008, 0x009, 0x0ff),
    cls: fc.constantFrom(0, 1, 2, 3) as fc.Arbitrary<0 | 1 | 2 | 3>,
    tid: fc.uint8Array({ minLength: 12, maxLength: 12 }),
    attributes: fc.array(
      fc.record({
        type: fc.constantFrom(...TYPES),
        value: fc.oneof(
          fc.uint8Array({ maxLength: 24 }),
          fc.constant(new Uint8Array([17, 0, 0, 0])),
          fc.constant(new Uint8Array([0, 1, 0x21, 0x13, 0x5e, 0x12, 0xa4, 0x43])),
          fc.constant(new Uint8Array([0x40, 0x01, 0, 0])),
        ),
      }),
      { maxLength: 6 },
    ),
  })
  .map((m) => encodeMessage({ method: m.method, cls: m.cls, transactionId: Buffer.from(m.tid), attributes: m.attributes.map((a) => ({ type: a.type, value: Buffer.from(a.value) })) }))
const channelData = fc.record({ ch: fc.integer({ min: 0x4000, max: 0x7fff }), d: fc.uint8Array({ maxLength: 64 }) }).map((c) => encodeChannelData({ channel: c.ch, data: Buffer.from(c.d) }))
const anyBytes = fc.uint8Array({ maxLength: 120 }).map((u) => Buffer.from(u))
const input = fc.oneof(stunMessage, channelData, anyBytes)

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

t.test('random datagrams and streams into the TURN server', async (t) => {
  const gw = await startGateway(t, { relay: { turn: { listen: '127.0.0.1:0', allowPeers: ['127.0.0.0/8'] } } })
  const port = addr(gw, 'turn-udp').port
  const samples = fc.sample(input, { numRuns: 3000, seed: 42 })

  const sock = createSocket('udp4')
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r))
  for (let i = 0; i < samples.length; i++) {
    sock.send(samples[i], port, '127.0.0.1')
    if (i % 100 === 99) await sleep(5)
  }
  await sleep(200)
  t.ok(gw.ledger.live('relay').length <= 1, `one UDP 5-tuple holds at most one allocation (${gw.ledger.live('relay').length})`)
  await new Promise<void>((r) => sock.close(() => r()))

  // streams: each connection gets a random sequence of frames and garbage, in random pieces
  const streams = fc.sample(fc.array(input, { minLength: 1, maxLength: 12 }), { numRuns: 60, seed: 7 })
  let closedByServer = 0
  await Promise.all(
    streams.map(
      (parts) =>
        new Promise<void>((resolve) => {
          const s = connect(port, '127.0.0.1', async () => {
            for (const p of parts) {
              if (s.destroyed) break
              s.write(p)
              await sleep(1)
            }
            setTimeout(() => s.destroy(), 100)
          })
          s.on('error', () => undefined)
          s.on('end', () => closedByServer++)
          s.on('close', () => resolve())
        }),
    ),
  )
  t.ok(closedByServer > 0, `the server closed connections that sent garbage (${closedByServer})`)

  // still serving: a real client allocates and relays
  const peer = createSocket('udp4')
  const got: Buffer[] = []
  peer.on('message', (m) => got.push(m))
  await new Promise<void>((r) => peer.bind(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => peer.close(() => r())))
  const c = await TurnClient.connect({ host: '127.0.0.1', port })
  t.teardown(() => c.close())
  await c.allocate()
  await c.createPermission({ address: '127.0.0.1' })
  c.send({ family: 4, address: '127.0.0.1', port: peer.address().port }, Buffer.from('still alive'))
  for (let i = 0; i < 100 && got.length === 0; i++) await sleep(10)
  t.equal(got[0]?.toString(), 'still alive', 'the server still relays')

  await gw.destroy()
  t.equal(gw.ledger.live().length, 0, 'destroy leaves no live session')
  t.ok(gw.ledger.recent('relay').every((r) => r.state === 'closed' && r.reason), 'every allocation record finished with a reason')
})
