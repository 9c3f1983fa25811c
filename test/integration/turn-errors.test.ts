/**
 * The TURN server's error paths with the TypeScript client over real sockets: 401 flow, 438 stale nonce
 * (manual clock), 437 mismatch, 441 wrong credentials, 403 denied peers (IPv4-mapped IPv6 normalized),
 * 400/420/440/442/443 request checks, 486 quotas, 508 out of ports, expired permissions and allocations,
 * the bandwidth cap, rate-limited 401s, and Allocate retransmissions.
 */
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { createSocket, type Socket } from 'node:dgram'
import { ManualClock } from '../../src/core/clock.js'
import { startGateway, addr } from '../helpers/gateway.js'
import { TurnClient, TurnClientError } from '../../modes/relay/turn/client.js'
import {
  Attr,
  Class,
  Method,
  decodeErrorCode,
  decodeUnknownAttributes,
  encode,
  encodeAddressFamily,
  encodeRequestedTransport,
  encodeText,
  getAttr,
  longTermKey,
  type DecodedMessage,
  type TransportAddress,
} from '../../modes/relay/turn/stun/index.js'
import type { Gateway } from '../../src/gateway.js'

type Teardown = { teardown(fn: () => unknown): void }
const UDP = encodeRequestedTransport(17)

function codeOf(m: DecodedMessage): number {
  const e = getAttr(m, Attr.ERROR_CODE)
  return e ? decodeErrorCode(e.value).code : 0
}

async function expectCode(t: Pick<Test, 'equal' | 'fail'>, p: Promise<unknown>, code: number, what: string): Promise<void> {
  try {
    await p
    t.fail(`${what}: expected ${code}, got success`)
  } catch (e) {
    t.equal(e instanceof TurnClientError ? e.status : String(e), code, `${what}: ${code}`)
  }
}

async function gateway(t: Teardown, turn: Record<string, unknown>, clock?: ManualClock): Promise<Gateway> {
  return startGateway(t, { relay: { turn: { listen: '127.0.0.1:0', users: ['alice:pw-a', 'bob:pw-b'], ...turn } } }, { clock })
}

async function client(t: Teardown, gw: Gateway, user = 'alice', password = user === 'alice' ? 'pw-a' : 'pw-b', transport: 'udp' | 'tcp' = 'udp'): Promise<TurnClient> {
  const c = await TurnClient.connect({ host: '127.0.0.1', port: addr(gw, `turn-${transport}`).port, transport, username: user, password, rtoMs: 100 })
  t.teardown(() => c.close())
  return c
}

async function udpPeer(t: Teardown): Promise<{ sock: Socket; addr: TransportAddress; got: Buffer[] }> {
  const sock = createSocket('udp4')
  const got: Buffer[] = []
  sock.on('message', (m) => got.push(m))
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => sock.close(() => r())))
  return { sock, addr: { family: 4, address: '127.0.0.1', port: sock.address().port }, got }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

t.test('401 flow: challenge with REALM and NONCE, wrong password, then success', async (t) => {
  const gw = await gateway(t, { realm: 'example.test' })
  const c = await client(t, gw)
  const first = await c.transact(Method.ALLOCATE, [{ type: Attr.REQUESTED_TRANSPORT, value: UDP }], false)
  t.equal(first.cls, Class.ERROR)
  t.equal(codeOf(first), 401)
  t.equal(getAttr(first, Attr.REALM)?.value.toString(), 'example.test')
  t.ok(getAttr(first, Attr.NONCE)?.value.length, 'a NONCE')
  t.notOk(getAttr(first, Attr.MESSAGE_INTEGRITY), 'no MESSAGE-INTEGRITY on a 401')
  const wrong = await client(t, gw, 'alice', 'not-the-password')
  await expectCode(t, wrong.allocate(), 401, 'wrong password')
  const nobody = await client(t, gw, 'mallory', 'x')
  await expectCode(t, nobody.allocate(), 401, 'unknown user')
  // MESSAGE-INTEGRITY without USERNAME/REALM/NONCE is a 400
  const tid = randomBytes(12)
  const noUser = await c.roundTrip(tid, encode({ method: Method.ALLOCATE, cls: Class.REQUEST, transactionId: tid, attributes: [{ type: Attr.REQUESTED_TRANSPORT, value: UDP }] }, { key: Buffer.from('k') }))
  t.equal(codeOf(noUser), 400, 'integrity without USERNAME: 400')
  const ok = await c.allocate()
  t.ok(ok.relayed.port > 0, 'the right password allocates')
  t.equal(gw.ledger.live('relay').length, 1, 'only the successful Allocate is a session')
})

