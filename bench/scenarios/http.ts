/**
 * HTTP proxy benchmarks, on loopback, every program in its own process:
 * - http-get-1k / http-get-100k: keep-alive GETs from N concurrent clients, req/s and p50/p99 latency;
 *   undici Pool straight to the origin ("direct") vs undici ProxyAgent in absolute form (proxyTunnel:
 *   false) through Viaduct ("viaduct http"), tinyproxy and Squid when installed.
 * - connect-throughput: one TCP stream's MiB/s (origin to client) direct vs through a CONNECT tunnel, next
 *   to two reference relays with no handshake at all (a Node.js `pipe` relay and a C splice(2) relay), which
 *   show the ceiling of any relay on this machine.
 * - connect-1000-tunnels: peak RSS of the proxy process holding 1,000 open tunnels (target < 150 MiB).
 *
 * Fairness: the origin is its own process (bench/origin.ts), so direct = this process <-> origin process
 * and proxied = this process <-> proxy process <-> origin process; every program is started before the
 * first measurement and stays up; the paths are measured in short interleaved rounds (A/B/C, B/C/A, ...)
 * and each row is the median of the rounds, so a burst of load from elsewhere on the machine hits every
 * path alike. Counts and times are bounded; --quick shrinks them.
 */
import { accessSync, chmodSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Pool, ProxyAgent, request, type Dispatcher } from 'undici'
import { benchScript, freePort, startJsonChild, startOrigin, startProgram, startReferenceRelays, startViaduct, viaductVariants, type OriginPorts, type RunningProgram, type ViaductVariant } from '../harness.js'
import { interleave, median, nowMs, percentile, spread } from '../stats.js'
import type { BenchOptions, BenchRow, Scenario } from '../types.js'
import type { Metric } from '../metrics.js'

const MiB = 1024 * 1024

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

/** A proxy under test: its port, and how to stop it. */
interface Proxy {
  path: string
  port: number
  prog: RunningProgram
  cleanup(): void
}

