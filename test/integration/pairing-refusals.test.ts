/**
 * Every refusal and limit of the pairing relay over real sockets: each gets its code (on the wire and
 * in the ledger) and the relay keeps pairing others afterwards. Time-based limits use a ManualClock.
 */
import t from 'tap'
import fc from 'fast-check'
import { connect, type Socket } from 'node:net'
import { once } from 'node:events'
import { ManualClock } from '../../src/core/clock.js'
import { connectPeer } from '../../modes/relay/pairing/client.js'
import { encodeHello } from '../../modes/relay/pairing/hello.js'
import { decodeStatus } from '../../modes/relay/pairing/status.js'
import { mintToken } from '../../modes/relay/pairing/token.js'
import { PairErrors as E } from '../../modes/relay/pairing/errors.js'
import { startRelay, room, closedWith, waitFor, pairUp, SECRET, type Relay } from './pairing-helpers.js'

type T = import('tap').Test

async function stillWorks(t: T, r: Relay): Promise<void> {
  const [a, b] = await pairUp(r)
  a.write('ping')
  const [c] = (await once(b, 'data')) as [Buffer]
  t.equal(c.toString(), 'ping', 'another pair still works')
  a.destroy()
  b.destroy()
}

/** Write `bytes` (in pieces) on a raw connection; resolve with everything the relay sent until it closed. */
async function raw(r: Relay, pieces: Buffer[], opts: { end?: boolean } = {}): Promise<{ sock: Socket; reply: Promise<Buffer> }> {
  const sock = connect(r.port, r.host)
  sock.on('error', () => undefined)
  await once(sock, 'connect')
  const chunks: Buffer[] = []
  sock.on('data', (c: Buffer) => chunks.push(c))
  const reply = new Promise<Buffer>((res) => sock.once('close', () => res(Buffer.concat(chunks))))
  for (const p of pieces) {
    sock.write(p)
    await new Promise((res) => setImmediate(res))
  }
  if (opts.end) sock.end()
  return { sock, reply }
}

t.test('wrong, expired, other-room and malformed tokens', async (t) => {
  const r = await startRelay(t)
  const id = room()
  await t.rejects(connectPeer({ relay: r.relay, id, token: mintToken({ secret: 'not-the-secret', room: id, nowMs: Date.now() }) }), { code: E.VIADUCT_ERR_PAIR_TOKEN_INVALID })
  await t.rejects(connectPeer({ relay: r.relay, id, token: mintToken({ secret: SECRET, room: id, ttlS: 60, nowMs: Date.now() - 3_600_000 }) }), { code: E.VIADUCT_ERR_PAIR_TOKEN_EXPIRED })
  await t.rejects(connectPeer({ relay: r.relay, id, token: r.token('another-room') }), { code: E.VIADUCT_ERR_PAIR_TOKEN_INVALID })
  await t.rejects(connectPeer({ relay: r.relay, id, token: 'garbage' }), { code: E.VIADUCT_ERR_PAIR_TOKEN_INVALID })
  const recs = r.gw.ledger.recent('relay')
  t.equal(recs.filter((x) => x.reason === E.VIADUCT_ERR_PAIR_TOKEN_INVALID).length, 3, 'each refusal is a ledger record with its code')
  t.equal(recs.filter((x) => x.reason === E.VIADUCT_ERR_PAIR_TOKEN_EXPIRED).length, 1)
  t.equal(recs[0].meta?.room, id)
  await stillWorks(t, r)
})

t.test('a relay without secrets lets nobody register', async (t) => {
  const r = await startRelay(t, { secrets: [] })
  const id = room()
  await t.rejects(connectPeer({ relay: r.relay, id, token: mintToken({ secret: SECRET, room: id, nowMs: Date.now() }) }), { code: E.VIADUCT_ERR_PAIR_TOKEN_INVALID })
})

t.test('a third peer is refused; the room is free again after the pairing', async (t) => {
  const r = await startRelay(t)
  const id = room()
  const [a, b] = await pairUp(r, { id })
  await t.rejects(connectPeer({ relay: r.relay, id, token: r.token(id) }), { code: E.VIADUCT_ERR_PAIR_ROOM_FULL })
  a.write('x')
  const [c] = (await once(b, 'data')) as [Buffer]
  t.equal(c.toString(), 'x', 'the pairing is unharmed by the refused third peer')
  a.end()
  b.end()
  await closedWith(r.gw, 'client_closed').catch(() => closedWith(r.gw, 'target_closed'))
  await waitFor(() => r.gw.ledger.live('relay').length === 0)
  const [a2, b2] = await pairUp(r, { id })
  t.ok(a2 && b2, 'the same room pairs again')
  a2.destroy()
  b2.destroy()
})

