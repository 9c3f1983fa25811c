/**
 * Runs examples/nat-lab/nat-lab.sh when this is root with `ip netns` (under CI=true it must run): two
 * peers behind port-randomizing NATs fail to hole-punch directly and succeed through the relay.
 */
import t from 'tap'
import { spawn, execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { canUseNetns } from '../helpers/programs.js'

const SCRIPT = fileURLToPath(new URL('../../examples/nat-lab/nat-lab.sh', import.meta.url))
const BIN = fileURLToPath(new URL('../../dist/bin/viaduct.js', import.meta.url))

function namespaces(): string[] {
  try {
    return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith('vdlab'))
  } catch {
    return []
  }
}

t.test('NAT lab: direct punch fails behind port-randomizing NATs, the relay carries TCP, UDP and a file', async (t) => {
  if (!canUseNetns()) {
    const msg = '!!! the NAT lab needs root and ip netns: skipped'
    if (process.env.CI === 'true') t.fail(`${msg} [CI=true: required]`)
    else t.pass(msg, { skip: msg })
    return
  }
  if (!existsSync(BIN)) return void t.fail('dist/bin/viaduct.js is missing: run npm run build first')
  const child = spawn('bash', [SCRIPT], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PUNCH_SECONDS: '2' } })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c))
  child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c))
  const timer = setTimeout(() => child.kill('SIGTERM'), 55_000)
  const code = await new Promise<number | null>((res) => child.once('exit', res))
  clearTimeout(timer)
  t.equal(code, 0, `the lab script succeeded\n${out.slice(-3000)}`)
  t.match(out, /RESULT \(a\): hole punch FAILED/, 'the direct hole punch failed')
  t.match(out, /DIRECT datagrams received from the peer's public address: 0/)
  t.match(out, /without port randomization the direct punch worked/, 'the control shows it is the port randomization')
  t.match(out, /through the relay: tcp ok, udp ok, file \(ws -> tcp\) ok/)
  const ports = [...out.matchAll(/the relay saw me as 198\.18\.\d\.2:(\d+)/g)].map((m) => Number(m[1]))
  t.ok(ports.slice(0, 2).every((p) => p !== 40000), `the NATs randomized the source port (${ports.slice(0, 2).join(', ')} instead of 40000)`)
  t.same(namespaces(), [], 'the lab removed its namespaces')
})
