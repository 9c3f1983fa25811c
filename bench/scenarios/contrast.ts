/**
 * The contrast: one small echo workload, run the same way direct, through the forward proxy (HTTP
 * CONNECT, SOCKS5 CONNECT) and through the relay (two peers paired over TCP, peer B echoing), against one
 * Viaduct child process with every one of those listeners on. Same client code, same echo server; only
 * the intermediary changes. Paths whose listener is not there are skipped with a progress message.
 *
 * Measures per path: round-trip latency of 64-byte messages (p50, p99), bulk echo throughput, new
 * sessions per second (open, one round trip, close), and the child's peak RSS at the end.
 */
import { connect, createServer, type Server, type Socket } from 'node:net'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import { SocksClient } from 'socks'
import { startViaduct, type RunningProgram } from '../harness.js'
import { nowMs, percentile } from '../stats.js'
import type { BenchOptions, BenchRow, Scenario } from '../types.js'
import { pairTwo } from '../pair-client.js'

const SECRET = `bench-${randomBytes(12).toString('hex')}`
const CONNECT_TIMEOUT_MS = 5000

type Dial = () => Promise<{ sock: Socket; cleanup(): void }>

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout
  return Promise.race([p, new Promise<never>((_, rej) => (t = setTimeout(() => rej(new Error(`${what} timed out`)), ms)))]).finally(() => clearTimeout(t))
}

function dialTcp(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port })
    s.setNoDelay(true)
    s.once('connect', () => {
      s.off('error', reject)
      resolve(s)
    })
    s.once('error', reject)
  })
}

