/**
 * SOCKS5 benchmarks: CONNECT throughput and new-connection rate, each measured DIRECT (client to target)
 * and THROUGH Viaduct's SOCKS listener started as a child process, in the same run, on loopback only.
 * The targets (a counting sink, a one-byte echo) run in their own process (bench/origin.ts), so direct =
 * this process <-> origin process and proxied = this process <-> Viaduct <-> origin process. Every program
 * is started first; the paths are measured in short interleaved rounds and each row is the median.
 * Next to Viaduct: microsocks (a C SOCKS5 server, when installed) and, for throughput, two reference
 * relays with no handshake (a Node.js `pipe` relay and a C splice(2) relay): the ceiling here.
 *
 * - socks5-connect-throughput: one connection, the client uploads as fast as backpressure allows and the
 *   target counts; MiB/s until the target has every byte (bounded by size and opts.seconds).
 * - socks5-conn-rate-100 / -1000: that many concurrent clients, each in a loop: open a connection (with
 *   the SOCKS5 handshake when proxied), send one byte, wait for the echo, close. Completed connections
 *   per second, bounded by a total count and opts.seconds.
 */
import { connect, type Socket } from 'node:net'
import { SocksClient } from 'socks'
import { existsSync } from 'node:fs'
import { freePort, startOrigin, startProgram, startReferenceRelays, startViaduct, viaductVariants, type OriginPorts, type RunningProgram } from '../harness.js'
import { interleave, median, nowMs, spread } from '../stats.js'
import type { BenchOptions, BenchRow, Scenario } from '../types.js'
import type { Metric } from '../metrics.js'

const MiB = 1024 * 1024
const CHUNK = Buffer.alloc(64 * 1024, 0x61)

type Opener = (port: number) => Promise<Socket>

const direct: Opener = (port) =>
  new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, noDelay: true }, () => resolve(s))
    s.once('error', reject)
  })

function viaSocks(proxyPort: number): Opener {
  return async (port) =>
    (await SocksClient.createConnection({ command: 'connect', proxy: { host: '127.0.0.1', port: proxyPort, type: 5 }, destination: { host: '127.0.0.1', port }, timeout: 10_000, set_tcp_nodelay: true })).socket
}

const ROUND_CHUNKS = 128 // 8 MiB rounds

/** Upload rounds of 8 MiB until `maxBytes` or the deadline; MiB/s from the bytes the target confirmed. */
async function throughput(open: Opener, targetPort: number, maxBytes: number, seconds: number): Promise<{ mibps: number; bytes: number }> {
  const s = await open(targetPort)
  const t0 = nowMs()
  const deadline = t0 + seconds * 1000
  const head = Buffer.alloc(8)
  head.writeBigUInt64BE(BigInt(ROUND_CHUNKS * CHUNK.length))
  let confirmed = 0
  try {
    while (confirmed < maxBytes && nowMs() < deadline) {
      const ack = new Promise<void>((resolve, reject) => {
        const onData = () => done(null)
        const onError = (e: Error) => done(e)
        const onClose = () => done(new Error('closed'))
        const done = (e: Error | null) => {
          s.off('data', onData)
          s.off('error', onError)
          s.off('close', onClose)
          if (e) reject(e)
          else resolve()
        }
        s.once('data', onData)
        s.once('error', onError)
        s.once('close', onClose)
      })
      s.write(head)
      for (let i = 0; i < ROUND_CHUNKS; i++) {
        if (!s.write(CHUNK)) await new Promise((r) => s.once('drain', r))
      }
      await ack
      confirmed += ROUND_CHUNKS * CHUNK.length
    }
  } finally {
    s.destroy()
  }
  const ms = nowMs() - t0
  return { mibps: confirmed / MiB / (ms / 1000), bytes: confirmed }
}

