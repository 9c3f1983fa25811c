/**
 * The TURN server with the TypeScript client over real sockets: Binding, Allocate, CreatePermission,
 * Send/Data indications, ChannelBind/ChannelData both ways over UDP, TCP and TLS, Refresh with LIFETIME 0,
 * and the ledger record of each allocation.
 */
import t from 'tap'
import { createSocket, type Socket } from 'node:dgram'
import { fileURLToPath } from 'node:url'
import { startGateway, addr } from '../helpers/gateway.js'
import { TurnClient } from '../../modes/relay/turn/client.js'
import type { TransportAddress } from '../../modes/relay/turn/stun/index.js'

const fixture = (f: string) => fileURLToPath(new URL(`../fixtures/tls/${f}`, import.meta.url))

/** A UDP echo peer on loopback. */
async function echoPeer(t: { teardown(fn: () => unknown): void }): Promise<{ sock: Socket; addr: TransportAddress; got: Buffer[] }> {
  const sock = createSocket('udp4')
  const got: Buffer[] = []
  sock.on('message', (m, r) => {
    got.push(m)
    sock.send(m, r.port, r.address)
  })
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => sock.close(() => r())))
  return { sock, addr: { family: 4, address: '127.0.0.1', port: sock.address().port }, got }
}

function nextData(c: TurnClient, ms = 3000): Promise<{ data: Buffer; peer: TransportAddress; channel?: number }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no data from the relay')), ms)
    c.once('data', (data, peer, channel) => {
      clearTimeout(timer)
      resolve({ data, peer, channel })
    })
  })
}

const turnConfig = {
  relay: {
    turn: {
      listen: '127.0.0.1:0',
      users: ['alice:wonderland'],
      allowPeers: ['127.0.0.0/8'],
      tls: { listen: '127.0.0.1:0', cert: fixture('cert.pem'), key: fixture('key.pem') },
    },
  },
}

t.test('Binding answers the client its address on the TURN port without credentials', async (t) => {
  const gw = await startGateway(t, turnConfig)
  const { port } = addr(gw, 'turn-udp')
  const c = await TurnClient.connect({ host: '127.0.0.1', port })
  t.teardown(() => c.close())
  const mapped = await c.binding()
  t.equal(mapped.address, '127.0.0.1')
  t.equal(mapped.port, c.local().port)
  t.equal(gw.ledger.live().length + gw.ledger.recent().length, 0, 'a Binding is not a session')
  const { Method } = await import('../../modes/relay/turn/stun/index.js')
  const res = await c.transact(Method.BINDING, [], false)
  t.equal(res.raw.length, 32, 'a 20-byte Binding gets 32 bytes back (no SOFTWARE, no FINGERPRINT): no amplifier')
})

for (const transport of ['udp', 'tcp', 'tls'] as const) {
  t.test(`relays both ways over ${transport}: Send/Data indications and ChannelData`, async (t) => {
    const gw = await startGateway(t, turnConfig)
    const port = addr(gw, `turn-${transport}`).port
    const peer = await echoPeer(t)
    const c = await TurnClient.connect({ host: '127.0.0.1', port, transport, username: 'alice', password: 'wonderland', tls: { rejectUnauthorized: false } })
    t.teardown(() => c.close())
    const alloc = await c.allocate()
    t.equal(alloc.relayed.address, '127.0.0.1', 'relayed on the listen address')
    t.ok(alloc.relayed.port >= 49152, 'relayed port in the default range')
    t.equal(alloc.lifetime, 600, 'default lifetime')
    t.equal(alloc.mapped.port, c.local().port, 'XOR-MAPPED-ADDRESS is the client')

    await c.createPermission({ address: '127.0.0.1' })
    const p1 = nextData(c)
    c.send(peer.addr, Buffer.from('hello via send'))
    const d1 = await p1
    t.equal(d1.data.toString(), 'hello via send', 'echo came back as a Data indication')
    t.equal(d1.peer.port, peer.addr.port)
    t.equal(d1.channel, undefined)
    t.equal(peer.got[0].toString(), 'hello via send', 'the peer got the payload alone')
    // the peer saw the relayed address as the source
    await c.channelBind(0x4001, peer.addr)
    const p2 = nextData(c)
    c.sendChannel(0x4001, Buffer.from('odd-size!'))
    const d2 = await p2
    t.equal(d2.data.toString(), 'odd-size!', 'echo came back as ChannelData')
    t.equal(d2.channel, 0x4001)

    const live = gw.ledger.live('relay')
    t.equal(live.length, 1, 'one live session for the allocation')
    t.equal(live[0].protocol, `turn-${transport}`)
    t.equal(live[0].user, 'alice')
    t.equal(live[0].peer, '127.0.0.1')
    t.equal(live[0].meta?.relayed, `127.0.0.1:${alloc.relayed.port}`)

    t.equal(await c.refresh(1200), 1200, 'Refresh sets the lifetime')
    t.equal(await c.refresh(0), 0, 'LIFETIME 0 deletes')
    const rec = gw.ledger.recent('relay')[0]
    t.equal(rec.reason, 'deleted')
    t.equal(rec.bytesUp, 'hello via send'.length + 'odd-size!'.length, 'bytes to peers')
    t.equal(rec.bytesDown, 'hello via send'.length + 'odd-size!'.length, 'bytes from peers')
    t.equal(gw.ledger.live('relay').length, 0)
  })
}