t.test('the same side twice is refused and replaces nothing', async (t) => {
  const r = await startRelay(t)
  const id = room()
  const pa = connectPeer({ relay: r.relay, id, token: r.token(id), side: 'a' })
  await waitFor(() => r.gw.ledger.live('relay').length === 1)
  await t.rejects(connectPeer({ relay: r.relay, id, token: r.token(id), side: 'a' }), { code: E.VIADUCT_ERR_PAIR_SIDE_TAKEN })
  const b = await connectPeer({ relay: r.relay, id, token: r.token(id), side: 'b' })
  const a = await pa
  t.equal(a.pairing.peer.port, b.pairing.self.port, 'A still pairs with B')
  a.destroy()
  b.destroy()
})

t.test('waiting limits: total and per source IP', async (t) => {
  const r = await startRelay(t, { maxWaitingPerIp: 2, maxWaiting: 3 })
  const ids = [room(), room(), room()]
  const waiting = ids.slice(0, 2).map((id) => connectPeer({ relay: r.relay, id, token: r.token(id) }))
  waiting.forEach((p) => p.catch(() => undefined))
  await waitFor(() => r.gw.ledger.live('relay').length === 2)
  await t.rejects(connectPeer({ relay: r.relay, id: ids[2], token: r.token(ids[2]) }), { code: E.VIADUCT_ERR_PAIR_IP_LIMIT })
  // a partner for a waiting room is never limited
  const b = await connectPeer({ relay: r.relay, id: ids[0], token: r.token(ids[0]) })
  const a = await waiting[0]
  t.ok(a.pairing && b.pairing, 'pairing a waiting room is allowed at the limit')
  a.destroy()
  b.destroy()
  const r2 = await startRelay(t, { maxWaiting: 1 })
  const w = connectPeer({ relay: r2.relay, id: 'w1', token: r2.token('w1') })
  w.catch(() => undefined)
  await waitFor(() => r2.gw.ledger.live('relay').length === 1)
  await t.rejects(connectPeer({ relay: r2.relay, id: 'w2', token: r2.token('w2') }), { code: E.VIADUCT_ERR_PAIR_WAIT_LIMIT })
})

t.test('wait timeout, hello timeout, duration and idle limits (ManualClock)', async (t) => {
  const clock = new ManualClock()
  const r = await startRelay(t, { waitTimeoutMs: 30_000, helloTimeoutMs: 5_000, maxDurationMs: 60_000, idleTimeoutMs: 20_000 }, { clock })
  // wait timeout
  const id = room()
  const p = connectPeer({ relay: r.relay, id, token: r.token(id) })
  await waitFor(() => r.gw.ledger.live('relay').length === 1)
  clock.tick(30_000)
  await t.rejects(p, { code: E.VIADUCT_ERR_PAIR_WAIT_TIMEOUT })
  await closedWith(r.gw, E.VIADUCT_ERR_PAIR_WAIT_TIMEOUT)
  // hello timeout: half a hello, then silence
  const hello = encodeHello({ id: 'x', token: r.token('x') })
  const h = await raw(r, [hello.subarray(0, 5)])
  await new Promise((res) => setTimeout(res, 50))
  clock.tick(5_000)
  const st = decodeStatus(await h.reply)
  t.equal(st?.value.status, 19, 'HELLO_TIMEOUT status on the wire')
  await closedWith(r.gw, E.VIADUCT_ERR_PAIR_HELLO_TIMEOUT)
  // idle: traffic keeps it alive, silence ends it
  const [a, b] = await pairUp(r)
  clock.tick(15_000)
  a.write('keep')
  await once(b, 'data')
  clock.tick(15_000)
  t.equal(r.gw.ledger.live('relay').length, 1, 'traffic reset the idle timer')
  const bClosed = new Promise((res) => b.once('close', res))
  clock.tick(20_000)
  await bClosed
  await closedWith(r.gw, 'VIADUCT_ERR_SESSION_IDLE')
  a.destroy()
  // duration
  const [c, d] = await pairUp(r)
  for (let i = 0; i < 5; i++) {
    clock.tick(10_000)
    c.write('.')
    await once(d, 'data')
  }
  t.equal(r.gw.ledger.live('relay').length, 1, 'alive at 50 s')
  clock.tick(10_000)
  await closedWith(r.gw, E.VIADUCT_ERR_PAIR_DURATION_LIMIT)
  await stillWorks(t, r)
})

