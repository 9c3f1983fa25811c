/**
 * Two peers through Viaduct's pairing relay, from code: a TCP peer and a WebSocket peer pair in one room
 * (stream to stream), then two UDP peers pair in another. Both peers run in this one process to keep the
 * example short; in real use each runs on its own machine behind its own NAT.
 *
 *   viaduct start --relay 127.0.0.1:7070 --relay-secret "$SECRET"
 *   VIADUCT_RELAY_SECRET="$SECRET" node --import @tapjs/typescript/import examples/pairing/demo.ts [127.0.0.1:7070]
 */
import { once } from 'node:events'
import { connectPeer, mintToken } from '../../modes/index.js'

const relay = process.argv[2] ?? '127.0.0.1:7070'
const secret = process.env.VIADUCT_RELAY_SECRET
if (!secret) {
  console.error('set VIADUCT_RELAY_SECRET to the relay secret')
  process.exit(2)
}
// In a real application a web service mints tokens and hands one to each peer.
const token = (room: string) => mintToken({ secret, room, ttlS: 300, nowMs: Date.now() })
const addr = (a: { address: string; port: number }) => `${a.address}:${a.port}`

// 1. streams: A over TCP registers first and waits; B over WebSocket completes the pair.
const room = `demo-${process.pid}`
const pendingA = connectPeer({ relay, id: room, token: token(room), side: 'a', onWaiting: () => console.log('A: waiting for B') })
await new Promise((r) => setTimeout(r, 200))
const b = await connectPeer({ relay, id: room, token: token(room), side: 'b', transport: 'ws' })
const a = await pendingA
console.log(`A: paired; relay sees me as ${addr(a.pairing.self)}, B as ${addr(a.pairing.peer)} (${a.pairing.peerTransport})`)

b.on('data', (d: Buffer) => {
  console.log(`B got: ${d.toString()}`)
  b.end(`echo: ${d.toString()}`) // answer, then close (a WebSocket closes as a whole)
})
a.write('hello from A')
const [reply] = (await once(a, 'data')) as [Buffer]
console.log(`A got: ${reply.toString()}`)
a.end()

// 2. datagrams: two UDP peers; each send() is one datagram to the other.
const udpRoom = `demo-udp-${process.pid}`
const pendingU = connectPeer({ relay, id: udpRoom, token: token(udpRoom), transport: 'udp' })
await new Promise((r) => setTimeout(r, 200))
const v = await connectPeer({ relay, id: udpRoom, token: token(udpRoom), transport: 'udp' })
const u = await pendingU
const got = once(v, 'message')
u.send(Buffer.from('one datagram'))
const [dgram] = (await got) as [Buffer]
console.log(`UDP peer got: ${dgram.toString()} (sent from ${addr(u.pairing.self)})`)
u.close()
v.close()
