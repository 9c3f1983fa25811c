/**
 * Config: defaults, precedence (file < env < flags), validation messages with full key paths and hints,
 * safety checks, freezing.
 */
import t, { type Test } from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadConfig, validateConfig } from '../../src/config/load.js'
import { parseListenAddress } from '../../src/config/types.js'
import { CORE_FLAGS } from '../../src/cli/main.js'
import { isViaductError } from '../../src/core/errors.js'
import { modes } from '../../modes/index.js'

type Any = any

function fails(t: Test, fn: () => unknown, code: string, re: RegExp, name: string) {
  try {
    fn()
    t.fail(`${name}: expected ${code}`)
  } catch (err) {
    t.ok(isViaductError(err), `${name}: a ViaductError`)
    t.equal((err as Any).code, code, `${name}: ${code}`)
    t.match((err as Error).message, re, `${name}: message`)
  }
}

t.test('with no file every mode runs on loopback at its documented port', async (t) => {
  const c = loadConfig(modes, {}, CORE_FLAGS) as Any
  t.same(c.forward.http.listen, { host: '127.0.0.1', port: 8080 })
  t.same(c.forward.socks.listen, { host: '127.0.0.1', port: 1080 })
  t.equal(c.forward.mixed.listen, null, 'mixed port off by default')
  t.same(c.relay.pairing.listen, { host: '127.0.0.1', port: 7070 })
  t.same(c.relay.turn.listen, { host: '127.0.0.1', port: 3478 })
  t.same(c.admin.listen, { host: '127.0.0.1', port: 8081 })
  t.equal(c.log.level, 'info')
  t.ok(Object.isFrozen(c) && Object.isFrozen(c.forward.http) && Object.isFrozen(c.forward.access.connectPorts), 'deep-frozen')
})

t.test('listen addresses', async (t) => {
  t.same(parseListenAddress('9000'), { host: '127.0.0.1', port: 9000 }, 'a bare port is loopback')
  t.same(parseListenAddress(9000), { host: '127.0.0.1', port: 9000 })
  t.same(parseListenAddress('0.0.0.0:80'), { host: '0.0.0.0', port: 80 })
  t.same(parseListenAddress('[::1]:8080'), { host: '::1', port: 8080 })
  t.equal(parseListenAddress('off'), null)
  t.equal(parseListenAddress(false), null)
  t.throws(() => parseListenAddress('::1:8080'), /brackets/)
  t.throws(() => parseListenAddress('host:99999'), /out of range/)
  t.throws(() => parseListenAddress('host:http'), /not a port/)
  t.throws(() => parseListenAddress(':80'), /empty/)
  t.throws(() => parseListenAddress('[nope]:80'), /not an IPv6/)
})

t.test('file < env < flags', async (t) => {
  const dir = t.testdir()
  const yaml = join(dir, 'v.yaml')
  writeFileSync(yaml, 'forward:\n  http:\n    listen: 127.0.0.1:9001\n  socks:\n    listen: 127.0.0.1:9002\nlog:\n  level: debug\n')
  const json = join(dir, 'v.json')
  writeFileSync(json, JSON.stringify({ forward: { http: { listen: '127.0.0.1:9101' } } }))
  let c = loadConfig(modes, { file: yaml }, CORE_FLAGS) as Any
  t.equal(c.forward.http.listen.port, 9001, 'YAML file read')
  t.equal(c.log.level, 'debug')
  t.equal((loadConfig(modes, { file: json }, CORE_FLAGS) as Any).forward.http.listen.port, 9101, 'JSON file read')
  c = loadConfig(modes, { file: yaml, env: { VIADUCT_HTTP: '9003', VIADUCT_USER: 'a:1,b:2' } }, CORE_FLAGS) as Any
  t.equal(c.forward.http.listen.port, 9003, 'env beats file')
  t.equal(c.forward.socks.listen.port, 9002, 'file value kept where env is silent')
  t.equal(c.forward.users.length, 2, 'a list env var is comma-separated')
  c = loadConfig(modes, { file: yaml, env: { VIADUCT_HTTP: '9003' }, flags: { http: '9004', user: ['x:y'] } }, CORE_FLAGS) as Any
  t.equal(c.forward.http.listen.port, 9004, 'flag beats env')
  t.equal(c.forward.users.length, 1)
  c = loadConfig(modes, { flags: { http: 'off', socks: 'off' } }, CORE_FLAGS) as Any
  t.equal(c.forward.http.listen, null, '--http off')
})