async function startViaductProxy(variant?: ViaductVariant): Promise<Proxy> {
  const prog = await startViaduct(['--http', '127.0.0.1:0', '--allow-private', '127.0.0.0/8', '--connect-port', '*'], { bin: variant?.bin, env: variant?.env })
  return { path: variant ? `viaduct http (${variant.label})` : 'viaduct http', port: prog.port('http'), prog, cleanup: () => undefined }
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

/**
 * The minimal Node.js forward proxies of bench/relay.ts: "http" (node's client upstream) and "http-undici"
 * (undici's dispatcher upstream): what any Node.js HTTP proxy of either design gets here.
 */
async function startNodeReference(kind: 'http' | 'http-undici', path: string): Promise<Proxy> {
  const [cmd, args] = benchScript('relay')
  const prog = await startJsonChild<{ port: number }>(cmd, [...args, kind])
  return { path, port: prog.info.port, prog, cleanup: () => undefined }
}

/** Viaduct always; tinyproxy and Squid when installed (a note row says when they are not). */
function proxies(rows: BenchRow[], group: string, metric: Metric): Starter[] {
  const list: Starter[] = [{ path: 'viaduct http', start: () => startViaductProxy() }]
  for (const v of viaductVariants()) list.push({ path: `viaduct http (${v.label})`, start: () => startViaductProxy(v) })
  const tp = findProgramPath('tinyproxy')
  if (tp) list.push({ path: 'tinyproxy', start: () => startTinyproxy(tp) })
  else rows.push({ group, path: 'tinyproxy', metric, value: NaN, note: 'not installed (Debian package tinyproxy)' })
  const sq = findProgramPath('squid')
  if (sq) list.push({ path: 'squid', start: () => startSquid(sq) })
  else rows.push({ group, path: 'squid', metric, value: NaN, note: 'not installed (Debian package squid)' })
  return list
}

/** Start every proxy of the list; stop them all (and clean up) when `fn` is done. */
async function withProxies<T>(starters: Starter[], fn: (ps: Proxy[]) => Promise<T>): Promise<T> {
  const started: Proxy[] = []
  try {
    for (const s of starters) started.push(await s.start())
    return await fn(started)
  } finally {
    for (const p of started) {
      await p.prog.stop()
      p.cleanup()
    }
  }
}

async function withOrigin<T>(fn: (o: OriginPorts) => Promise<T>): Promise<T> {
  const o = await startOrigin()
  try {
    return await fn(o.info)
  } finally {
    await o.stop()
  }
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

/** One GET path: a dispatcher kept across rounds (its keep-alive connections stay warm). */
interface GetPath {
  path: string
  dispatcher: Dispatcher
  latencies: number[]
  requests: number
  errors: number
  seconds: number
  /** The proxy process (none for direct), and the CPU ms it spent during the measured rounds. */
  prog?: RunningProgram
  cpuMs: number
}

function getPath(path: string, origin: OriginPorts, proxy: Proxy | undefined, concurrency: number): GetPath {
  const proxyPort = proxy?.port
  const dispatcher: Dispatcher = proxyPort
    ? new ProxyAgent({ uri: `http://127.0.0.1:${proxyPort}`, proxyTunnel: false, connections: concurrency })
    : new Pool(`http://127.0.0.1:${origin.http}`, { connections: concurrency })
  return { path, dispatcher, latencies: [], requests: 0, errors: 0, seconds: 0, prog: proxy?.prog, cpuMs: 0 }
}

/** Rounds of short GET loads over every path in turn; rows with the median req/s and pooled p50/p99. */
async function measureGets(origin: OriginPorts, proxies: Proxy[], size: '1k' | '100k', opts: BenchOptions): Promise<BenchRow[]> {
  const group = `http-get-${size}`
  const concurrency = opts.quick ? 8 : 32
  const rounds = opts.quick ? 3 : 7
  // one round of one path: bounded by count and by time
  const perRound = opts.quick ? (size === '1k' ? 1500 : 400) : size === '1k' ? 20_000 : 5000
  const slice = Math.max(0.25, opts.seconds / (opts.quick ? 2 : 4))
  const url = `http://127.0.0.1:${origin.http}/${size}`
  const paths = [getPath('direct', origin, undefined, concurrency), ...proxies.map((p) => getPath(p.path, origin, p, concurrency))]
  try {
    for (const p of paths) {
      opts.progress(`${group}: warm-up ${p.path}`)
      await getLoad(p.dispatcher, url, concurrency, concurrency * 20, 5) // connections and JIT
    }
    const samples = await interleave(paths, rounds, nowMs() + opts.seconds * 1000 * paths.length * rounds, async (p, r) => {
      opts.progress(`${group}: round ${r + 1}/${rounds} ${p.path}`)
      const c0 = p.prog?.cpuMs() ?? NaN
      const res = await getLoad(p.dispatcher, url, concurrency, perRound, slice)
      p.cpuMs += (p.prog?.cpuMs() ?? NaN) - c0
      p.latencies.push(...res.latencies)
      p.requests += res.count
      p.errors += res.errors
      p.seconds += res.seconds
      return res.count / res.seconds
    })
    const rows: BenchRow[] = []
    for (const p of paths) {
      const s = samples.get(p) ?? []
      const note = `${spread(s)} rounds; ${p.requests} GETs in ${p.seconds.toFixed(1)} s, ${concurrency} concurrent clients${p.errors ? `, ${p.errors} failed` : ''}`
      rows.push(
        { group, path: p.path, metric: 'req/s', value: median(s), note },
        { group, path: p.path, metric: 'p50 ms', value: percentile(p.latencies, 50) },
        { group, path: p.path, metric: 'p99 ms', value: percentile(p.latencies, 99) },
      )
      // CPU the proxy process spent per request served: what load elsewhere on the machine hardly changes
      if (p.prog && Number.isFinite(p.cpuMs) && p.requests > 0) {
        rows.push({ group, path: p.path, metric: 'CPU µs/req', value: (p.cpuMs * 1000) / p.requests, note: 'proxy process only (10 ms ticks), all measured rounds' })
      }
    }
    return rows
  } finally {
    for (const p of paths) await p.dispatcher.destroy()
  }
}

/** Open a CONNECT tunnel on a fresh socket; resolves once the proxy answered 200. */
function openTunnel(proxyPort: number, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port: proxyPort, host: '127.0.0.1', noDelay: true })
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
    const s = connect({ port, host: '127.0.0.1', noDelay: true })
    s.once('connect', () => resolve(s))
    s.once('error', reject)
  })
}

/** Ask the byte source for `bytes` and read them all; returns MiB/s (timed from the request to the end). */
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

async function withProxy<T>(s: Starter, fn: (p: Proxy) => Promise<T>): Promise<T> {
  return withProxies([s], ([p]) => fn(p))
}