t.test('438 stale nonce: an expired nonce is refused, the client retries with the new one', async (t) => {
  const clock = new ManualClock()
  const gw = await gateway(t, { nonceTtlS: 60, allowPeers: ['127.0.0.0/8'] }, clock)
  const c = await client(t, gw)
  await c.allocate()
  const old = c.nonce!
  clock.tick(61_000)
  // a hand-made request with the old nonce gets 438 with a fresh NONCE and the REALM
  const tid = randomBytes(12)
  const key = longTermKey('alice', c.realm!, 'pw-a')
  const res = await c.roundTrip(
    tid,
    encode(
      {
        method: Method.REFRESH,
        cls: Class.REQUEST,
        transactionId: tid,
        attributes: [
          { type: Attr.USERNAME, value: encodeText('alice') },
          { type: Attr.REALM, value: encodeText(c.realm!) },
          { type: Attr.NONCE, value: encodeText(old) },
        ],
      },
      { key },
    ),
  )
  t.equal(codeOf(res), 438)
  const fresh = getAttr(res, Attr.NONCE)?.value.toString()
  t.ok(fresh && fresh !== old, 'a new nonce')
  t.ok(getAttr(res, Attr.REALM), 'REALM on 438')
  // the client follows the 438 by itself
  t.equal(await c.refresh(700), 700)
  t.not(c.nonce, old, 'the client took the new nonce')
  clock.tick(61_000)
  await c.createPermission({ address: '127.0.0.1' })
  t.pass('CreatePermission after another expiry retried with a fresh nonce')
})

t.test('437 allocation mismatch and 441 wrong credentials', async (t) => {
  const gw = await gateway(t, {})
  const c = await client(t, gw)
  await expectCode(t, c.refresh(), 437, 'Refresh with no allocation')
  await expectCode(t, c.createPermission({ address: '203.0.113.9' }), 437, 'CreatePermission with no allocation')
  await c.allocate()
  await expectCode(t, c.allocate(), 437, 'a second Allocate on the same 5-tuple')
  // bob's credentials on alice's 5-tuple
  const tid = randomBytes(12)
  const res = await c.roundTrip(
    tid,
    encode(
      {
        method: Method.REFRESH,
        cls: Class.REQUEST,
        transactionId: tid,
        attributes: [
          { type: Attr.USERNAME, value: encodeText('bob') },
          { type: Attr.REALM, value: encodeText(c.realm!) },
          { type: Attr.NONCE, value: encodeText(c.nonce!) },
        ],
      },
      { key: longTermKey('bob', c.realm!, 'pw-b') },
    ),
  )
  t.equal(codeOf(res), 441, 'Refresh with another user: 441')
  t.ok(getAttr(res, Attr.MESSAGE_INTEGRITY), 'an authenticated error carries MESSAGE-INTEGRITY')
})

