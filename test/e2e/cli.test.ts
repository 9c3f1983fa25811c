/**
 * The real binary as a child process: version, help, start (listening lines, signals, drain), and every
 * way a start can fail: one clear line, a non-zero exit, never a stack trace.
 */
import t, { type Test } from 'tap'
import { runNode, startViaduct, VIADUCT_BIN, type NodeRun as Run } from '../helpers/run-node.js'
import { createServer, type Server } from 'node:net'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const BIN = VIADUCT_BIN
const PKG = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
const OFF = ['--http', 'off', '--socks', 'off', '--mixed', 'off', '--relay', 'off', '--turn', 'off', '--admin', 'off']

function run(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 20_000): Promise<Run> {
  return runNode([BIN, ...args], { env: { ...env, NO_COLOR: '1' }, timeoutMs })
}

function noStack(t: Test, r: Run) {
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace')
  t.notMatch(r.stderr, /node:internal/, 'no Node internals')
}

t.test('--version and --help', async (t) => {
  const v = await run(['--version'])
  t.equal(v.code, 0)
  t.equal(v.stdout.trim(), PKG.version, 'prints the package version')
  const h = await run(['--help'])
  t.equal(h.code, 0)
  for (const cmd of ['start', 'check-config', 'token', 'peer', 'turn-credentials']) t.match(h.stdout, new RegExp(`\\b${cmd}\\b`), `help lists ${cmd}`)
  const sh = await run(['start', '--help'])
  for (const flag of ['--config', '--http', '--socks', '--user', '--log-level', '--relay', '--relay-secret', '--turn', '--turn-user', '--turn-allow-peer']) {
    t.match(sh.stdout, flag, `start --help documents ${flag}`)
  }
})

t.test('start prints each listener with its mode, and SIGTERM stops it cleanly', async (t) => {
  const g = startViaduct([...OFF, '--http', '127.0.0.1:0', '--socks', '0', '--relay', '127.0.0.1:0', '--relay-secret', 'cli-test-secret', '--turn', '127.0.0.1:0', '--turn-user', 'u:p', '--log-level', 'warn'])
  t.teardown(() => g.child.kill('SIGKILL'))
  const ls = await g.ready
  const has = (mode: string, listener: string, transport: string) => {
    const l = ls.find((x) => x.mode === mode && x.listener === listener && x.transport === transport)
    t.ok(l && l.host === '127.0.0.1' && l.port > 0, `${mode} ${listener} ${transport} on 127.0.0.1 with a real port`)
  }
  has('forward', 'http', 'tcp')
  has('forward', 'socks', 'tcp')
  t.ok(ls.some((l) => l.mode === 'relay' && l.transport === 'tcp'), 'relay pairing TCP listener')
  t.ok(ls.some((l) => l.mode === 'relay' && l.transport === 'udp'), 'relay UDP listener')
  g.child.kill('SIGTERM')
  t.equal(await g.exited, 0, 'exit 0 after SIGTERM')
  t.match(g.out().stderr, /SIGTERM: stopping/, 'says it is stopping')
})

t.test('a port in use: one line, exit 1', async (t) => {
  const srv: Server = createServer()
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  t.teardown(() => srv.close())
  const port = (srv.address() as { port: number }).port
  const r = await run(['start', ...OFF, '--http', `127.0.0.1:${port}`])
  t.equal(r.code, 1)
  t.match(r.stderr, new RegExp(`^viaduct: error: .*127\\.0\\.0\\.1:${port}.*\\[VIADUCT_ERR_LISTEN_IN_USE\\]\\n$`), 'one line naming the address and the code')
  noStack(t, r)
})

t.test('a bad flag or value: one line, non-zero exit', async (t) => {
  const unknown = await run(['start', '--htttp', '9000'])
  t.equal(unknown.code, 2, 'usage error exits 2')
  t.match(unknown.stderr, /unknown option '--htttp'/)
  t.match(unknown.stderr, /--http/, 'suggests the right flag')
  noStack(t, unknown)
  const bad = await run(['start', ...OFF, '--http', 'localhost:http'])
  t.equal(bad.code, 1)
  t.match(bad.stderr, /forward\.http\.listen: .*not a port.*\[VIADUCT_ERR_CONFIG_INVALID\]/)
  noStack(t, bad)
  const env = await run(['start', ...OFF], { VIADUCT_LOG_LEVEL: 'loud' })
  t.equal(env.code, 1)
  t.match(env.stderr, /log\.level/, 'an env value is validated like a flag')
  const open = await run(['start', ...OFF, '--http', '0.0.0.0:0'])
  t.equal(open.code, 1)
  t.match(open.stderr, /open proxy.*\[VIADUCT_ERR_CONFIG_UNSAFE\]/, 'refuses an open proxy')
  noStack(t, open)
})

t.test('a bad config file: one line, exit 1; check-config validates without starting', async (t) => {
  const dir = t.testdir()
  const good = join(dir, 'good.yaml')
  writeFileSync(good, 'forward:\n  http:\n    listen: 127.0.0.1:18080\n  users: ["alice:secret"]\n')
  const typo = join(dir, 'typo.yaml')
  writeFileSync(typo, 'relay:\n  turn:\n    relm: example.org\n')
  const broken = join(dir, 'broken.json')
  writeFileSync(broken, '{"forward": {')
  const ok = await run(['check-config', good])
  t.equal(ok.code, 0)
  t.match(ok.stdout, /ok: .*good\.yaml is valid/)
  t.match(ok.stdout, /forward: .*http\.listen 127\.0\.0\.1:18080/)
  const bad = await run(['check-config', typo])
  t.equal(bad.code, 1)
  t.match(bad.stderr, /relay\.turn\.relm: unknown key \(did you mean relay\.turn\.realm\?\)/)
  noStack(t, bad)
  const br = await run(['start', '--config', broken])
  t.equal(br.code, 1)
  t.match(br.stderr, /cannot parse .*broken\.json as JSON.*\[VIADUCT_ERR_CONFIG_FILE\]/)
  noStack(t, br)
  const missing = await run(['start', '--config', join(dir, 'nope.yaml')])
  t.equal(missing.code, 1)
  t.match(missing.stderr, /no such file/)
})

t.test('config-reference prints the generated reference', async (t) => {
  const r = await run(['config-reference'])
  t.equal(r.code, 0)
  t.equal(r.stdout, readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8'), 'same as docs/configuration.md')
})

t.test('a relay with no credentials starts but warns that it refuses everyone', async (t) => {
  const g = startViaduct([...OFF, '--relay', '127.0.0.1:0', '--turn', '127.0.0.1:0', '--log-level', 'warn', '--log-pretty', 'false'])
  t.teardown(() => g.child.kill('SIGKILL'))
  await g.ready
  await new Promise((r) => setTimeout(r, 200))
  const { stdout } = g.out()
  const lines = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event?: string; key?: string; msg?: string })
  t.ok(lines.some((l) => l.event === 'config.warning' && l.key === 'relay.pairing.secrets'), 'warns about the missing relay secret')
  t.ok(lines.some((l) => l.event === 'config.warning' && l.key === 'relay.turn.users'), 'warns about missing TURN credentials')
  g.child.kill('SIGTERM')
  t.equal(await g.exited, 0)
})
