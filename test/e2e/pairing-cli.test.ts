/**
 * The CLI as child processes of the built binary (npm run build first): `viaduct token`, `viaduct start
 * --relay`, and `viaduct peer` for netcat and file transfers over TCP, WebSocket and UDP. Plus a
 * headless Chromium tab as a WebSocket peer paired with a TCP peer.
 */
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { verifyToken } from '../../modes/relay/pairing/token.js'
import { connectPeer } from '../../modes/relay/pairing/client.js'
import { launchChromium } from '../helpers/chromium.js'

const BIN = fileURLToPath(new URL('../../dist/bin/viaduct.js', import.meta.url))
const SECRET = 'e2e-secret-abcdefgh'

interface Run {
  child: ChildProcess
  done: Promise<{ code: number | null; stdout: string; stderr: string }>
}

function run(args: string[], opts: { stdin?: string | Buffer; keepStdinOpen?: boolean; env?: NodeJS.ProcessEnv } = {}): Run {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } })
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c))
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c))
  if (opts.stdin !== undefined) child.stdin!.write(opts.stdin)
  if (!opts.keepStdinOpen) child.stdin!.end()
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((res) => child.once('exit', (code) => res({ code, stdout, stderr })))
  const timer = setTimeout(() => child.kill('SIGKILL'), 50_000)
  done.then(() => clearTimeout(timer))
  return { child, done }
}

async function startRelayChild(t: { teardown(f: () => unknown): void }): Promise<{ port: number; relay: string }> {
  const child = spawn(process.execPath, [BIN, 'start', '--http', 'off', '--socks', 'off', '--mixed', 'off', '--turn', 'off', '--admin', 'off', '--log-level', 'warn', '--relay', '127.0.0.1:0', '--relay-secret', SECRET], { stdio: ['ignore', 'ignore', 'pipe'] })
  t.teardown(() => {
    child.kill('SIGKILL')
  })
  let err = ''
  const port = await new Promise<number>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`relay did not start:\n${err}`)), 15_000)
    child.stderr!.setEncoding('utf8').on('data', (c: string) => {
      err += c
      const m = /relay\s+pairing-tcp\s+tcp\s+127\.0\.0\.1:(\d+)/.exec(err)
      if (m) {
        clearTimeout(timer)
        res(Number(m[1]))
      }
    })
    child.once('exit', (code) => rej(new Error(`relay exited ${code}:\n${err}`)))
  })
  return { port, relay: `127.0.0.1:${port}` }
}

