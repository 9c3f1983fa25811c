/** Two peers pair over TCP through a real relay on 127.0.0.1:0, and bytes flow both ways. */
import t from 'tap'
import { once } from 'node:events'
import { connectPeer } from '../../modes/relay/pairing/client.js'
import { startRelay, room, closedWith, waitFor, pairUp } from './pairing-helpers.js'

t.test('two TCP peers pair, exchange bytes both ways, half-close, one ledger record', async (t) => {
  const r = await startRelay(t)
  const id = room()
  const waits: number[] = []
  const pa = connectPeer({ relay: r.relay, id, token: r.token(id), onWaiting: (w) => waits.push(w.waitTimeoutMs) })
  await waitFor(() => waits.length > 0, 5000, 'WAITING')
  const b = await connectPeer({ relay: r.relay, id, token: r.token(id) })
  const a = await pa
  a.on('error', () => undefined)
  b.on('error', () => undefined)
  t.equal(a.pairing.peerTransport, 'tcp')
  t.equal(a.pairing.peer.port, b.pairing.self.port, "A sees B's observed port")
  t.equal(b.pairing.peer.port, a.pairing.self.port, "B sees A's observed port")
  t.equal(a.pairing.self.address, '127.0.0.1')
  t.equal(waits[0], 60_000, 'WAITING carries the wait timeout')

  const gotB: Buffer[] = []
  b.on('data', (c: Buffer) => gotB.push(c))
  a.write('hello from a')
  await waitFor(() => Buffer.concat(gotB).toString() === 'hello from a', 5000, 'data at B')
  const gotA: Buffer[] = []
  a.on('data', (c: Buffer) => gotA.push(c))
  // half-close: A ends, B can still answer
  a.end()
  await once(b, 'end')
  b.end('reply after end')
  await once(a, 'end')
  t.equal(Buffer.concat(gotA).toString(), 'reply after end')
  const rec = await closedWith(r.gw, 'client_closed')
  t.equal(rec.protocol, 'pair-tcp')
  t.equal(rec.bytesUp, 12)
  t.equal(rec.bytesDown, 15)
  t.match(rec.client, /^127\.0\.0\.1:\d+$/)
  t.match(rec.peer, /^127\.0\.0\.1:\d+$/)
  t.equal(rec.meta?.room, id)
})

t.test('early bytes sent before pairing are delivered first', async (t) => {
  const r = await startRelay(t)
  const id = room()
  const { connect } = await import('node:net')
  const { encodeHello } = await import('../../modes/relay/pairing/hello.js')
  const raw = connect(r.port, r.host)
  raw.write(Buffer.concat([encodeHello({ id, token: r.token(id) }), Buffer.from('early!')]))
  await waitFor(() => r.gw.ledger.live('relay').length === 1, 5000, 'waiting record')
  const b = await connectPeer({ relay: r.relay, id, token: r.token(id) })
  b.on('error', () => undefined)
  raw.on('error', () => undefined)
  const chunks: Buffer[] = []
  b.on('data', (c: Buffer) => chunks.push(c))
  await waitFor(() => Buffer.concat(chunks).toString().includes('early!'), 5000, 'early bytes')
  t.equal(Buffer.concat(chunks).toString(), 'early!')
  raw.destroy()
  b.destroy()
})

/** Stream `total` bytes of pseudo-random data into `s` with backpressure; resolves with its sha256. */
async function sendStream(s: import('node:stream').Duplex, total: number): Promise<string> {
  const { createHash, randomBytes } = await import('node:crypto')
  const h = createHash('sha256')
  const block = randomBytes(1024 * 1024)
  let sent = 0
  let n = 0
  while (sent < total) {
    // vary the blocks so a dropped or repeated chunk changes the hash
    const chunk = Buffer.from(block)
    chunk.writeUInt32BE(n++, 0)
    const c = chunk.subarray(0, Math.min(chunk.length, total - sent))
    h.update(c)
    sent += c.length
    if (!s.write(c)) await once(s, 'drain')
  }
  s.end()
  return h.digest('hex')
}