t.test('403 for denied peers; IPv4-mapped IPv6 is normalized before the check', async (t) => {
  const gw = await gateway(t, { denyPeers: ['203.0.113.0/24'] })
  const c = await client(t, gw)
  await c.allocate()
  for (const address of ['127.0.0.1', '10.1.2.3', '192.168.0.1', '169.254.1.1', '0.0.0.0', '224.0.0.1', '203.0.113.7']) {
    await expectCode(t, c.createPermission({ address }), 403, `peer ${address}`)
  }
  for (const address of ['::ffff:127.0.0.1', '::ffff:10.0.0.1', '::127.0.0.1']) {
    await expectCode(t, c.createPermission({ address, family: 6 }), 403, `peer ${address} (mapped/compatible IPv6)`)
  }
  await expectCode(t, c.channelBind(0x4000, { family: 6, address: '::ffff:7f00:1', port: 5000 }), 403, 'ChannelBind to ::ffff:7f00:1')
  await expectCode(t, c.createPermission({ address: '198.51.100.1' }, { address: '127.0.0.1' }), 403, 'one denied peer fails the whole request')
  await c.createPermission({ address: '198.51.100.1' })
  t.pass('a public peer is allowed')
  await expectCode(t, c.createPermission({ address: '2001:4860::1', family: 6 }), 443, 'an IPv6 peer on an IPv4 relay: 443')
})

t.test('allowPeers re-enables a range, also through its IPv4-mapped spelling', async (t) => {
  const gw = await gateway(t, { allowPeers: ['127.0.0.0/8'] })
  const peer = await udpPeer(t)
  const c = await client(t, gw)
  await c.allocate()
  await c.createPermission({ address: '::ffff:127.0.0.1', family: 6 })
  c.send(peer.addr, Buffer.from('mapped'))
  for (let i = 0; i < 50 && peer.got.length === 0; i++) await sleep(10)
  t.equal(peer.got[0]?.toString(), 'mapped', 'permission for the mapped address covers 127.0.0.1')
  await expectCode(t, c.createPermission({ address: '10.0.0.1' }), 403, 'other special ranges stay denied')
  // the gateway's own TURN port is never a peer
  await expectCode(t, c.channelBind(0x4002, { family: 4, address: '127.0.0.1', port: addr(gw, 'turn-udp').port }), 403, 'ChannelBind to the TURN port itself')
})

t.test('request checks: 400, 420, 440, 442, channel range', async (t) => {
  const gw = await gateway(t, { allowPeers: ['127.0.0.0/8'] })
  const c = await client(t, gw)
  await expectCode(t, c.request(Method.ALLOCATE, []), 400, 'Allocate without REQUESTED-TRANSPORT')
  await expectCode(t, c.allocate({ transport: 6 }), 442, 'REQUESTED-TRANSPORT TCP')
  await expectCode(t, c.allocate({ extra: [{ type: Attr.REQUESTED_ADDRESS_FAMILY, value: encodeAddressFamily(2) }] }), 440, 'an IPv6 relayed address from an IPv4 relay')
  try {
    await c.allocate({ extra: [{ type: Attr.DONT_FRAGMENT, value: Buffer.alloc(0) }, { type: 0x7f01, value: Buffer.from([1, 2, 3, 4]) }] })
    t.fail('420 expected')
  } catch (e) {
    const err = e as TurnClientError
    t.equal(err.status, 420, 'unknown comprehension-required attributes: 420')
    t.same(decodeUnknownAttributes(getAttr(err.response!, Attr.UNKNOWN_ATTRIBUTES)!.value), [Attr.DONT_FRAGMENT, 0x7f01], 'listed in UNKNOWN-ATTRIBUTES')
  }
  await c.allocate({ extra: [{ type: 0xc001, value: Buffer.from('optional') }] })
  t.pass('an unknown comprehension-optional attribute is ignored')
  const peer: TransportAddress = { family: 4, address: '127.0.0.1', port: 40000 }
  await expectCode(t, c.channelBind(0x3fff, peer), 400, 'channel 0x3FFF')
  await expectCode(t, c.channelBind(0x8000, peer), 400, 'channel 0x8000')
  await c.channelBind(0x4000, peer)
  await expectCode(t, c.channelBind(0x4000, { ...peer, port: 40001 }), 400, 'a bound channel to another peer')
  await expectCode(t, c.channelBind(0x4003, peer), 400, 'a bound peer to another channel')
  await c.channelBind(0x4000, peer)
  t.pass('re-binding the same channel to the same peer refreshes it')
  await expectCode(t, c.request(Method.CREATE_PERMISSION, []), 400, 'CreatePermission without XOR-PEER-ADDRESS')
  const unknownMethod = await c.transact(0x0ff, [])
  t.equal(codeOf(unknownMethod), 400, 'an unknown method: 400')
})