t.test('closing the TCP connection ends its allocation (client_closed)', async (t) => {
  const gw = await startGateway(t, turnConfig)
  const c = await TurnClient.connect({ host: '127.0.0.1', port: addr(gw, 'turn-tcp').port, transport: 'tcp', username: 'alice', password: 'wonderland' })
  await c.allocate()
  t.equal(gw.ledger.live('relay').length, 1)
  await c.close()
  const deadline = Date.now() + 2000
  while (gw.ledger.live('relay').length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  t.equal(gw.ledger.recent('relay')[0]?.reason, 'client_closed')
})

t.test('gateway destroy ends live allocations with reason shutdown', async (t) => {
  const gw = await startGateway(t, turnConfig)
  const c = await TurnClient.connect({ host: '127.0.0.1', port: addr(gw, 'turn-udp').port, username: 'alice', password: 'wonderland' })
  t.teardown(() => c.close())
  await c.allocate()
  await gw.destroy()
  t.equal(gw.ledger.recent('relay')[0]?.reason, 'shutdown')
  await gw.destroy()
  t.pass('destroy is safe twice')
})

t.test('IPv6: listening on ::1 relays on ::1 to IPv6 peers', async (t) => {
  const gw = await startGateway(t, { relay: { turn: { listen: '[::1]:0', users: ['alice:wonderland'], allowPeers: ['::1/128'] } } })
  const sock = createSocket('udp6')
  sock.on('message', (m, r) => sock.send(m, r.port, r.address))
  await new Promise<void>((r) => sock.bind(0, '::1', r))
  t.teardown(() => new Promise<void>((r) => sock.close(() => r())))
  const c = await TurnClient.connect({ host: '::1', port: addr(gw, 'turn-udp').port, username: 'alice', password: 'wonderland' })
  t.teardown(() => c.close())
  const a = await c.allocate()
  t.same([a.relayed.family, a.relayed.address], [6, '::1'], 'an IPv6 relayed address')
  t.equal(a.mapped.address, '::1')
  const peer = { family: 6 as const, address: '::1', port: sock.address().port }
  await c.channelBind(0x4100, peer)
  const p = nextData(c)
  c.sendChannel(0x4100, Buffer.from('six'))
  t.equal((await p).data.toString(), 'six')
  try {
    await c.createPermission({ address: '198.51.100.1' })
    t.fail('443 expected')
  } catch (e) {
    t.equal((e as { status?: number }).status, 443, 'an IPv4 peer on an IPv6 relay: 443')
  }
})

t.test('over TCP, a request written one byte at a time is answered', async (t) => {
  const gw = await startGateway(t, turnConfig)
  const { connect } = await import('node:net')
  const { encode, Method, Class, Attr, encodeRequestedTransport, decodeMessage, getAttr, decodeErrorCode } = await import('../../modes/relay/turn/stun/index.js')
  const bytes = encode({ method: Method.ALLOCATE, cls: Class.REQUEST, transactionId: Buffer.alloc(12, 3), attributes: [{ type: Attr.REQUESTED_TRANSPORT, value: encodeRequestedTransport(17) }] }, { fingerprint: true })
  const sock = connect(addr(gw, 'turn-tcp').port, '127.0.0.1')
  t.teardown(() => sock.destroy())
  await new Promise((r) => sock.once('connect', r))
  const reply = new Promise<Buffer>((resolve) => sock.once('data', resolve))
  for (const b of bytes) {
    sock.write(Buffer.from([b]))
    await new Promise((r) => setImmediate(r))
  }
  const m = decodeMessage(await reply)!.value
  t.equal(m.cls, Class.ERROR)
  t.equal(decodeErrorCode(getAttr(m, Attr.ERROR_CODE)!.value).code, 401, 'the challenge came back')
})

t.test('a host name as the listen address ("localhost") works', async (t) => {
  const gw = await startGateway(t, { relay: { turn: { listen: 'localhost:0', users: ['alice:wonderland'] } } })
  const c = await TurnClient.connect({ host: '127.0.0.1', port: addr(gw, 'turn-udp').port, username: 'alice', password: 'wonderland' })
  t.teardown(() => c.close())
  t.equal((await c.binding()).address, '127.0.0.1')
  t.equal((await c.allocate()).relayed.address, '127.0.0.1', 'relayed on the resolved address')
})
