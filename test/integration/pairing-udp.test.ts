/** The pairing relay over UDP: 5-tuple learning, forwarding, keepalives, expiry, refusals. */
import t from 'tap'
import { createSocket, type Socket } from 'node:dgram'
import { once } from 'node:events'
import { ManualClock } from '../../src/core/clock.js'
import type { Gateway } from '../../src/gateway.js'
import { connectPeer, type PeerDatagram } from '../../modes/relay/pairing/client.js'
import { encodeHello } from '../../modes/relay/pairing/hello.js'
import { decodeStatus } from '../../modes/relay/pairing/status.js'
import type { PairingRelay } from '../../modes/relay/pairing/server.js'
import { PairErrors as E } from '../../modes/relay/pairing/errors.js'
import { startRelay, room, closedWith, waitFor, type Relay } from './pairing-helpers.js'

function relayOf(gw: Gateway): PairingRelay {
  const mode = gw.modes.find((m) => m.name === 'relay') as unknown as { services: PairingRelay[] }
  return mode.services[0]
}

async function udpPair(t: { teardown(f: () => void): void }, r: Relay, opts: { keepaliveMs?: number } = {}): Promise<[PeerDatagram, PeerDatagram, string]> {
  const id = room('udp')
  const pa = connectPeer({ relay: r.relay, id, token: r.token(id), transport: 'udp', ...opts })
  await waitFor(() => r.gw.ledger.live('relay').some((x) => x.meta?.room === id))
  const b = await connectPeer({ relay: r.relay, id, token: r.token(id), transport: 'udp', ...opts })
  const a = await pa
  t.teardown(() => {
    a.close()
    b.close()
  })
  return [a, b, id]
}

function next(d: PeerDatagram): Promise<Buffer> {
  return once(d, 'message').then(([m]) => m as Buffer)
}

async function stillWorks(t: import('tap').Test, r: Relay) {
  const [a, b] = await udpPair(t, r)
  const got = next(b)
  a.send(Buffer.from('still ok'))
  t.equal((await got).toString(), 'still ok', 'another UDP pair still works')
}

async function rawUdp(t: { teardown(f: () => void): void }): Promise<{ sock: Socket; replies: Buffer[] }> {
  const sock = createSocket('udp4')
  const replies: Buffer[] = []
  sock.on('message', (m) => replies.push(m))
  await new Promise<void>((res) => sock.bind(0, '127.0.0.1', () => res()))
  t.teardown(() => sock.close())
  return { sock, replies }
}

t.test('two UDP peers pair; datagrams flow both ways to the learned 5-tuples', async (t) => {
  const r = await startRelay(t)
  t.equal(r.udpPort, r.port, 'UDP and TCP share the port')
  const [a, b, id] = await udpPair(t, r)
  t.equal(a.pairing.selfTransport, 'udp')
  t.equal(a.pairing.peer.port, b.pairing.self.port)
  t.equal(b.pairing.self.port, b.socket.address().port, "the relay saw B's real source port")
  const toB = next(b)
  a.send(Buffer.from('hello b'))
  t.equal((await toB).toString(), 'hello b')
  const toA = next(a)
  b.send(Buffer.alloc(1200, 7))
  t.equal((await toA).length, 1200)
  const live = await waitFor(() => r.gw.ledger.live('relay').find((x) => x.meta?.room === id && x.bytesDown > 0))
  t.equal(live.protocol, 'pair-udp')
  t.equal(live.bytesUp, 7)
  t.equal(live.bytesDown, 1200)
  t.throws(() => a.send(Buffer.alloc(0)), RangeError, 'an empty datagram is a keepalive, not data')
})

t.test('keepalives and retransmitted hellos are not forwarded; unknown sources are dropped and counted', async (t) => {
  const r = await startRelay(t)
  const [a, b, id] = await udpPair(t, r)
  const atB: Buffer[] = []
  b.on('message', (m) => atB.push(m))
  const relay = relayOf(r.gw)
  const before = relay.stats().udp!
  a.socket.send(Buffer.alloc(0)) // keepalive
  // A retransmits its hello (as if PAIRED got lost): the relay answers PAIRED again, B sees nothing
  const again = once(a.socket, 'message')
  a.socket.send(encodeHello({ id, token: r.token(id) }))
  const [st] = (await again) as [Buffer]
  t.equal(decodeStatus(st)?.value.status, 1, 'PAIRED again')
  // a stranger sends to the relay port: dropped, never answered
  const x = await rawUdp(t)
  x.sock.send(Buffer.from('not a hello'), r.udpPort, r.host)
  x.sock.send(Buffer.from('VDxxxxxx'), r.udpPort, r.host)
  x.sock.send(Buffer.from('VD'), r.udpPort, r.host)
  await waitFor(() => relay.stats().udp!.droppedUnknown >= before.droppedUnknown + 1 && relay.stats().udp!.keepalives > before.keepalives)
  a.send(Buffer.from('data'))
  await waitFor(() => atB.length > 0)
  await new Promise((res) => setTimeout(res, 50))
  t.same(atB.map((m) => m.toString()), ['data'], 'only the data datagram reached B')
  await waitFor(() => x.replies.length > 0)
  await new Promise((res) => setTimeout(res, 50))
  t.equal(x.replies.length, 1, 'only the 8-byte "VD..." stranger got an answer (a refusal no longer than its datagram)')
  t.ok(x.replies[0].length <= 8)
})