/** `concurrency` loops of connect + 1-byte echo + close; completed connections per second. */
async function connRate(open: Opener, targetPort: number, concurrency: number, maxTotal: number, seconds: number): Promise<{ rate: number; done: number; failed: number }> {
  let started = 0
  let done = 0
  let failed = 0
  const t0 = nowMs()
  const deadline = t0 + seconds * 1000
  const one = async () => {
    const s = await open(targetPort)
    await new Promise<void>((resolve, reject) => {
      s.once('data', () => resolve())
      s.once('error', reject)
      s.write('x')
    })
    s.destroy()
  }
  const worker = async () => {
    while (started < maxTotal && nowMs() < deadline) {
      started++
      try {
        await one()
        done++
      } catch {
        failed++
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  const ms = nowMs() - t0
  return { rate: done / (ms / 1000), done, failed }
}

const MICROSOCKS = '/usr/bin/microsocks'

/** Debian's microsocks (a small C SOCKS5 server) as a reference, when it is installed. */
async function startMicrosocks(): Promise<{ port: number; prog: RunningProgram } | undefined> {
  if (!existsSync(MICROSOCKS)) return undefined
  const port = await freePort()
  const prog = await startProgram(MICROSOCKS, ['-i', '127.0.0.1', '-p', String(port)], async () => {
    for (;;) {
      const ok = await direct(port).then(
        (s) => (s.destroy(), true),
        () => false,
      )
      if (ok) return
      await new Promise((r) => setTimeout(r, 50))
    }
  })
  return { port, prog }
}

/** A path measured: its opener (to a target port), and the program to read the peak RSS of. */
interface Path {
  path: string
  open: Opener
  prog?: RunningProgram
  note?: string
}

/** The origin, Viaduct, microsocks (and, with `refs`, the reference relays to `refs`' port) for `fn`. */
async function withPaths<T>(rows: BenchRow[], group: string, metric: Metric, refs: keyof OriginPorts | undefined, fn: (origin: OriginPorts, paths: Path[]) => Promise<T>): Promise<T> {
  const stop: RunningProgram[] = []
  try {
    const origin = await startOrigin()
    stop.push(origin)
    const v = await startViaduct(['--socks', '127.0.0.1:0', '--allow-private', '127.0.0.0/8', '--connect-port', '*'])
    stop.push(v)
    const paths: Path[] = [
      { path: 'direct', open: direct },
      { path: 'viaduct socks5', open: viaSocks(v.port('socks')), prog: v },
    ]
    for (const variant of viaductVariants()) {
      const w = await startViaduct(['--socks', '127.0.0.1:0', '--allow-private', '127.0.0.0/8', '--connect-port', '*'], { bin: variant.bin, env: variant.env })
      stop.push(w)
      paths.push({ path: `viaduct socks5 (${variant.label})`, open: viaSocks(w.port('socks')), prog: w })
    }
    const ms = await startMicrosocks()
    if (ms) {
      stop.push(ms.prog)
      paths.push({ path: 'microsocks', open: viaSocks(ms.port), prog: ms.prog, note: 'reference: a C SOCKS5 server' })
    } else rows.push({ group, path: 'microsocks', metric, value: NaN, note: 'not installed (Debian package microsocks)' })
    if (refs) {
      for (const r of await startReferenceRelays(origin.info[refs], (path, note) => rows.push({ group, path, metric, value: NaN, note }))) {
        stop.push(r.prog)
        // a fixed-target relay: the target port asked for is the one it was started with
        paths.push({ path: r.path, open: () => direct(r.port), prog: r.prog, note: 'reference: no handshake, the ceiling of a relay here' })
      }
    }
    return await fn(origin.info, paths)
  } finally {
    for (const p of stop.reverse()) await p.stop()
  }
}

const throughputScenario: Scenario = {
  name: 'socks5-connect-throughput',
  description: 'one SOCKS5 CONNECT tunnel, bulk upload, MiB/s: direct vs through Viaduct (and reference relays: the ceiling)',
  async run(opts: BenchOptions): Promise<BenchRow[]> {
    const group = 'socks5-connect-throughput'
    const size = (opts.quick ? 32 : 256) * MiB
    const rounds = opts.quick ? 3 : 7
    const rows: BenchRow[] = []
    await withPaths(rows, group, 'MiB/s', 'sink', async (origin, paths) => {
      for (const p of paths) {
        opts.progress(`warm-up ${p.path}`)
        await throughput(p.open, origin.sink, 8 * MiB, opts.seconds)
      }
      const cpu = new Map<Path, { ms: number; bytes: number }>(paths.map((p) => [p, { ms: 0, bytes: 0 }]))
      const samples = await interleave(paths, rounds, nowMs() + opts.seconds * 1000 * paths.length, async (p, r) => {
        opts.progress(`round ${r + 1}/${rounds} ${p.path}`)
        const c0 = p.prog?.cpuMs() ?? NaN
        const res = await throughput(p.open, origin.sink, size, opts.seconds)
        const c = cpu.get(p)!
        c.ms += (p.prog?.cpuMs() ?? NaN) - c0
        c.bytes += res.bytes
        return res.mibps
      })
      for (const p of paths) {
        const s = samples.get(p) ?? []
        rows.push({ group, path: p.path, metric: 'MiB/s', value: median(s), note: `${spread(s)} x ${size / MiB} MiB upload${p.note ? `; ${p.note}` : ''}` })
      }
      // CPU the relay process spent per GiB relayed: what the load elsewhere on the machine hardly changes
      for (const p of paths) {
        const c = cpu.get(p)!
        if (p.prog && Number.isFinite(c.ms) && c.bytes > 0) rows.push({ group, path: p.path, metric: 'CPU ms/GiB', value: c.ms / (c.bytes / (1024 * MiB)), note: 'proxy process only (10 ms ticks)' })
      }
      for (const p of paths) if (p.path.startsWith('viaduct socks5') && p.prog) rows.push({ group, path: p.path, metric: 'peak RSS MiB', value: p.prog.peakRssMiB() })
    })
    return rows
  },
}

function rateScenario(concurrency: number): Scenario {
  const group = `socks5-conn-rate-${concurrency}`
  return {
    name: group,
    description: `${concurrency} concurrent clients opening SOCKS5 CONNECT tunnels in a loop (connect, 1-byte echo, close), conn/s: direct vs through Viaduct`,
    async run(opts: BenchOptions): Promise<BenchRow[]> {
      // bounded in count as well as time: TIME_WAIT sockets use up loopback ports
      const perRound = opts.quick ? Math.max(2 * concurrency, 1000) : Math.max(3 * concurrency, 3000)
      const rounds = 3
      const rows: BenchRow[] = []
      await withPaths(rows, group, 'conn/s', undefined, async (origin, paths) => {
        const totals = new Map<Path, { done: number; failed: number }>(paths.map((p) => [p, { done: 0, failed: 0 }]))
        const samples = await interleave(paths, rounds, nowMs() + opts.seconds * 1000 * paths.length * rounds, async (p, r) => {
          opts.progress(`round ${r + 1}/${rounds} ${p.path}`)
          const res = await connRate(p.open, origin.echo, concurrency, perRound, opts.seconds)
          const t = totals.get(p)!
          t.done += res.done
          t.failed += res.failed
          return res.rate
        })
        for (const p of paths) {
          const s = samples.get(p) ?? []
          const t = totals.get(p)!
          rows.push({ group, path: p.path, metric: 'conn/s', value: median(s), note: `${spread(s)} rounds; ${t.done} connections, ${t.failed} failed${p.note ? `; ${p.note}` : ''}` })
          if (p.prog && p.path.startsWith('viaduct socks5')) rows.push({ group, path: p.path, metric: 'peak RSS MiB', value: p.prog.peakRssMiB() })
        }
      })
      return rows
    },
  }
}

export const scenarios: Scenario[] = [throughputScenario, rateScenario(100), rateScenario(1000)]