async function hashUntilEnd(s: import('node:stream').Duplex): Promise<{ sha: string; bytes: number }> {
  const { createHash } = await import('node:crypto')
  const h = createHash('sha256')
  let bytes = 0
  // 'data' rather than for-await: the async iterator destroys the stream at its end, which would cut
  // this side's own sending short.
  s.on('data', (c: Buffer) => {
    h.update(c)
    bytes += c.length
  })
  s.resume()
  await once(s, 'end')
  return { sha: h.digest('hex'), bytes }
}

t.test('100 MiB arrive with the same sha256 (streamed both ways at once)', async (t) => {
  const r = await startRelay(t)
  const [a, b] = await pairUp(r)
  const MiB = 1024 * 1024
  const [upSent, downSent, atB, atA] = await Promise.all([sendStream(a, 100 * MiB), sendStream(b, 10 * MiB), hashUntilEnd(b), hashUntilEnd(a)])
  t.equal(atB.bytes, 100 * MiB)
  t.equal(atB.sha, upSent, 'A -> B hash matches')
  t.equal(atA.sha, downSent, 'B -> A hash matches')
  const rec = await closedWith(r.gw, 'client_closed').catch(() => closedWith(r.gw, 'target_closed'))
  t.equal(rec.bytesUp, 100 * MiB, 'ledger counts A -> B exactly')
  t.equal(rec.bytesDown, 10 * MiB, 'ledger counts B -> A exactly')
})

t.test('a slow reader slows the sender: the relay holds a bounded amount', async (t) => {
  const r = await startRelay(t)
  const [a, b] = await pairUp(r)
  b.pause() // B reads nothing for now
  const { randomBytes, createHash } = await import('node:crypto')
  const block = randomBytes(256 * 1024)
  const h = createHash('sha256')
  let written = 0
  let stop = false
  const writer = (async () => {
    while (!stop && written < 400 * 1024 * 1024) {
      h.update(block)
      written += block.length
      if (!a.write(block)) await once(a, 'drain')
    }
  })()
  await new Promise((res) => setTimeout(res, 1500))
  const live = () => r.gw.ledger.live('relay')[0]?.bytesUp ?? 0
  const first = live()
  await new Promise((res) => setTimeout(res, 500))
  const second = live()
  t.equal(second, first, `the relay stopped reading from A while B is stalled (${first} bytes read)`)
  t.ok(first < 24 * 1024 * 1024, `relay read ${(first / 1048576).toFixed(1)} MiB: socket buffers plus one chunk, not everything A offered`)
  t.ok(written < 64 * 1024 * 1024, `A could only write ${(written / 1048576).toFixed(1)} MiB`)
  // now B reads: everything arrives, intact
  stop = true
  const got = hashUntilEnd(b)
  await writer
  a.end()
  const res = await got
  b.end()
  t.equal(res.bytes, written)
  t.equal(res.sha, h.digest('hex'))
})

t.test('a peer dying mid-stream resets the other with a reason; the relay stays healthy', async (t) => {
  const r = await startRelay(t)
  const [a, b] = await pairUp(r)
  const got: Buffer[] = []
  b.on('data', (c: Buffer) => got.push(c))
  a.write('some bytes')
  await waitFor(() => got.length > 0)
  let bError = ''
  b.on('error', (e: NodeJS.ErrnoException) => (bError = e.code ?? ''))
  const bClosed = new Promise((res) => b.once('close', res))
  ;(a as unknown as import('node:net').Socket).resetAndDestroy()
  await bClosed
  t.equal(bError, 'ECONNRESET', 'the reset is propagated as a reset')
  const rec = await closedWith(r.gw, 'VIADUCT_ERR_PAIR_PEER_RESET')
  t.match(rec.detail, /127\.0\.0\.1:\d+/, 'the detail names the peer')
  // another pair still works
  const [c, d] = await pairUp(r)
  d.write('still ok')
  const [chunk] = (await once(c, 'data')) as [Buffer]
  t.equal(chunk.toString(), 'still ok')
  c.destroy()
  d.destroy()
})