t.test('refusals over UDP: bad token, transport mismatch, malformed; each recorded', async (t) => {
  const r = await startRelay(t)
  const id = room()
  await t.rejects(connectPeer({ relay: r.relay, id, token: 'nope', transport: 'udp' }), { code: E.VIADUCT_ERR_PAIR_TOKEN_INVALID })
  const tcp = connectPeer({ relay: r.relay, id, token: r.token(id) })
  tcp.catch(() => undefined)
  await waitFor(() => r.gw.ledger.live('relay').length === 1)
  await t.rejects(connectPeer({ relay: r.relay, id, token: r.token(id), transport: 'udp' }), { code: E.VIADUCT_ERR_PAIR_TRANSPORT })
  const x = await rawUdp(t)
  const bad = encodeHello({ id: 'abc', token: 'def' })
  bad[2] = 9
  x.sock.send(bad, r.udpPort, r.host)
  x.sock.send(Buffer.concat([encodeHello({ id: 'abc', token: r.token('abc') }), Buffer.from('tail')]), r.udpPort, r.host)
  await waitFor(() => x.replies.length === 2)
  t.same(x.replies.map((m) => decodeStatus(m)?.value.status).sort(), [10, 11], 'VERSION and MALFORMED refusals')
  const reasons = r.gw.ledger.recent('relay').map((x) => x.reason)
  for (const c of [E.VIADUCT_ERR_PAIR_TOKEN_INVALID, E.VIADUCT_ERR_PAIR_TRANSPORT, E.VIADUCT_ERR_PAIR_VERSION, E.VIADUCT_ERR_PAIR_MALFORMED]) t.ok(reasons.includes(c), `${c} in the ledger`)
  await stillWorks(t, r)
})

t.test('mapping expiry, wait timeout and byte limit (ManualClock)', async (t) => {
  const clock = new ManualClock()
  const r = await startRelay(t, { udpIdleTimeoutMs: 10_000, waitTimeoutMs: 8_000, maxBytes: 3000 }, { clock })
  const relay = relayOf(r.gw)
  // expiry: A keeps its mapping alive with keepalives, B goes quiet
  const [a, b] = await udpPair(t, r, { keepaliveMs: 0 })
  clock.tick(6_000)
  a.socket.send(Buffer.alloc(0))
  await waitFor(() => relay.stats().udp!.keepalives === 1)
  clock.tick(6_000)
  const rec = await closedWith(r.gw, E.VIADUCT_ERR_PAIR_MAPPING_EXPIRED)
  t.match(rec.detail, /sent nothing/)
  const dropped = relay.stats().udp!.droppedUnknown
  b.send(Buffer.from('too late'))
  await waitFor(() => relay.stats().udp!.droppedUnknown === dropped + 1)
  t.pass('after expiry the old 5-tuple is unknown: its datagram is dropped and counted')
  // wait timeout
  const id = room()
  const p = connectPeer({ relay: r.relay, id, token: r.token(id), transport: 'udp', helloRetryMs: 60_000 })
  await waitFor(() => r.gw.ledger.live('relay').length === 1)
  clock.tick(8_000)
  await t.rejects(p, { code: E.VIADUCT_ERR_PAIR_WAIT_TIMEOUT })
  // byte limit
  const [c, d] = await udpPair(t, r, { keepaliveMs: 0 })
  const n = next(d)
  c.send(Buffer.alloc(2000))
  await n
  c.send(Buffer.alloc(1001))
  await closedWith(r.gw, E.VIADUCT_ERR_PAIR_BYTES_LIMIT)
  await stillWorks(t, r)
})

t.test('a waiting 5-tuple that sends a different hello is refused ALREADY_REGISTERED and keeps its registration', async (t) => {
  const r = await startRelay(t)
  const x = await rawUdp(t)
  const id = room()
  x.sock.send(encodeHello({ id, token: r.token(id) }), r.udpPort, r.host)
  await waitFor(() => x.replies.length === 1)
  t.equal(decodeStatus(x.replies[0])?.value.status, 0, 'WAITING')
  const other = room()
  x.sock.send(encodeHello({ id: other, token: r.token(other) }), r.udpPort, r.host)
  await waitFor(() => x.replies.length === 2)
  t.equal(decodeStatus(x.replies[1])?.value.status, 21, 'ALREADY_REGISTERED')
  const b = await connectPeer({ relay: r.relay, id, token: r.token(id), transport: 'udp' })
  t.teardown(() => b.close())
  t.equal(b.pairing.peer.port, x.sock.address().port, 'the first registration still pairs')
})
