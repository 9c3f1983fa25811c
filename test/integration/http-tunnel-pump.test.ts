/**
 * CONNECT tunnels read target bytes through a ReadPump (reused buffers, modes/forward/http/read-pump.ts).
 * A target that speaks first, with more than one buffer's worth before the proxy has even answered 200,
 * must reach the client whole and in order after the 200, then the tunnel works both ways, and the ledger
 * counts what crossed the client socket exactly.
 */
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { settle } from '../helpers/gateway.js'
import { rawSocket, startProxy } from '../helpers/http-origin.js'

const BANNER = randomBytes(1024 * 1024 + 123)

async function serverFirstTarget(t: { teardown(fn: () => void): void }): Promise<number> {
  const sockets = new Set<Socket>()
  const server = createServer((s) => {
    sockets.add(s)
    s.on('error', () => undefined)
    s.write(BANNER)
    s.on('data', (d) => s.write(d))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => {
    for (const s of sockets) s.destroy()
    server.close()
  })
  return (server.address() as AddressInfo).port
}

/** Read from `s` until `n` bytes after the response head arrived; returns the head and those bytes. */
function readHeadAndBytes(s: Socket, n: number, ms = 10_000): Promise<{ head: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let total = 0
    const timer = setTimeout(() => reject(new Error(`timeout after ${total} bytes`)), ms)
    const onData = (d: Buffer) => {
      chunks.push(d)
      total += d.length
      const all = Buffer.concat(chunks)
      const i = all.indexOf('\r\n\r\n')
      if (i < 0 || all.length - (i + 4) < n) return
      clearTimeout(timer)
      s.off('data', onData)
      const rest = all.subarray(i + 4 + n)
      if (rest.length > 0) s.unshift(rest)
      resolve({ head: all.subarray(0, i + 4).toString('latin1'), body: all.subarray(i + 4, i + 4 + n) })
    }
    s.on('data', onData)
  })
}

t.test('a target that sends 1 MiB first: all of it after the 200, in order; then an echo; exact ledger', async (t) => {
  const port = await serverFirstTarget(t)
  const proxy = await startProxy(t)
  const s = await rawSocket(proxy.port)
  t.teardown(() => s.destroy())
  // slow down our side: the target's first bytes arrive while the proxy is still dialling and answering
  s.pause()
  s.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`)
  await new Promise((r) => setTimeout(r, 200))
  s.resume()
  const { head, body } = await readHeadAndBytes(s, BANNER.length)
  t.match(head, /^HTTP\/1\.1 200 /, 'the 200 comes first')
  t.equal(createHash('sha256').update(body).digest('hex'), createHash('sha256').update(BANNER).digest('hex'), 'the banner arrived whole and in order')
  const echo = new Promise<string>((resolve) => s.once('data', (d: Buffer) => resolve(d.toString())))
  s.write('ping')
  t.equal(await echo, 'ping', 'the tunnel carries bytes both ways')
  const read = s.bytesRead
  const written = s.bytesWritten
  s.end()
  const recs = await settle(proxy.gw, 5000)
  const rec = recs.find((r) => r.protocol === 'connect')
  t.equal(rec?.bytesDown, read, 'ledger bytesDown = bytes the client read')
  t.equal(rec?.bytesUp, written, 'ledger bytesUp = bytes the client wrote')
})
