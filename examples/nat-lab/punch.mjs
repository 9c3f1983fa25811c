// One side of the hole-punch attempt in the NAT lab (run by nat-lab.sh inside a peer namespace).
//
// It binds one UDP socket, registers with the relay over UDP (the pairing protocol's hello), and learns
// from the PAIRED status the other peer's public address as the relay saw it: what a STUN server would
// have told a WebRTC peer. Then it tries the classic hole punch from the SAME socket: send to the
// other's public address for a few seconds and count what arrives directly. Behind port-randomizing
// NATs this fails: the NAT maps the new destination to a new random public port, so the address the
// relay saw is useless for anyone but the relay.
//
// usage: node punch.mjs RELAY_IP RELAY_PORT ROOM TOKEN LOCAL_PORT SECONDS
import { createSocket } from 'node:dgram'
import { fileURLToPath } from 'node:url'

const dist = new URL('../../dist/modes/relay/pairing/', import.meta.url)
const { encodeHello } = await import(new URL('hello.js', dist).href)
const { decodeStatus } = await import(new URL('status.js', dist).href)

const [relayIp, relayPort, room, token, localPort, seconds] = process.argv.slice(2)
const me = process.env.LAB_NAME ?? fileURLToPath(import.meta.url)
const sock = createSocket('udp4')
await new Promise((r) => sock.bind(Number(localPort), r))
const hello = encodeHello({ id: room, token })

const paired = await new Promise((resolve, reject) => {
  const retry = setInterval(() => sock.send(hello, Number(relayPort), relayIp), 500)
  sock.send(hello, Number(relayPort), relayIp)
  const timer = setTimeout(() => reject(new Error('no PAIRED from the relay in 20 s')), 20_000)
  sock.on('message', function onMsg(msg, rinfo) {
    if (rinfo.address !== relayIp) return
    const r = decodeStatus(msg)
    if (!r || r.value.status === 0) return
    clearInterval(retry)
    clearTimeout(timer)
    sock.off('message', onMsg)
    if (r.value.status !== 1) return reject(new Error(`relay refused: status ${r.value.status}`))
    resolve(r.value)
  })
})
console.log(`${me}: local port ${localPort}; the relay saw me as ${paired.self.address}:${paired.self.port} and the peer as ${paired.peer.address}:${paired.peer.port}`)

let direct = 0
sock.on('message', (msg, rinfo) => {
  if (rinfo.address === paired.peer.address) direct++
})
const end = Date.now() + Number(seconds) * 1000
while (Date.now() < end) {
  sock.send(Buffer.from(`punch from ${me}`), paired.peer.port, paired.peer.address)
  await new Promise((r) => setTimeout(r, 100))
}
console.log(`${me}: DIRECT datagrams received from the peer's public address: ${direct}`)
sock.close()
process.exitCode = direct > 0 ? 10 : 0