t.test('problems name the full key path and a hint', async (t) => {
  fails(t, () => validateConfig(modes, { relay: { turn: { relm: 'x' } } }), 'VIADUCT_ERR_CONFIG_INVALID', /relay\.turn\.relm: unknown key \(did you mean relay\.turn\.realm\?\)/, 'typo')
  fails(t, () => validateConfig(modes, { nope: {} }), 'VIADUCT_ERR_CONFIG_INVALID', /nope: unknown key/, 'unknown section')
  fails(t, () => validateConfig(modes, { forward: { http: { listen: 'localhost:http' } } }), 'VIADUCT_ERR_CONFIG_INVALID', /forward\.http\.listen: .*not a port.*hint/, 'bad address')
  fails(t, () => validateConfig(modes, { forward: { limits: { maxConnections: -1 } } }), 'VIADUCT_ERR_CONFIG_INVALID', /forward\.limits\.maxConnections/, 'negative')
  fails(t, () => validateConfig(modes, { log: { level: 'loud' }, forward: { http: { via: 3 } } }), 'VIADUCT_ERR_CONFIG_INVALID', /2 problems[\s\S]*log\.level[\s\S]*forward\.http\.via/, 'every problem listed')
  fails(t, () => loadConfig(modes, { flags: { drainTimeout: 'soon' } }, CORE_FLAGS), 'VIADUCT_ERR_CONFIG_INVALID', /shutdown\.drainTimeoutMs: expected a duration like "250ms".* got "soon"/, 'a bad duration flag')
})

t.test('config files that cannot be read or parsed', async (t) => {
  const dir = t.testdir({ 'bad.yaml': 'forward: [1, 2\n', 'bad.json': '{"forward":', 'list.yaml': '- 1\n- 2\n' })
  fails(t, () => loadConfig(modes, { file: join(dir, 'missing.yaml') }), 'VIADUCT_ERR_CONFIG_FILE', /no such file/, 'missing')
  fails(t, () => loadConfig(modes, { file: join(dir, 'bad.yaml') }), 'VIADUCT_ERR_CONFIG_FILE', /cannot parse .* as YAML/, 'bad YAML')
  fails(t, () => loadConfig(modes, { file: join(dir, 'bad.json') }), 'VIADUCT_ERR_CONFIG_FILE', /cannot parse .* as JSON/, 'bad JSON')
  fails(t, () => loadConfig(modes, { file: join(dir, 'list.yaml') }), 'VIADUCT_ERR_CONFIG_FILE', /mapping of sections/, 'not a mapping')
})

t.test('no open proxy or open relay on a public address by accident', async (t) => {
  fails(t, () => validateConfig(modes, { forward: { http: { listen: '0.0.0.0:8080' } } }), 'VIADUCT_ERR_CONFIG_UNSAFE', /open proxy/, 'HTTP on 0.0.0.0 without users')
  fails(t, () => validateConfig(modes, { forward: { socks: { listen: '0.0.0.0:1080' } } }), 'VIADUCT_ERR_CONFIG_UNSAFE', /forward\.socks\.listen/, 'SOCKS on 0.0.0.0 without users')
  t.doesNotThrow(() => validateConfig(modes, { forward: { http: { listen: '0.0.0.0:8080' }, users: ['a:b'] } }), 'with users it starts')
  t.doesNotThrow(() => validateConfig(modes, { forward: { http: { listen: '0.0.0.0:8080' }, allowOpenProxy: true } }), 'or when told knowingly')
  fails(t, () => validateConfig(modes, { relay: { turn: { listen: '0.0.0.0:3478' } } }), 'VIADUCT_ERR_CONFIG_UNSAFE', /open relay/, 'TURN on 0.0.0.0 without credentials')
  t.doesNotThrow(() => validateConfig(modes, { relay: { turn: { listen: '0.0.0.0:3478', secrets: ['a-long-secret'] } } }), 'TURN with a REST secret')
  fails(t, () => validateConfig(modes, { admin: { listen: '0.0.0.0:8081' } }), 'VIADUCT_ERR_CONFIG_UNSAFE', /admin/, 'admin on 0.0.0.0 without a token')
})

