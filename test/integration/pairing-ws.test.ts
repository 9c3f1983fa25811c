/** WebSocket peers on the relay port (HTTP Upgrade on the TCP port), with each other and with TCP peers. */
import t from 'tap'
import { once } from 'node:events'
import { createHash, randomBytes } from 'node:crypto'
import { WebSocket } from 'ws'
import { connectPeer } from '../../modes/relay/pairing/client.js'
import { encodeHello } from '../../modes/relay/pairing/hello.js'
import { decodeStatus } from '../../modes/relay/pairing/status.js'
import { PairErrors as E } from '../../modes/relay/pairing/errors.js'
import { startRelay, room, closedWith, waitFor, pairUp } from './pairing-helpers.js'

t.test('WebSocket <-> WebSocket', async (t) => {
  const r = await startRelay(t)
  const [a, b] = await pairUp(r, { a: 'ws', b: 'ws' })
  t.equal(a.pairing.selfTransport, 'ws')
  t.equal(a.pairing.peerTransport, 'ws')
  a.write('over ws')
  const [m] = (await once(b, 'data')) as [Buffer]
  t.equal(m.toString(), 'over ws')
  a.end()
  await new Promise((res) => b.once('close', res))
  const rec = await waitFor(() => r.gw.ledger.recent('relay')[0])
  t.equal(rec.protocol, 'pair-ws')
  t.equal(rec.bytesUp, 7)
})

t.test('WebSocket <-> TCP, stream to stream, 8 MiB each way with matching hashes', async (t) => {
  const r = await startRelay(t)
  const [w, c] = await pairUp(r, { a: 'ws', b: 'tcp' })
  t.equal(w.pairing.peerTransport, 'tcp')
  t.equal(c.pairing.peerTransport, 'ws')
  const size = 8 * 1024 * 1024
  const hashOf = (s: import('node:stream').Duplex) =>
    new Promise<string>((res) => {
      const h = createHash('sha256')
      let n = 0
      s.on('data', (x: Buffer) => {
        h.update(x)
        n += x.length
        if (n === size) res(h.digest('hex'))
      })
    })
  const send = async (s: import('node:stream').Duplex) => {
    const h = createHash('sha256')
    for (let i = 0; i < size / 65536; i++) {
      const x = randomBytes(65536)
      h.update(x)
      if (!s.write(x)) await once(s, 'drain')
    }
    return h.digest('hex')
  }
  const [s1, s2, r1, r2] = await Promise.all([send(w), send(c), hashOf(c), hashOf(w)])
  t.equal(r1, s1, 'ws -> tcp intact')
  t.equal(r2, s2, 'tcp -> ws intact')
  c.end()
  await new Promise((res) => w.once('close', res))
  const rec = await closedWith(r.gw, 'target_closed')
  t.equal(rec.protocol, 'pair-ws-tcp')
  t.equal(rec.bytesUp, size, 'payload bytes only (no WebSocket framing) up')
  t.equal(rec.bytesDown, size)
})

t.test('refusals over WebSocket: a status message, then close code 4000 + status', async (t) => {
  const r = await startRelay(t)
  const id = room()
  await t.rejects(connectPeer({ relay: r.relay, id, token: 'bad', transport: 'ws' }), { code: E.VIADUCT_ERR_PAIR_TOKEN_INVALID })
  const ws = new WebSocket(`ws://${r.relay}/any/path`)
  const msgs: Buffer[] = []
  ws.on('message', (m: Buffer) => msgs.push(m))
  await once(ws, 'open')
  ws.send('a text message is not a hello')
  const [code, reason] = (await once(ws, 'close')) as [number, Buffer]
  t.equal(code, 4011, 'MALFORMED: 4000 + 11')
  t.equal(reason.toString(), E.VIADUCT_ERR_PAIR_MALFORMED)
  t.equal(decodeStatus(msgs[0])?.value.status, 11)
  const ws2 = new WebSocket(`ws://${r.relay}/`)
  await once(ws2, 'open')
  ws2.send(encodeHello({ id: 'x', token: r.token('x') }).subarray(0, 10))
  const [code2] = (await once(ws2, 'close')) as [number]
  t.equal(code2, 4011, 'a hello cut short in its message is malformed')
  const [a, b] = await pairUp(r, { a: 'ws', b: 'ws' })
  a.destroy()
  b.destroy()
  t.pass('another pair still works')
})

t.test('websocket: false refuses HTTP on the relay port as a malformed hello', async (t) => {
  const r = await startRelay(t, { websocket: false })
  await t.rejects(connectPeer({ relay: r.relay, id: 'x', token: r.token('x'), transport: 'ws' }), { code: E.VIADUCT_ERR_PAIR_CONNECT })
  await closedWith(r.gw, E.VIADUCT_ERR_PAIR_MALFORMED)
})

t.test('a WebSocket peer that drops its connection resets its TCP partner (PEER_RESET)', async (t) => {
  const r = await startRelay(t)
  const [w, c] = await pairUp(r, { a: 'ws', b: 'tcp' })
  w.write('x')
  await once(c, 'data')
  const cClosed = new Promise((res) => c.once('close', res))
  w.destroy() // terminates the WebSocket without a close frame (1006)
  await cClosed
  const rec = await closedWith(r.gw, E.VIADUCT_ERR_PAIR_PEER_RESET)
  t.equal(rec.protocol, 'pair-ws-tcp')
})