t.test('486 allocation quota per user and in total', async (t) => {
  const gw = await gateway(t, { maxAllocationsPerUser: 1, maxAllocations: 2 })
  await (await client(t, gw, 'alice')).allocate()
  await expectCode(t, (await client(t, gw, 'alice')).allocate(), 486, 'second allocation of alice')
  await (await client(t, gw, 'bob')).allocate()
  await gw.ledger.live()
  const gw2 = await gateway(t, { maxAllocationsPerUser: 5, maxAllocations: 2 })
  await (await client(t, gw2, 'alice')).allocate()
  await (await client(t, gw2, 'bob')).allocate()
  await expectCode(t, (await client(t, gw2, 'alice')).allocate(), 486, 'third allocation in total')
  t.equal(gw2.ledger.live('relay').length, 2)
})

t.test('508 when the relayed port range is used up', async (t) => {
  const probe = createSocket('udp4')
  await new Promise<void>((r) => probe.bind(0, '127.0.0.1', r))
  const port = probe.address().port
  await new Promise<void>((r) => probe.close(() => r()))
  const gw = await gateway(t, { portMin: port, portMax: port })
  const a = await (await client(t, gw, 'alice')).allocate()
  t.equal(a.relayed.port, port, 'the one port of the range')
  await expectCode(t, (await client(t, gw, 'bob')).allocate(), 508, 'no port left')
  await expectCode(t, (await client(t, gw, 'bob')).allocate({ extra: [{ type: Attr.RESERVATION_TOKEN, value: Buffer.alloc(8, 1) }] }), 508, 'an unknown RESERVATION-TOKEN')
})

t.test('EVEN-PORT with R reserves N+1 for a RESERVATION-TOKEN', async (t) => {
  const gw = await gateway(t, {})
  const c1 = await client(t, gw)
  const res = await c1.request(Method.ALLOCATE, [
    { type: Attr.REQUESTED_TRANSPORT, value: UDP },
    { type: Attr.EVEN_PORT, value: Buffer.from([0x80]) },
  ])
  const relayed = await import('../../modes/relay/turn/stun/index.js').then((m) => m.decodeXorAddress(getAttr(res, Attr.XOR_RELAYED_ADDRESS)!.value, res.transactionId))
  t.equal(relayed.port % 2, 0, 'even port')
  const token = getAttr(res, Attr.RESERVATION_TOKEN)?.value
  t.equal(token?.length, 8, 'an 8-byte RESERVATION-TOKEN')
  const c2 = await client(t, gw)
  const second = await c2.allocate({ extra: [{ type: Attr.RESERVATION_TOKEN, value: token! }] })
  t.equal(second.relayed.port, relayed.port + 1, 'the token gives port N+1')
  await expectCode(t, (await client(t, gw)).allocate({ extra: [{ type: Attr.RESERVATION_TOKEN, value: token! }] }), 508, 'a token works once')
})

