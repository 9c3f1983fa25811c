/**
 * `viaduct turn-credentials` mints REST credentials that a gateway with the same --turn-secret accepts
 * (and one with another secret refuses); `viaduct start --turn ... --turn-user ...` flags reach the TURN
 * config.
 */
import t from 'tap'
import { PassThrough } from 'node:stream'
import { runCli } from '../../src/cli/main.js'
import { loadConfig } from '../../src/config/load.js'
import { modes } from '../../modes/index.js'
import { startGateway, addr } from '../helpers/gateway.js'
import { TurnClient, TurnClientError } from '../../modes/relay/turn/client.js'

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.on('data', (c) => (out += c))
  stderr.on('data', (c) => (err += c))
  const code = await runCli(args, { modes, io: { stdout, stderr }, env: {} })
  return { code, out, err }
}

t.test('turn-credentials prints a username and password the gateway accepts', async (t) => {
  const r = await cli(['turn-credentials', '--secret', 'rest-secret-1', '--user', 'dana', '--ttl', '600', '--json'])
  t.equal(r.code, 0, r.err)
  const c = JSON.parse(r.out) as { username: string; password: string; ttl: number; expiresAt: number }
  t.match(c.username, /^\d+:dana$/)
  t.equal(c.ttl, 600)
  t.ok(Math.abs(c.expiresAt - (Date.now() / 1000 + 600)) < 5, 'expires in ttl seconds')
  const plain = await cli(['turn-credentials', '--secret', 'rest-secret-1', '--user', 'dana'])
  t.match(plain.out, /^username: \d+:dana\npassword: \S+=*\nexpires: {2}\d{4}-/)

  const gw = await startGateway(t, { relay: { turn: { listen: '127.0.0.1:0', secrets: ['rotated-out-0', 'rest-secret-1'] } } })
  const ok = await TurnClient.connect({ host: '127.0.0.1', port: addr(gw, 'turn-udp').port, username: c.username, password: c.password })
  t.teardown(() => ok.close())
  t.ok((await ok.allocate()).relayed.port > 0, 'allocated with the minted credentials (second secret)')
  t.match(gw.ledger.live('relay')[0]?.user, /:dana$/)

  const other = await cli(['turn-credentials', '--secret', 'some-other-secret', '--user', 'dana', '--json'])
  const o = JSON.parse(other.out) as { username: string; password: string }
  const bad = await TurnClient.connect({ host: '127.0.0.1', port: addr(gw, 'turn-udp').port, username: o.username, password: o.password })
  t.teardown(() => bad.close())
  const status = await bad.allocate().then(
    () => 0,
    (e: unknown) => (e instanceof TurnClientError ? e.status : -1),
  )
  t.equal(status, 401, 'another secret: 401')
})

t.test('turn-credentials usage errors', async (t) => {
  t.equal((await cli(['turn-credentials', '--user', 'x'])).code, 2, 'no secret')
  const ttl = await cli(['turn-credentials', '--secret', 'long-enough', '--user', 'x', '--ttl', '-5'])
  t.equal(ttl.code, 2)
  t.match(ttl.err, /--ttl/)
  t.equal((await cli(['turn-credentials', '--secret', 'short', '--user', 'x'])).code, 2, 'a short secret')
  t.equal((await cli(['turn-credentials', '--secret', 'long-enough', '--user', 'a:b'])).code, 2, 'a colon in the user')
})

t.test('TURN flags map onto relay.turn', async (t) => {
  const cfg = loadConfig(modes, {
    flags: {
      turn: '127.0.0.1:3479',
      turnRealm: 'example.org',
      turnUser: ['a:b', 'c:d:e'],
      turnSecret: ['0123456789'],
      turnAllowPeer: ['127.0.0.0/8'],
      turnRelayIp: '127.0.0.1',
      turnExternalIp: '198.51.100.7',
    },
  })
  const turn = (cfg.relay as { turn: Record<string, unknown> }).turn
  t.same(turn.listen, { host: '127.0.0.1', port: 3479 })
  t.equal(turn.realm, 'example.org')
  t.same(turn.users, [{ name: 'a', password: 'b' }, { name: 'c', password: 'd:e' }])
  t.same(turn.secrets, ['0123456789'])
  t.same(turn.allowPeers, ['127.0.0.0/8'])
  t.equal(turn.externalIp, '198.51.100.7')
  t.throws(() => loadConfig(modes, { flags: { turn: '0.0.0.0:3478' } }), { code: 'VIADUCT_ERR_CONFIG_UNSAFE' }, 'an open relay off loopback is refused')
  t.throws(() => loadConfig(modes, { flags: { turnRelayIp: 'relay.example' } }), { code: 'VIADUCT_ERR_CONFIG_INVALID' }, 'a relay IP must be an IP')
  t.throws(() => loadConfig(modes, { flags: { turnExternalIp: '1.2.3' } }), { code: 'VIADUCT_ERR_CONFIG_INVALID' }, 'an external IP must be an IP')
})