t.test('durations accept "250ms", "30s", "5m" as well as numbers (issue 12)', async (t) => {
  const c = validateConfig(modes, {
    shutdown: { drainTimeoutMs: '30s' },
    forward: { limits: { idleTimeoutMs: '5m', connectTimeoutMs: '250ms', headerTimeoutMs: 1500 } },
    relay: { turn: { defaultLifetimeS: '10m', maxLifetimeS: '1h' }, pairing: { waitTimeoutMs: '1.5s' } },
  }) as Any
  t.equal(c.shutdown.drainTimeoutMs, 30_000)
  t.equal(c.forward.limits.idleTimeoutMs, 300_000)
  t.equal(c.forward.limits.connectTimeoutMs, 250)
  t.equal(c.forward.limits.headerTimeoutMs, 1500, 'a number is in the key\'s unit')
  t.equal(c.relay.turn.defaultLifetimeS, 600)
  t.equal(c.relay.turn.maxLifetimeS, 3600)
  t.equal(c.relay.pairing.waitTimeoutMs, 1500)
  fails(t, () => validateConfig(modes, { relay: { turn: { defaultLifetimeS: '250ms' } } }), 'VIADUCT_ERR_CONFIG_INVALID', /relay\.turn\.defaultLifetimeS: "250ms" is not a whole number of seconds/, 'a fraction of a second')
  fails(t, () => validateConfig(modes, { shutdown: { drainTimeoutMs: 'soon' } }), 'VIADUCT_ERR_CONFIG_INVALID', /shutdown\.drainTimeoutMs: expected a duration like "250ms", "30s", "5m" or a number of milliseconds, got "soon"/, 'not a duration')
  fails(t, () => validateConfig(modes, { shutdown: { drainTimeoutMs: -5 } }), 'VIADUCT_ERR_CONFIG_INVALID', /duration of 0 or more, got -5/, 'negative')
  fails(t, () => validateConfig(modes, { shutdown: { drainTimeoutMs: true } }), 'VIADUCT_ERR_CONFIG_INVALID', /expected a duration .* got true \(a boolean\)/, 'a boolean')
  const env = loadConfig(modes, { env: { VIADUCT_DRAIN_TIMEOUT: '2m' } }, CORE_FLAGS) as Any
  t.equal(env.shutdown.drainTimeoutMs, 120_000, 'from the environment')
  const flag = loadConfig(modes, { flags: { drainTimeout: '45s' } }, CORE_FLAGS) as Any
  t.equal(flag.shutdown.drainTimeoutMs, 45_000, 'from a flag')
})

t.test('a type error says what was given and what was expected (issue 12)', async (t) => {
  fails(t, () => validateConfig(modes, { forward: { users: 'alice:pw' } }), 'VIADUCT_ERR_CONFIG_INVALID', /forward\.users: expected a list, got "alice:pw" \(a string\); write a list, e\.g\. \["alice:pw"\]/, 'a string for a list')
  fails(t, () => validateConfig(modes, { forward: { http: { maxHeaderBytes: 'big' } } }), 'VIADUCT_ERR_CONFIG_INVALID', /forward\.http\.maxHeaderBytes: expected a number, got "big" \(a string\)/, 'a string for a number')
  fails(t, () => validateConfig(modes, { log: { level: 'loud' } }), 'VIADUCT_ERR_CONFIG_INVALID', /log\.level: .*\(got "loud" \(a string\)\)/, 'not one of the levels')
  fails(t, () => validateConfig(modes, { relay: { pairing: { udp: 'yes' } } }), 'VIADUCT_ERR_CONFIG_INVALID', /relay\.pairing\.udp: expected true or false, got "yes" \(a string\)/, 'a string for a boolean')
  fails(t, () => validateConfig(modes, { relay: { pairing: { secrets: ['short'] } } }), 'VIADUCT_ERR_CONFIG_INVALID', /relay\.pairing\.secrets\.0: a relay secret needs at least 8 characters \(got "short" \(a string\)\)/, 'too short')
})
