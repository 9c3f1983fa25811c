/**
 * The last line of defence (src/cli/main.ts guardProcess): an exception or rejection nothing caught is
 * reported once as a fatal line with its stack, live sessions are ended, and the process exits 70 for its
 * supervisor to restart it: never silent, never a half-working process. The bug is injected by a module
 * preloaded with `node --import`, so the binary carries no test hook.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { createServer, connect, type Server } from 'node:net'
import { fileURLToPath } from 'node:url'
import { VIADUCT_BIN } from '../helpers/run-node.js'

const PRELOAD = fileURLToPath(new URL('../fixtures/throw-later.mjs', import.meta.url))

for (const kind of ['exception', 'rejection'] as const) {
  t.test(`an uncaught ${kind}: one fatal line, sessions ended, exit 70`, async (t) => {
    const echo: Server = createServer((s) => s.pipe(s))
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r))
    t.teardown(() => echo.close())
    const ep = (echo.address() as { port: number }).port
    const child = spawn(
      process.execPath,
      ['--import', PRELOAD, VIADUCT_BIN, 'start', '--http', '127.0.0.1:0', '--socks', 'off', '--relay', 'off', '--turn', 'off', '--admin', 'off',
        '--allow-private', '127.0.0.0/8', '--connect-port', '*', '--log-pretty', 'false'],
      { env: { ...process.env, VIADUCT_TEST_THROW_AFTER_MS: '1500', VIADUCT_TEST_THROW_KIND: kind }, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    t.teardown(() => child.kill('SIGKILL'))
    let stderr = ''
    let stdout = ''
    child.stderr.on('data', (d) => (stderr += d))
    child.stdout.on('data', (d) => (stdout += d))
    const exited = new Promise<number | null>((r) => child.on('close', (c) => r(c)))
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(stderr)), 10_000)
      child.stderr.on('data', () => {
        const m = /http\s+tcp 127\.0\.0\.1:(\d+)/.exec(stderr)
        if (m) {
          clearTimeout(timer)
          resolve(Number(m[1]))
        }
      })
    })
    const tunnel = connect(port, '127.0.0.1', () => tunnel.write(`CONNECT 127.0.0.1:${ep} HTTP/1.1\r\nHost: 127.0.0.1:${ep}\r\n\r\n`))
    tunnel.on('error', () => undefined)
    await new Promise((r) => tunnel.once('data', r))
    const tunnelClosed = new Promise((r) => tunnel.once('close', r))
    const code = await exited
    t.equal(code, 70, 'exit code 70 (EX_SOFTWARE)')
    await tunnelClosed
    t.pass('the live tunnel was closed')
    const lines = stdout.split('\n').filter((l) => l.includes('"event":"crash"'))
    t.equal(lines.length, 1, 'one fatal log line')
    t.match(JSON.parse(lines[0]), { level: 60, origin: kind, err: { message: /injected/, stack: /throw-later\.mjs/ } })
    t.match(stderr, new RegExp(`viaduct: fatal: uncaught ${kind}: Error: injected`), 'and one line on stderr')
  })
}
