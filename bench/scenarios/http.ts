/**
 * HTTP proxy benchmarks, on loopback, every program in its own process:
 * - http-get-1k / http-get-100k: keep-alive GETs from N concurrent clients, req/s and p50/p99 latency;
 *   undici Pool straight to the origin ("direct") vs undici ProxyAgent in absolute form (proxyTunnel:
 *   false) through Viaduct ("viaduct http"), tinyproxy and Squid when installed.
 * - connect-throughput: one TCP stream's MiB/s direct vs through a CONNECT tunnel.
 * - connect-1000-tunnels: peak RSS of the proxy process holding 1,000 open tunnels (target < 150 MiB).
 * The origin (HTTP server and a TCP byte source/echo) runs as a child `node -e` so the load generator,
 * the origin and the proxy never share an event loop. Counts and times are bounded; --quick shrinks them.
 */
import { accessSync, chmodSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Pool, ProxyAgent, request, type Dispatcher } from 'undici'
import { startProgram, startViaduct, type RunningProgram } from '../harness.js'
import { nowMs, percentile } from '../stats.js'
import type { BenchOptions, BenchRow, Scenario } from '../types.js'

const MiB = 1024 * 1024

/** The origin child: GET /1k and /100k over keep-alive; a TCP port that streams N bytes ("N\n") or echoes ("0\n"). */
const ORIGIN_SCRIPT = `
const http = require('http'), net = require('net')
const bodies = { '/1k': Buffer.alloc(1024, 97), '/100k': Buffer.alloc(100 * 1024, 98) }
const s = http.createServer((req, res) => {
  const b = bodies[req.url] || bodies['/1k']
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': b.length })
  res.end(b)
})
s.keepAliveTimeout = 120000
s.listen(Number(process.env.HTTP_PORT), '127.0.0.1')
const chunk = Buffer.alloc(256 * 1024, 99)
net.createServer((c) => {
  c.on('error', () => {})
  c.once('data', (d) => {
    let left = Number(String(d).trim())
    if (!left) { c.write('ok'); c.on('data', (x) => c.write(x)); return }
    const pump = () => {
      while (left > 0) {
        const k = Math.min(left, chunk.length)
        left -= k
        if (!c.write(k === chunk.length ? chunk : chunk.subarray(0, k))) return void c.once('drain', pump)
      }
      c.end()
    }
    pump()
  })
}).listen(Number(process.env.TCP_PORT), '127.0.0.1')
`

/** The path of an installed program (Debian puts squid in /usr/sbin, which a user's PATH may lack). */
function findProgramPath(name: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin', '/sbin']) {
    if (!dir) continue
    try {
      accessSync(join(dir, name), constants.X_OK)
      return join(dir, name)
    } catch {
      // not here
    }
  }
  return undefined
}

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as AddressInfo).port
  await new Promise((r) => s.close(r))
  return port
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1')
    c.once('connect', () => {
      c.destroy()
      resolve(true)
    })
    c.once('error', () => resolve(false))
  })
}

async function waitPorts(ports: number[]): Promise<void> {
  for (;;) {
    const ok = await Promise.all(ports.map(canConnect))
    if (ok.every(Boolean)) return
    await new Promise((r) => setTimeout(r, 50))
  }
}

interface Origin {
  httpPort: number
  tcpPort: number
  prog: RunningProgram
}

async function startOrigin(): Promise<Origin> {
  const httpPort = await freePort()
  const tcpPort = await freePort()
  const prog = await startProgramEnv(process.execPath, ['-e', ORIGIN_SCRIPT], { HTTP_PORT: String(httpPort), TCP_PORT: String(tcpPort) }, () => waitPorts([httpPort, tcpPort]))
  return { httpPort, tcpPort, prog }
}

/** startProgram with extra environment (the harness passes the parent's). */
async function startProgramEnv(cmd: string, args: string[], env: Record<string, string>, ready: () => Promise<void>): Promise<RunningProgram> {
  const saved: Record<string, string | undefined> = {}
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k]
    process.env[k] = v
  }
  try {
    return await startProgram(cmd, args, ready)
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  }
}

