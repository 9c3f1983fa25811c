/**
 * BIND (forward.socks.bind = true) with the `socks` client: the first reply names the port to connect to,
 * only the named host may connect, the second reply names the connecting host, then bytes flow.
 */
import t from 'tap'
import { connect, type Socket } from 'node:net'
import { SocksClient } from 'socks'
import { socksGateway } from '../helpers/socks-fixtures.js'
import { settle } from '../helpers/gateway.js'

function bind(port: number, type: 4 | 5, expect: string) {
  const client = new SocksClient({ command: 'bind', proxy: { host: '127.0.0.1', port, type }, destination: { host: expect, port: 0 }, timeout: 5000 })
  const bound = new Promise<{ host: string; port: number }>((resolve, reject) => {
    client.once('bound', (info) => resolve(info.remoteHost!))
    client.once('error', reject)
  })
  const established = new Promise<{ socket: Socket; remoteHost: { host: string; port: number } }>((resolve, reject) => {
    client.once('established', (info) => resolve({ socket: info.socket, remoteHost: info.remoteHost! }))
    client.once('error', reject)
  })
  established.catch(() => undefined)
  client.connect()
  return { bound, established }
}

for (const type of [5, 4] as const) {
  t.test(`SOCKS${type} BIND: one incoming connection from the named host`, async (t) => {
    const { gw, port } = await socksGateway(t, { socks: { bind: true } })
    const b = bind(port, type, '127.0.0.1')
    const where = await b.bound
    t.ok(where.port > 0, `first reply: listening on ${where.host}:${where.port}`)
    // a host other than the named one is turned away (127.0.0.2 is loopback too)
    const stranger = connect({ host: '127.0.0.1', port: where.port, localAddress: '127.0.0.2' })
    stranger.on('error', () => undefined)
    await new Promise((r) => stranger.once('close', r))
    t.pass('a connection from 127.0.0.2 is closed')
    const peer = connect({ host: '127.0.0.1', port: where.port })
    peer.on('error', () => undefined)
    const { socket, remoteHost } = await b.established
    t.equal(remoteHost.host, '127.0.0.1', 'second reply: the connecting host')
    peer.write('from-peer')
    t.equal(await new Promise<string>((r) => socket.once('data', (c) => r(c.toString()))), 'from-peer')
    socket.write('from-client')
    t.equal(await new Promise<string>((r) => peer.once('data', (c) => r(c.toString()))), 'from-client')
    socket.end()
    peer.end()
    const rec = (await settle(gw))[0]
    t.equal(rec.protocol, type === 5 ? 'socks5' : 'socks4')
    t.match(rec.peer, /^127\.0\.0\.1:\d+$/, 'the record names the peer')
  })
}
