/**
 * SOCKS4, SOCKS4a and SOCKS5 CONNECT with the `socks` npm client against a real gateway on loopback,
 * with and without users; bytes and records in the ledger.
 */
import t from 'tap'
import { SocksClient, type SocksProxy } from 'socks'
import type { Socket } from 'node:net'
import { echoServer, socksGateway } from '../helpers/socks-fixtures.js'
import { settle } from '../helpers/gateway.js'

async function roundTrip(sock: Socket, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0)
    sock.on('data', (c) => {
      got = Buffer.concat([got, c])
      if (got.length >= payload.length) resolve(got)
    })
    sock.on('error', reject)
    sock.write(payload)
  })
}

t.test('CONNECT without users: SOCKS4, SOCKS4a and SOCKS5 (IPv4 and domain)', async (t) => {
  const echo = await echoServer(t)
  const { gw, port } = await socksGateway(t)
  const cases: Array<{ name: string; proxy: SocksProxy; host: string; protocol: string }> = [
    { name: 'socks4 ip', proxy: { host: '127.0.0.1', port, type: 4 }, host: '127.0.0.1', protocol: 'socks4' },
    { name: 'socks4a name', proxy: { host: '127.0.0.1', port, type: 4 }, host: 'localhost', protocol: 'socks4a' },
    { name: 'socks5 ip', proxy: { host: '127.0.0.1', port, type: 5 }, host: '127.0.0.1', protocol: 'socks5' },
    { name: 'socks5 name', proxy: { host: '127.0.0.1', port, type: 5 }, host: 'localhost', protocol: 'socks5' },
  ]
  for (const c of cases) {
    const { socket } = await SocksClient.createConnection({ command: 'connect', proxy: c.proxy, destination: { host: c.host, port: echo.port }, timeout: 5000 })
    const payload = Buffer.alloc(100_000, c.name)
    const back = await roundTrip(socket, payload)
    t.ok(back.equals(payload), `${c.name}: 100 kB echoed`)
    socket.end()
  }
  const recs = await settle(gw)
  for (const c of cases) {
    const r = recs.find((x) => x.protocol === c.protocol && x.target === `${c.host}:${echo.port}`)
    t.ok(r, `${c.name}: ledger record with protocol ${c.protocol}`)
    if (!r) continue
    t.equal(r.mode, 'forward')
    t.equal(r.listener, 'socks')
    t.equal(r.reason, 'client_closed', `${c.name}: closed by the client`)
    t.ok(r.bytesUp >= 100_000 && r.bytesUp < 100_000 + 600, `${c.name}: bytesUp counts payload + handshake (${r.bytesUp})`)
    t.ok(r.bytesDown >= 100_000 && r.bytesDown < 100_000 + 64, `${c.name}: bytesDown counts payload + replies (${r.bytesDown})`)
  }
})