t.test('byte limit: exactly maxBytes are delivered, then the pairing ends', async (t) => {
  const r = await startRelay(t, { maxBytes: 1000 })
  const [a, b] = await pairUp(r)
  const got: Buffer[] = []
  b.on('data', (c: Buffer) => got.push(c))
  a.write(Buffer.alloc(600, 1))
  await waitFor(() => Buffer.concat(got).length === 600)
  b.write(Buffer.alloc(100, 2))
  a.write(Buffer.alloc(5000, 3))
  await new Promise((res) => b.once('end', res))
  t.equal(Buffer.concat(got).length, 900, 'A -> B got 600 + 300 (1000 minus the 100 B -> A)')
  const rec = await closedWith(r.gw, E.VIADUCT_ERR_PAIR_BYTES_LIMIT)
  t.equal(rec.bytesUp + rec.bytesDown, 1000)
  a.destroy()
  await stillWorks(t, r)
})

t.test('garbage and truncated hellos: random bytes get a refusal, the relay stays healthy', async (t) => {
  const r = await startRelay(t, { helloTimeoutMs: 300 })
  let refused = 0
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 300 }).filter((u) => u[0] !== 0x47), async (u) => {
      const h = await raw(r, [Buffer.from(u)])
      const reply = await h.reply
      const st = decodeStatus(reply)
      if (st && st.value.status >= 10) refused++
      // a refusal status: malformed (11), version (10), a token refusal (14) or a hello timeout (19)
      return st !== null && [10, 11, 14, 19].includes(st.value.status)
    }),
    { numRuns: 25 },
  )
  t.equal(refused, 25, 'every random input got a refusal status')
  const plain = await raw(r, [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')])
  t.match((await plain.reply).toString(), /^HTTP\/1\.1 426/, 'a plain HTTP request gets 426 Upgrade Required')
  await stillWorks(t, r)
})

t.test('a valid hello in random pieces pairs', async (t) => {
  const r = await startRelay(t)
  await fc.assert(
    fc.asyncProperty(fc.array(fc.nat(80), { maxLength: 6 }), async (cuts) => {
      const id = room('split')
      const hello = encodeHello({ id, token: r.token(id) })
      const points = [...new Set(cuts.map((c) => c % hello.length))].sort((x, y) => x - y)
      const pieces: Buffer[] = []
      let prev = 0
      for (const pt of [...points, hello.length]) {
        pieces.push(hello.subarray(prev, pt))
        prev = pt
      }
      const h = await raw(r, pieces.filter((x) => x.length))
      const b = await connectPeer({ relay: r.relay, id, token: r.token(id) })
      b.on('error', () => undefined)
      b.write('hi')
      await waitFor(() => h.sock.bytesRead > 0)
      const ok = b.pairing.peer.port === h.sock.localPort
      h.sock.destroy()
      b.destroy()
      return ok
    }),
    { numRuns: 10 },
  )
  t.pass('10 split hellos paired')
})

t.test('shutdown: waiting peers are refused SHUTDOWN, live pairings drain, then end with shutdown', async (t) => {
  const r = await startRelay(t)
  const id = room()
  const waiting = connectPeer({ relay: r.relay, id, token: r.token(id) })
  const [a, b] = await pairUp(r)
  await waitFor(() => r.gw.ledger.live('relay').length === 2)
  const relay = (r.gw.modes.find((m) => m.name === 'relay') as unknown as { services: Array<{ close(): Promise<void>; destroy(): Promise<void> }> }).services[0]
  let closed = false
  const closing = relay.close().then(() => (closed = true))
  await t.rejects(waiting, { code: E.VIADUCT_ERR_PAIR_SHUTDOWN })
  a.write('still flowing')
  const [c] = (await once(b, 'data')) as [Buffer]
  t.equal(c.toString(), 'still flowing', 'a live pairing keeps working while the relay drains')
  t.equal(closed, false, 'close() waits for the live pairing')
  await t.rejects(connectPeer({ relay: r.relay, id: room(), token: r.token('x'), timeoutMs: 2000 }), { code: E.VIADUCT_ERR_PAIR_CONNECT }, 'no new connections')
  const bClosed = new Promise((res) => b.once('close', res))
  await relay.destroy()
  await bClosed
  await closing
  const rec = await closedWith(r.gw, 'shutdown')
  t.equal(rec.protocol, 'pair-tcp')
})