/** A proxy under test: its port, and how to stop it. */
interface Proxy {
  path: string
  port: number
  prog: RunningProgram
  cleanup(): void
}

async function startViaductProxy(): Promise<Proxy> {
  const prog = await startViaduct(['--http', '127.0.0.1:0', '--allow-private', '127.0.0.0/8', '--connect-port', '*'])
  return { path: 'viaduct http', port: prog.port('http'), prog, cleanup: () => undefined }
}

async function startTinyproxy(bin: string): Promise<Proxy> {
  const dir = mkdtempSync(join(tmpdir(), 'viaduct-bench-tinyproxy-'))
  chmodSync(dir, 0o777)
  const port = await freePort()
  const conf = join(dir, 'tinyproxy.conf')
  const user = process.getuid?.() === 0 ? 'User nobody\nGroup nogroup\n' : ''
  writeFileSync(conf, `${user}Port ${port}\nListen 127.0.0.1\nTimeout 600\nMaxClients 4000\nAllow 127.0.0.1\nLogLevel Critical\n`)
  const prog = await startProgram(bin, ['-d', '-c', conf], () => waitPorts([port]))
  return { path: 'tinyproxy', port, prog, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

async function startSquid(bin: string): Promise<Proxy> {
  const dir = mkdtempSync(join(tmpdir(), 'viaduct-bench-squid-'))
  chmodSync(dir, 0o777)
  const port = await freePort()
  const conf = join(dir, 'squid.conf')
  writeFileSync(
    conf,
    [
      `http_port 127.0.0.1:${port}`,
      'acl localnet src 127.0.0.1/32',
      'http_access allow localnet',
      'http_access deny all',
      'cache deny all',
      'cache_mem 8 MB',
      'access_log none',
      `cache_log ${join(dir, 'cache.log')}`,
      `pid_filename ${join(dir, 'squid.pid')}`,
      `coredump_dir ${dir}`,
      'shutdown_lifetime 1 seconds',
      'visible_hostname bench',
      'pinger_enable off',
      'dns_nameservers 127.0.0.1',
      'max_filedescriptors 8192',
      '',
    ].join('\n'),
  )
  const prog = await startProgram(bin, ['-N', '-f', conf], () => waitPorts([port]), { timeoutMs: 30_000 })
  return { path: 'squid', port, prog, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

type Starter = { path: string; start: () => Promise<Proxy> }

/** Viaduct always; tinyproxy and Squid when installed (a note row says when they are not). */
function proxies(rows: BenchRow[], group: string, metric: string): Starter[] {
  const list: Starter[] = [{ path: 'viaduct http', start: startViaductProxy }]
  const tp = findProgramPath('tinyproxy')
  if (tp) list.push({ path: 'tinyproxy', start: () => startTinyproxy(tp) })
  else rows.push({ group, path: 'tinyproxy', metric, value: NaN, note: 'not installed (Debian package tinyproxy)' })
  const sq = findProgramPath('squid')
  if (sq) list.push({ path: 'squid', start: () => startSquid(sq) })
  else rows.push({ group, path: 'squid', metric, value: NaN, note: 'not installed (Debian package squid)' })
  return list
}

interface LoadResult {
  count: number
  /** Requests that failed (connection closed under them, non-200): counted, not timed. */
  errors: number
  seconds: number
  latencies: number[]
}

/** `concurrency` clients each GET in a loop, until `maxRequests` or `seconds` is reached. */
async function getLoad(dispatcher: Dispatcher, url: string, concurrency: number, maxRequests: number, seconds: number): Promise<LoadResult> {
  const latencies: number[] = []
  let issued = 0
  let errors = 0
  const start = nowMs()
  const deadline = start + seconds * 1000
  const worker = async () => {
    while (issued < maxRequests && nowMs() < deadline) {
      issued++
      const t0 = nowMs()
      try {
        const r = await request(url, { dispatcher })
        await r.body.arrayBuffer()
        if (r.statusCode !== 200) throw new Error(`GET ${url}: status ${r.statusCode}`)
        latencies.push(nowMs() - t0)
      } catch (err) {
        if (++errors > Math.max(100, issued / 2)) throw err
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return { count: latencies.length, errors, seconds: (nowMs() - start) / 1000, latencies }
}

function loadRows(group: string, path: string, r: LoadResult, note: string): BenchRow[] {
  return [
    { group, path, metric: 'req/s', value: r.count / r.seconds, note },
    { group, path, metric: 'p50 ms', value: percentile(r.latencies, 50) },
    { group, path, metric: 'p99 ms', value: percentile(r.latencies, 99) },
  ]
}

async function measureGets(origin: Origin, proxyPort: number | undefined, size: '1k' | '100k', opts: BenchOptions): Promise<LoadResult> {
  const concurrency = opts.quick ? 8 : 32
  const max = opts.quick ? (size === '1k' ? 3000 : 800) : 200_000
  const base = `http://127.0.0.1:${origin.httpPort}`
  const dispatcher: Dispatcher = proxyPort
    ? new ProxyAgent({ uri: `http://127.0.0.1:${proxyPort}`, proxyTunnel: false })
    : new Pool(base, { connections: concurrency })
  try {
    await getLoad(dispatcher, `${base}/${size}`, concurrency, concurrency * 10, 5) // warm up connections and JIT
    return await getLoad(dispatcher, `${base}/${size}`, concurrency, max, opts.seconds)
  } finally {
    await dispatcher.destroy()
  }
}

/** Open a CONNECT tunnel on a fresh socket; resolves once the proxy answered 200. */
function openTunnel(proxyPort: number, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(proxyPort, '127.0.0.1')
    s.once('error', reject)
    s.once('connect', () => s.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`))
    let head = ''
    const onData = (d: Buffer) => {
      head += d.toString('latin1')
      const i = head.indexOf('\r\n\r\n')
      if (i < 0) return
      s.off('data', onData)
      if (!/^HTTP\/1\.[01] 200/.test(head)) return reject(new Error(`CONNECT refused: ${head.split('\r\n')[0]}`))
      const rest = head.slice(i + 4)
      if (rest) s.unshift(Buffer.from(rest, 'latin1'))
      resolve(s)
    }
    s.on('data', onData)
  })
}

function directSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1')
    s.once('connect', () => resolve(s))
    s.once('error', reject)
  })
}

/** Ask the byte source for `bytes` and read them all; returns MiB/s. */
function download(s: Socket, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let got = 0
    const t0 = nowMs()
    s.on('data', (d: Buffer) => (got += d.length))
    s.once('error', reject)
    s.once('end', () => {
      s.destroy()
      if (got !== bytes) return reject(new Error(`got ${got} of ${bytes} bytes`))
      resolve(bytes / MiB / ((nowMs() - t0) / 1000))
    })
    s.write(`${bytes}\n`)
  })
}

async function throughput(open: () => Promise<Socket>, opts: BenchOptions): Promise<{ mibs: number; runs: number; bytes: number }> {
  const bytes = (opts.quick ? 64 : 512) * MiB
  const runs = opts.quick ? 2 : 5
  const deadline = nowMs() + opts.seconds * 1000 * 2
  let best = 0
  let done = 0
  await download(await open(), bytes / 2) // warm up (JIT, socket buffers)
  while (done < runs && (done === 0 || nowMs() < deadline)) {
    best = Math.max(best, await download(await open(), bytes))
    done++
  }
  return { mibs: best, runs: done, bytes }
}

async function withProxy<T>(s: Starter, fn: (p: Proxy) => Promise<T>): Promise<T> {
  const p = await s.start()
  try {
    return await fn(p)
  } finally {
    await p.prog.stop()
    p.cleanup()
  }
}

async function withOrigin<T>(fn: (o: Origin) => Promise<T>): Promise<T> {
  const o = await startOrigin()
  try {
    return await fn(o)
  } finally {
    await o.prog.stop()
  }
}

const httpGets: Scenario = {
  name: 'http-get',
  description: 'keep-alive GETs of 1 KiB and 100 KiB, direct vs through the HTTP proxy (absolute form)',
  async run(opts) {
    const rows: BenchRow[] = []
    await withOrigin(async (origin) => {
      for (const size of ['1k', '100k'] as const) {
        const group = `http-get-${size}`
        const note = (r: LoadResult) => `${r.count} GETs, ${opts.quick ? 8 : 32} concurrent clients, ${r.seconds.toFixed(1)} s${r.errors ? `, ${r.errors} failed` : ''}`
        opts.progress(`${group}: direct`)
        const d = await measureGets(origin, undefined, size, opts)
        rows.push(...loadRows(group, 'direct', d, note(d)))
        for (const s of proxies(rows, group, 'req/s')) {
          opts.progress(`${group}: ${s.path}`)
          const r = await withProxy(s, (p) => measureGets(origin, p.port, size, opts))
          rows.push(...loadRows(group, s.path, r, note(r)))
        }
      }
    })
    return rows
  },
}

const connectThroughput: Scenario = {
  name: 'connect-throughput',
  description: 'one TCP stream, MiB/s, direct vs through a CONNECT tunnel',
  async run(opts) {
    const rows: BenchRow[] = []
    const group = 'connect-throughput'
    await withOrigin(async (origin) => {
      opts.progress('direct')
      const d = await throughput(() => directSocket(origin.tcpPort), opts)
      rows.push({ group, path: 'direct', metric: 'MiB/s', value: d.mibs, note: `best of ${d.runs} x ${d.bytes / MiB} MiB` })
      for (const s of proxies(rows, group, 'MiB/s')) {
        const path = s.path === 'viaduct http' ? 'viaduct connect' : s.path
        opts.progress(path)
        const r = await withProxy(s, (p) => throughput(() => openTunnel(p.port, origin.tcpPort), opts))
        rows.push({ group, path, metric: 'MiB/s', value: r.mibs, note: `best of ${r.runs} x ${r.bytes / MiB} MiB` })
      }
    })
    return rows
  },
}

/** Open `n` tunnels (50 at a time), each proven by an echo; returns the sockets. */
async function openTunnels(proxyPort: number, originPort: number, n: number): Promise<Socket[]> {
  const out: Socket[] = []
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, async () => {
        const s = await openTunnel(proxyPort, originPort)
        s.on('error', () => undefined)
        await new Promise<void>((resolve) => {
          s.once('data', () => resolve())
          s.write('0\n')
        })
        return s
      }),
    )
    out.push(...batch)
  }
  return out
}

const thousandTunnels: Scenario = {
  name: 'connect-1000-tunnels',
  description: 'peak RSS of the proxy process with 1,000 open CONNECT tunnels (target < 150 MiB for Viaduct)',
  async run(opts) {
    const rows: BenchRow[] = []
    const group = 'connect-1000-tunnels'
    const n = opts.quick ? 250 : 1000
    await withOrigin(async (origin) => {
      for (const s of proxies(rows, group, 'peak RSS MiB')) {
        const path = s.path === 'viaduct http' ? 'viaduct connect' : s.path
        opts.progress(`${path}: ${n} tunnels`)
        const rss = await withProxy(s, async (p) => {
          const idle = p.prog.peakRssMiB()
          const socks = await openTunnels(p.port, origin.tcpPort, n)
          await new Promise((r) => setTimeout(r, 300))
          const peak = p.prog.peakRssMiB()
          for (const x of socks) x.destroy()
          return { idle, peak }
        })
        rows.push({ group, path, metric: 'peak RSS MiB', value: rss.peak, note: `${n} tunnels open; ${rss.idle.toFixed(0)} MiB before` })
      }
    })
    return rows
  },
}

export const scenarios: Scenario[] = [httpGets, connectThroughput, thousandTunnels]