/** HTTP CONNECT through the proxy; resolves with the tunnel once the 200 head is read. */
async function dialConnect(proxyPort: number, port: number): Promise<Socket> {
  const s = await dialTcp('127.0.0.1', proxyPort)
  s.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`)
  let head = Buffer.alloc(0)
  for (;;) {
    const [chunk] = (await withTimeout(once(s, 'data'), CONNECT_TIMEOUT_MS, 'CONNECT')) as [Buffer]
    head = Buffer.concat([head, chunk])
    const end = head.indexOf('\r\n\r\n')
    if (end < 0) {
      if (head.length > 16384) throw new Error('CONNECT reply head too long')
      continue
    }
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(head.subarray(0, end).toString('latin1'))?.[1]
    if (status !== '200') {
      s.destroy()
      throw new Error(`CONNECT answered ${status ?? 'garbage'}`)
    }
    s.pause()
    const rest = head.subarray(end + 4)
    if (rest.length) s.unshift(rest)
    return s
  }
}

/** One round trip of `msg` on a socket in flowing mode. */
function echoOnce(s: Socket, msg: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = 0
    const onData = (c: Buffer) => {
      got += c.length
      if (got >= msg.length) {
        s.off('data', onData)
        s.off('close', onClose)
        resolve()
      }
    }
    const onClose = () => reject(new Error('closed during a round trip'))
    s.on('data', onData)
    s.once('close', onClose)
    s.write(msg)
  })
}

async function latency(dial: Dial, count: number, deadline: number): Promise<number[]> {
  const { sock, cleanup } = await dial()
  const msg = Buffer.alloc(64, 0x61)
  const samples: number[] = []
  try {
    await echoOnce(sock, msg) // warm-up
    for (let i = 0; i < count && nowMs() < deadline; i++) {
      const t0 = nowMs()
      await withTimeout(echoOnce(sock, msg), CONNECT_TIMEOUT_MS, 'round trip')
      samples.push(nowMs() - t0)
    }
  } finally {
    cleanup()
  }
  return samples
}

async function throughput(dial: Dial, maxBytes: number, seconds: number): Promise<{ mibs: number; bytes: number }> {
  const { sock, cleanup } = await dial()
  const chunk = randomBytes(64 * 1024)
  let received = 0
  sock.on('data', (c: Buffer) => (received += c.length))
  try {
    const t0 = nowMs()
    const stopAt = t0 + seconds * 1000
    let sent = 0
    while (sent < maxBytes && nowMs() < stopAt) {
      sent += chunk.length
      if (!sock.write(chunk)) await withTimeout(once(sock, 'drain'), CONNECT_TIMEOUT_MS * 2, 'drain')
    }
    const until = nowMs() + CONNECT_TIMEOUT_MS * 2
    while (received < sent && nowMs() < until) await new Promise((r) => setTimeout(r, 2))
    const secs = (nowMs() - t0) / 1000
    return { mibs: received / (1024 * 1024) / secs, bytes: received }
  } finally {
    cleanup()
  }
}

async function connRate(dial: Dial, max: number, seconds: number): Promise<{ rate: number; n: number }> {
  const msg = Buffer.alloc(16, 0x62)
  const t0 = nowMs()
  const stopAt = t0 + seconds * 1000
  let n = 0
  const worker = async () => {
    while (n < max && nowMs() < stopAt) {
      n++
      const { sock, cleanup } = await dial()
      try {
        await withTimeout(echoOnce(sock, msg), CONNECT_TIMEOUT_MS, 'round trip')
      } finally {
        cleanup()
      }
    }
  }
  await Promise.all(Array.from({ length: 4 }, worker))
  return { rate: n / ((nowMs() - t0) / 1000), n }
}

function echoServer(): Promise<Server> {
  const server = createServer((s) => {
    s.setNoDelay(true)
    s.on('error', () => s.destroy())
    s.pipe(s)
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

function has(gw: RunningProgram, listener: string): boolean {
  return gw.listeners.some((l) => l.listener === listener && l.transport === 'tcp')
}

export async function runContrast(opts: BenchOptions): Promise<BenchRow[]> {
  const echo = await echoServer()
  const echoPort = (echo.address() as { port: number }).port
  const q = opts.quick
  const seconds = Math.max(0.2, opts.seconds)
  const rows: BenchRow[] = []
  let gw: RunningProgram | undefined
  try {
    opts.progress('starting viaduct (http, socks, relay)')
    gw = await startViaduct([
      '--http', '127.0.0.1:0',
      '--socks', '127.0.0.1:0',
      '--relay', '127.0.0.1:0',
      '--relay-secret', SECRET,
      '--allow-private', '127.0.0.0/8',
      '--connect-port', String(echoPort),
    ])
    const child = gw
    const sockets = new Set<Socket>()
    const track = (...ss: Socket[]) => {
      for (const s of ss) sockets.add(s)
      return () => {
        for (const s of ss) {
          s.destroy()
          sockets.delete(s)
        }
      }
    }
    let room = 0
    const paths: Array<[string, Dial]> = [['direct', async () => { const s = await dialTcp('127.0.0.1', echoPort); return { sock: s, cleanup: track(s) } }]]
    if (has(child, 'http')) paths.push(['viaduct http CONNECT', async () => { const s = await dialConnect(child.port('http'), echoPort); s.resume(); return { sock: s, cleanup: track(s) } }])
    else opts.progress('skipping CONNECT: no http listener')
    if (has(child, 'socks')) {
      paths.push(['viaduct socks5', async () => {
        const { socket } = await SocksClient.createConnection({ proxy: { host: '127.0.0.1', port: child.port('socks'), type: 5 }, command: 'connect', destination: { host: '127.0.0.1', port: echoPort }, timeout: CONNECT_TIMEOUT_MS })
        socket.setNoDelay(true)
        return { sock: socket, cleanup: track(socket) }
      }])
    } else opts.progress('skipping SOCKS5: no socks listener')
    const relayTcp = child.listeners.find((l) => l.mode === 'relay' && l.transport === 'tcp' && l.listener.startsWith('pairing'))
    if (relayTcp) {
      paths.push(['viaduct relay pair-tcp', async () => {
        const [a, b] = await pairTwo('127.0.0.1', relayTcp.port, SECRET, `bench-${process.pid}-${++room}`)
        a.setNoDelay(true)
        b.pipe(b) // peer B is the echo
        a.resume()
        return { sock: a, cleanup: track(a, b) }
      }])
    } else opts.progress('skipping relay: no pairing listener')

    // Warm up the client side (JIT, buffers) so the first path measured is not penalised.
    opts.progress('warm-up')
    await throughput(paths[0][1], 16 * 1024 * 1024, 0.3)
    await latency(paths[0][1], 200, nowMs() + 300)
    for (const [path, dial] of paths) {
      try {
        opts.progress(`${path}: latency`)
        const lat = await latency(dial, q ? 300 : 5000, nowMs() + seconds * 1000)
        rows.push({ group: 'contrast echo 64 B', path, metric: 'p50 ms', value: percentile(lat, 50), note: `${lat.length} round trips` })
        rows.push({ group: 'contrast echo 64 B', path, metric: 'p99 ms', value: percentile(lat, 99), note: `${lat.length} round trips` })
        opts.progress(`${path}: throughput`)
        const tp = await throughput(dial, (q ? 64 : 1024) * 1024 * 1024, seconds)
        rows.push({ group: 'contrast bulk echo', path, metric: 'MiB/s', value: tp.mibs, note: `${(tp.bytes / 1048576).toFixed(0)} MiB echoed` })
        opts.progress(`${path}: new sessions`)
        const cr = await connRate(dial, q ? 200 : 5000, seconds)
        rows.push({ group: 'contrast new sessions', path, metric: 'conn/s', value: cr.rate, note: `${cr.n} sessions, 4 at a time${path.includes('relay') ? ', each a pairing of two peers' : ''}` })
      } catch (err) {
        opts.progress(`${path}: failed (${(err as Error).message})`)
        rows.push({ group: 'contrast echo 64 B', path, metric: 'p50 ms', value: NaN, note: `failed: ${(err as Error).message}` })
      }
    }
    for (const s of sockets) s.destroy()
    rows.push({ group: 'contrast memory', path: 'viaduct (http, socks, relay)', metric: 'peak RSS MiB', value: child.peakRssMiB(), note: 'the gateway child after every path above' })
  } finally {
    await gw?.stop()
    echo.close()
  }
  return rows
}

export const scenarios: Scenario[] = [
  {
    name: 'contrast',
    description: 'one echo workload direct, via HTTP CONNECT, via SOCKS5 and via a relay pairing (TCP): latency, throughput, sessions/s, memory',
    run: runContrast,
  },
]