const httpGets: Scenario = {
  name: 'http-get',
  description: 'keep-alive GETs of 1 KiB and 100 KiB, direct vs through the HTTP proxy (absolute form)',
  async run(opts) {
    const rows: BenchRow[] = []
    await withOrigin(async (origin) => {
      // plus a reference: the least a Node.js proxy can do (no policy, no ledger, no header rules)
      const starters = [
        ...proxies(rows, 'http-get-1k', 'req/s'),
        { path: 'node http proxy', start: () => startNodeReference('http', 'node http proxy') },
        { path: 'node+undici proxy', start: () => startNodeReference('http-undici', 'node+undici proxy') },
      ]
      await withProxies(starters, async (ps) => {
        // VIADUCT_BENCH_GET_SIZES=1k: only the 1 KiB GETs (quicker A/B loops while tuning)
        const only = process.env.VIADUCT_BENCH_GET_SIZES?.split(',')
        for (const size of ['1k', '100k'] as const) if (!only || only.includes(size)) rows.push(...(await measureGets(origin, ps, size, opts)))
      })
    })
    return rows
  },
}

const connectThroughput: Scenario = {
  name: 'connect-throughput',
  description: 'one TCP stream, MiB/s, direct vs through a CONNECT tunnel (and two reference relays: the ceiling)',
  async run(opts) {
    const rows: BenchRow[] = []
    const group = 'connect-throughput'
    const bytes = (opts.quick ? 32 : 256) * MiB
    const rounds = opts.quick ? 3 : 7
    await withOrigin(async (origin) => {
      const refs = await startReferenceRelays(origin.source, (path, note) => rows.push({ group, path, metric: 'MiB/s', value: NaN, note }))
      try {
        await withProxies(proxies(rows, group, 'MiB/s'), async (ps) => {
          type Path = { path: string; open: () => Promise<Socket>; prog?: RunningProgram; cpu: number; bytes: number }
          const paths: Path[] = [
            { path: 'direct', open: () => directSocket(origin.source), cpu: 0, bytes: 0 },
            ...ps.map((p) => ({ path: p.path.replace('viaduct http', 'viaduct connect'), open: () => openTunnel(p.port, origin.source), prog: p.prog, cpu: 0, bytes: 0 })),
            ...refs.map((r) => ({ path: r.path, open: () => directSocket(r.port), prog: r.prog, cpu: 0, bytes: 0 })),
          ]
          for (const p of paths) {
            opts.progress(`warm-up ${p.path}`)
            await download(await p.open(), bytes / 4)
          }
          const samples = await interleave(paths, rounds, nowMs() + opts.seconds * 1000 * paths.length, async (p, r) => {
            opts.progress(`round ${r + 1}/${rounds} ${p.path}`)
            const s = await p.open()
            const c0 = p.prog?.cpuMs() ?? NaN
            const mibs = await download(s, bytes)
            p.cpu += (p.prog?.cpuMs() ?? NaN) - c0
            p.bytes += bytes
            return mibs
          })
          for (const p of paths) {
            const s = samples.get(p) ?? []
            const ref = refs.some((x) => x.path === p.path) ? '; reference: no handshake, the ceiling of a relay here' : ''
            rows.push({ group, path: p.path, metric: 'MiB/s', value: median(s), note: `${spread(s)} x ${bytes / MiB} MiB${ref}` })
          }
          // CPU the relay process spent per GiB relayed: what the load elsewhere on the machine hardly changes
          for (const p of paths) {
            if (p.prog && Number.isFinite(p.cpu) && p.bytes > 0) rows.push({ group, path: p.path, metric: 'CPU ms/GiB', value: p.cpu / (p.bytes / (1024 * MiB)), note: 'proxy process only (10 ms ticks)' })
          }
        })
      } finally {
        for (const r of refs) await r.prog.stop()
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
        const path = s.path.replace('viaduct http', 'viaduct connect')
        opts.progress(`${path}: ${n} tunnels`)
        const rss = await withProxy(s, async (p) => {
          const idle = p.prog.peakRssMiB()
          const socks = await openTunnels(p.port, origin.source, n)
          // one small echo through every tunnel at once: each holds its buffers while the others do
          await Promise.all(
            socks.map(
              (x) =>
                new Promise<void>((resolve) => {
                  x.once('data', () => resolve())
                  x.write('ping')
                }),
            ),
          )
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