t.test('expired permissions drop data both ways; expired allocations end with reason "expired"', async (t) => {
  const clock = new ManualClock()
  const gw = await gateway(t, { allowPeers: ['127.0.0.0/8'], nonceTtlS: 3600 }, clock)
  const peer = await udpPeer(t)
  const c = await client(t, gw)
  const alloc = await c.allocate()
  await c.createPermission({ address: '127.0.0.1' })
  const fromPeer: Buffer[] = []
  c.on('data', (d) => fromPeer.push(d))
  c.send(peer.addr, Buffer.from('one'))
  peer.sock.send('back-one', alloc.relayed.port, '127.0.0.1')
  for (let i = 0; i < 100 && (peer.got.length < 1 || fromPeer.length < 1); i++) await sleep(10)
  t.equal(peer.got.length, 1, 'relayed to the peer while permitted')
  t.equal(fromPeer.length, 1, 'relayed from the peer while permitted')
  clock.tick(301_000)
  c.send(peer.addr, Buffer.from('two'))
  peer.sock.send('back-two', alloc.relayed.port, '127.0.0.1')
  await sleep(200)
  t.equal(peer.got.length, 1, 'after 300 s without refresh, Send is dropped')
  t.equal(fromPeer.length, 1, 'and the peer’s datagram is dropped')
  await c.refresh(600)
  clock.tick(600_000)
  t.equal(gw.ledger.recent('relay')[0]?.reason, 'expired', 'the allocation expired')
  await expectCode(t, c.refresh(), 437, 'an expired allocation is gone')
})

t.test('bandwidth cap drops what exceeds bytes per second', async (t) => {
  const clock = new ManualClock()
  const gw = await gateway(t, { allowPeers: ['127.0.0.0/8'], bandwidthBytesPerS: 1000 }, clock)
  const peer = await udpPeer(t)
  const c = await client(t, gw)
  await c.allocate()
  await c.createPermission({ address: '127.0.0.1' })
  for (let i = 0; i < 5; i++) c.send(peer.addr, Buffer.alloc(400, i))
  await sleep(200)
  t.equal(peer.got.length, 2, '800 of 2000 bytes fit in the first second')
  clock.tick(1000)
  c.send(peer.addr, Buffer.alloc(400, 9))
  await sleep(200)
  t.equal(peer.got.length, 3, 'the bucket refills with time')
})

t.test('401 replies over UDP are rate-limited per source', async (t) => {
  const gw = await gateway(t, { unauthRepliesPerS: 3 })
  const sock = createSocket('udp4')
  t.teardown(() => new Promise<void>((r) => sock.close(() => r())))
  let replies = 0
  sock.on('message', () => replies++)
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r))
  for (let i = 0; i < 20; i++) {
    const tid = randomBytes(12)
    sock.send(encode({ method: Method.ALLOCATE, cls: Class.REQUEST, transactionId: tid, attributes: [{ type: Attr.REQUESTED_TRANSPORT, value: UDP }] }), addr(gw, 'turn-udp').port, '127.0.0.1')
  }
  await sleep(300)
  t.ok(replies >= 1 && replies <= 6, `at most a few 401s for 20 requests in a second (${replies})`)
  // Binding is not limited (its reply is no larger than the request)
  const c = await TurnClient.connect({ host: '127.0.0.1', port: addr(gw, 'turn-udp').port })
  t.teardown(() => c.close())
  t.ok((await c.binding()).port > 0)
})

t.test('a retransmitted Allocate gets the same success, not 437', async (t) => {
  const gw = await gateway(t, {})
  const c = await client(t, gw)
  await expectCode(t, c.refresh(), 437, 'learn realm and nonce') // sets realm/nonce via the 401 path
  const tid = randomBytes(12)
  const bytes = encode(
    {
      method: Method.ALLOCATE,
      cls: Class.REQUEST,
      transactionId: tid,
      attributes: [
        { type: Attr.REQUESTED_TRANSPORT, value: UDP },
        { type: Attr.USERNAME, value: encodeText('alice') },
        { type: Attr.REALM, value: encodeText(c.realm!) },
        { type: Attr.NONCE, value: encodeText(c.nonce!) },
      ],
    },
    { key: longTermKey('alice', c.realm!, 'pw-a') },
  )
  const first = await c.roundTrip(tid, bytes)
  const again = await c.roundTrip(tid, bytes)
  t.equal(first.cls, Class.SUCCESS)
  t.same(again.raw, first.raw, 'identical response')
  t.equal(gw.ledger.live('relay').length, 1, 'one allocation')
})