t.test('CONNECT with users: SOCKS5 username/password, SOCKS4 USERID', async (t) => {
  const echo = await echoServer(t)
  const { gw, port } = await socksGateway(t, { users: ['alice:s3cret'] })
  const dest = { host: '127.0.0.1', port: echo.port }

  const ok5 = await SocksClient.createConnection({ command: 'connect', proxy: { host: '127.0.0.1', port, type: 5, userId: 'alice', password: 's3cret' }, destination: dest })
  t.ok((await roundTrip(ok5.socket, Buffer.from('hi5'))).equals(Buffer.from('hi5')), 'socks5 with the right password works')
  ok5.socket.end()

  await t.rejects(
    SocksClient.createConnection({ command: 'connect', proxy: { host: '127.0.0.1', port, type: 5, userId: 'alice', password: 'wrong' }, destination: dest }),
    /Socks5 Authentication failed/,
    'wrong password: status 0x01',
  )
  await t.rejects(
    SocksClient.createConnection({ command: 'connect', proxy: { host: '127.0.0.1', port, type: 5 }, destination: dest }),
    /no accepted authentication type/i,
    'no credentials: method 0xFF',
  )

  await t.rejects(
    SocksClient.createConnection({ command: 'connect', proxy: { host: '127.0.0.1', port, type: 4, userId: 'alice' }, destination: dest }),
    /RejectedIdent/,
    'a bare USERID naming a user proves nothing: 0x5D by default (issue 15)',
  )
  const ok4p = await SocksClient.createConnection({ command: 'connect', proxy: { host: '127.0.0.1', port, type: 4, userId: 'alice:s3cret' }, destination: dest })
  t.ok((await roundTrip(ok4p.socket, Buffer.from('hi4p'))).equals(Buffer.from('hi4p')), 'socks4 with USERID "name:password" works')
  ok4p.socket.end()
  await t.rejects(
    SocksClient.createConnection({ command: 'connect', proxy: { host: '127.0.0.1', port, type: 4, userId: 'mallory' }, destination: dest }),
    /RejectedIdent/,
    'unknown USERID: 0x5D',
  )
  await t.rejects(
    SocksClient.createConnection({ command: 'connect', proxy: { host: '127.0.0.1', port, type: 4, userId: 'alice:nope' }, destination: dest }),
    /RejectedIdent/,
    'USERID with a wrong password: 0x5D',
  )
  const recs = await settle(gw)
  t.equal(recs.filter((r) => r.user === 'alice' && r.reason === 'client_closed').length, 2, 'two sessions of user alice')
  t.equal(recs.filter((r) => r.reason === 'VIADUCT_ERR_AUTH_FAILED').length, 4, 'four AUTH_FAILED records')
  t.same(recs.filter((r) => r.protocol === 'socks4' && r.user === 'alice').map((r) => r.meta?.auth), ['socks4 USERID name:password'], 'the record says which rule admitted it')
  t.equal(recs.filter((r) => r.reason === 'VIADUCT_ERR_AUTH_REQUIRED').length, 1, 'one AUTH_REQUIRED record')
})

t.test('socks4IdentOnly admits a bare USERID that names a user (and the deprecated socks4RequirePassword: false)', async (t) => {
  const echo = await echoServer(t)
  const dest = { host: '127.0.0.1', port: echo.port }
  for (const socks of [{ socks4IdentOnly: true }, { socks4RequirePassword: false }]) {
    const { gw, port } = await socksGateway(t, { users: ['alice:s3cret'], socks })
    const ok = await SocksClient.createConnection({ command: 'connect', proxy: { host: '127.0.0.1', port, type: 4, userId: 'alice' }, destination: dest })
    t.ok((await roundTrip(ok.socket, Buffer.from('id'))).equals(Buffer.from('id')), `${JSON.stringify(socks)}: a bare known USERID passes`)
    ok.socket.end()
    await t.rejects(
      SocksClient.createConnection({ command: 'connect', proxy: { host: '127.0.0.1', port, type: 4, userId: 'mallory' }, destination: dest }),
      /RejectedIdent/,
      'an unknown one does not',
    )
    const recs = await settle(gw)
    t.equal(recs.find((r) => r.user === 'alice')?.meta?.auth, 'socks4 USERID name only (socks4IdentOnly)', 'the record says which rule admitted it')
  }
  const { port } = await socksGateway(t, { users: ['alice:s3cret'], socks: { socks4RequirePassword: true } })
  await t.rejects(
    SocksClient.createConnection({ command: 'connect', proxy: { host: '127.0.0.1', port, type: 4, userId: 'alice' }, destination: dest }),
    /RejectedIdent/,
    'socks4RequirePassword: true is the default behaviour',
  )
})

t.test('server-first target: the banner reaches the client, half-close is passed on', async (t) => {
  const echo = await echoServer(t, { banner: 'HELLO\n' })
  const { port } = await socksGateway(t)
  const { socket } = await SocksClient.createConnection({ command: 'connect', proxy: { host: '127.0.0.1', port, type: 5 }, destination: { host: '127.0.0.1', port: echo.port } })
  socket.resume()
  let got = ''
  socket.setEncoding('utf8')
  socket.on('data', (c) => (got += c))
  await new Promise((r) => setTimeout(r, 50))
  socket.end('after-fin')
  await new Promise((r) => socket.once('close', r))
  t.equal(got, 'HELLO\nafter-fin', 'the banner, then our bytes echoed after we half-closed')
})