if (!existsSync(BIN)) {
  t.fail(`${BIN} is missing: run "npm run build" first`)
} else {
  t.test('viaduct token prints a token the relay accepts; without a secret it fails clearly', async (t) => {
    const r = await run(['token', '--secret', SECRET, '--id', 'room-1', '--ttl', '60']).done
    t.equal(r.code, 0)
    const tok = r.stdout.trim()
    t.ok(verifyToken({ token: tok, room: 'room-1', secrets: [SECRET], nowMs: Date.now() }), 'verifies for its room')
    const exp = Number(tok.split('.')[1]) * 1000
    t.ok(exp > Date.now() + 55_000 && exp <= Date.now() + 61_000, 'expires in --ttl seconds')
    const env = await run(['token', '--id', 'room-1'], { env: { VIADUCT_RELAY_SECRET: SECRET } }).done
    t.equal(env.code, 0, 'the secret may come from VIADUCT_RELAY_SECRET')
    const bad = await run(['token', '--id', 'room-1'], { env: { VIADUCT_RELAY_SECRET: '' } }).done
    t.equal(bad.code, 2, 'a usage error exits 2')
    t.match(bad.stderr, /viaduct: error: .*--secret/)
    const short = await run(['token', '--secret', 'short', '--id', 'room-1']).done
    t.equal(short.code, 2, 'a secret shorter than the relay accepts is refused')
    t.match(short.stderr, /at least 8 characters.*\[VIADUCT_ERR_CLI_USAGE\]/)
    t.equal(short.stdout, '', 'and nothing is minted')
    for (const ttl of ['0', '-5', '1.5', 'soon']) {
      const r = await run(['token', '--secret', SECRET, '--id', 'room-1', '--ttl', ttl]).done
      t.equal(r.code, 2, `--ttl ${ttl} exits 2`)
      t.match(r.stderr, /--ttl must be a positive whole number of seconds.*\[VIADUCT_ERR_CLI_USAGE\]/, `--ttl ${ttl} is a usage error, not PAIR_MALFORMED`)
    }
  })

  t.test('a refusal names its code once', async (t) => {
    const { relay } = await startRelayChild(t)
    const r = await run(['peer', '--relay', relay, '--id', 'r', '--token', '1.9999999999.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', '--timeout', '5000']).done
    t.equal(r.code, 1)
    t.match(r.stderr, /VIADUCT_ERR_PAIR_TOKEN_INVALID/)
    t.equal(r.stderr.split('VIADUCT_ERR_PAIR_TOKEN_INVALID').length - 1, 1, `the code appears once: ${r.stderr.trim()}`)
  })

  t.test('viaduct peer: a file over TCP <-> WebSocket with the hash checked on both ends', async (t) => {
    const { relay } = await startRelayChild(t)
    const dir = mkdtempSync(join(tmpdir(), 'viaduct-pair-e2e-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const src = join(dir, 'in.bin')
    const dst = join(dir, 'out.bin')
    writeFileSync(src, randomBytes(5 * 1024 * 1024 + 123))
    const tok = (await run(['token', '--secret', SECRET, '--id', 'files']).done).stdout.trim()
    const recv = run(['peer', '--relay', relay, '--id', 'files', '--token', tok, '--receive', dst])
    await new Promise((res) => setTimeout(res, 300))
    const send = await run(['peer', '--relay', relay, '--id', 'files', '--token', tok, '--ws', '--send', src]).done
    const got = await recv.done
    t.equal(send.code, 0, send.stderr)
    t.equal(got.code, 0, got.stderr)
    t.match(got.stderr, /hash ok/)
    t.match(send.stderr, /the receiver confirmed the hash/)
    t.ok(readFileSync(src).equals(readFileSync(dst)), 'the files are identical')
  })

  t.test('viaduct peer as netcat over TCP and UDP; a wrong token exits 1 with its code', async (t) => {
    const { relay } = await startRelayChild(t)
    const a = run(['peer', '--relay', relay, '--id', 'nc', '--secret', SECRET], { stdin: 'from a\n', keepStdinOpen: true })
    await new Promise((res) => setTimeout(res, 300))
    const b = run(['peer', '--relay', relay, '--id', 'nc', '--secret', SECRET], { stdin: 'from b\n' })
    // B's stdin ended: its half-close reaches A; A ends its side when its stdin ends
    await new Promise((res) => setTimeout(res, 500))
    a.child.stdin!.end()
    const [ra, rb] = await Promise.all([a.done, b.done])
    t.equal(ra.stdout, 'from b\n')
    t.equal(rb.stdout, 'from a\n')
    t.match(ra.stderr, /paired: you are 127\.0\.0\.1:\d+ \(tcp\), peer is 127\.0\.0\.1:\d+ \(tcp\)/)
    t.equal(ra.code, 0)
    t.equal(rb.code, 0)

    const ua = run(['peer', '--relay', relay, '--id', 'ncu', '--secret', SECRET, '--udp', '--idle-exit', '1500'], { stdin: 'dgram a', keepStdinOpen: true })
    await new Promise((res) => setTimeout(res, 300))
    const ub = run(['peer', '--relay', relay, '--id', 'ncu', '--secret', SECRET, '--udp', '--idle-exit', '1500'], { stdin: 'dgram b' })
    setTimeout(() => ua.child.stdin!.end(), 300)
    const [rua, rub] = await Promise.all([ua.done, ub.done])
    t.equal(rub.stdout, 'dgram a', 'A -> B datagram')
    t.match(rua.stdout, /dgram b/, 'B -> A datagram')

    const bad = await run(['peer', '--relay', relay, '--id', 'x', '--token', '1.99999999999.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA']).done
    t.equal(bad.code, 1)
    t.match(bad.stderr, /VIADUCT_ERR_PAIR_TOKEN_INVALID/)
  })

  t.test('examples/pairing/demo.ts runs against a relay', async (t) => {
    const { relay } = await startRelayChild(t)
    const demo = fileURLToPath(new URL('../../examples/pairing/demo.ts', import.meta.url))
    const child = spawn(process.execPath, ['--import', '@tapjs/typescript/import', demo, relay], { env: { ...process.env, VIADUCT_RELAY_SECRET: SECRET }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c))
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (out += c))
    const timer = setTimeout(() => child.kill('SIGKILL'), 40_000)
    const code = await new Promise((res) => child.once('exit', res))
    clearTimeout(timer)
    t.equal(code, 0, out)
    t.match(out, /A got: echo: hello from A/)
    t.match(out, /UDP peer got: one datagram/)
  })

  t.test('a Chromium tab is a WebSocket peer and pairs with a TCP peer', async (t) => {
    const { port, relay } = await startRelayChild(t)
    const page0 = createServer((_req, res) => res.end('<title>peer</title>'))
    await new Promise<void>((r) => page0.listen(0, '127.0.0.1', r))
    t.teardown(() => page0.close())
    const ctx = await launchChromium(t)
    if (!ctx) return
    const page = await ctx.newPage()
    await page.goto(`http://127.0.0.1:${(page0.address() as AddressInfo).port}/`)
    const token = (await run(['token', '--secret', SECRET, '--id', 'browser']).done).stdout.trim()
    // The browser registers first, then echoes every message back in upper case.
    const browser = page.evaluate(
      ({ port, token }) =>
        new Promise<string>((resolve, reject) => {
          const ws = new WebSocket(`ws://127.0.0.1:${port}/`)
          ws.binaryType = 'arraybuffer'
          const enc = new TextEncoder()
          const id = enc.encode('browser')
          const tok = enc.encode(token)
          const hello = new Uint8Array(8 + id.length + tok.length)
          hello.set([0x56, 0x44, 1, 1, 0, id.length, tok.length >> 8, tok.length & 0xff])
          hello.set(id, 8)
          hello.set(tok, 8 + id.length)
          let paired = false
          let log = ''
          ws.onopen = () => ws.send(hello)
          ws.onmessage = (ev) => {
            const b = new Uint8Array(ev.data as ArrayBuffer)
            if (!paired) {
              log += `status ${b[4]};`
              if (b[4] === 1) paired = true
              else if (b[4] !== 0) reject(new Error(`refused ${b[4]}`))
              return
            }
            const text = new TextDecoder().decode(b)
            log += `got ${text};`
            ws.send(enc.encode(text.toUpperCase()))
          }
          ws.onclose = (ev) => resolve(`${log}close ${ev.code}`)
          ws.onerror = () => log += 'error;'
        }),
      { port, token },
    )
    await new Promise((res) => setTimeout(res, 300))
    const tcp = await connectPeer({ relay, id: 'browser', token })
    t.equal(tcp.pairing.peerTransport, 'ws')
    tcp.write('hello browser')
    const [echo] = (await new Promise((res) => tcp.once('data', (d) => res([d])))) as [Buffer]
    t.equal(echo.toString(), 'HELLO BROWSER', 'the tab echoed through the relay')
    tcp.end()
    t.match(await browser, /^status 0;status 1;got hello browser;close 100[05]$/, 'the tab saw WAITING, PAIRED, the data, and a normal close')
  })
}
