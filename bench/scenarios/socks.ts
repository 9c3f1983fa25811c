/**
 * SOCKS5 benchmarks: CONNECT throughput and new-connection rate, each measured DIRECT (client to target)
 * and THROUGH Viaduct's SOCKS listener started as a child process, in the same run, on loopback only.
 *
 * - socks5-connect-throughput: one connection, the client uploads as fast as backpressure allows and the
 *   target counts; MiB/s until the target has every byte (bounded by size and opts.seconds).
 * - socks5-conn-rate-100 / -1000: that many concurrent clients, each in a loop: open a connection (with
 *   the SOCKS5 handshake when proxied), send one byte, wait for the echo, close. Completed connections
 *   per second, bounded by a total count and opts.seconds.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { SocksClient } from 'socks'
import { existsSync } from 'node:fs'
import { startProgram, startViaduct, type RunningProgram } from '../harness.js'
import { nowMs } from '../stats.js'
import type { BenchOptions, BenchRow, Scenario } from '../types.js'

const MiB = 1024 * 1024
const CHUNK = Buffer.alloc(64 * 1024, 0x61)

interface Target {
  port: number
  close(): Promise<void>
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, r))
  return (server.address() as AddressInfo).port
}

function closer(server: Server, sockets: Set<Socket>): () => Promise<void> {
  return () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy()
      server.close(() => r())
    })
}

/**
 * A sink that reads rounds of "8-byte length + payload" and answers "!" after each whole round (no
 * half-close needed, which not every SOCKS server passes on).
 */
async function sinkTarget(): Promise<Target> {
  const sockets = new Set<Socket>()
  const server = createServer((s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => undefined)
    let left = -1
    let head = Buffer.alloc(0)
    s.on('data', (c: Buffer) => {
      while (c.length > 0) {
        if (left < 0) {
          head = Buffer.concat([head, c])
          if (head.length < 8) return
          left = Number(head.readBigUInt64BE(0))
          c = head.subarray(8)
          head = Buffer.alloc(0)
        }
        const take = Math.min(left, c.length)
        left -= take
        c = c.subarray(take)
        if (left === 0) {
          left = -1
          s.write('!')
        }
      }
    })
  })
  const port = await listen(server)
  return { port, close: closer(server, sockets) }
}

/** A one-byte echo for the connection-rate loop. */
async function echoTarget(): Promise<Target> {
  const sockets = new Set<Socket>()
  const server = createServer((s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => undefined)
    s.pipe(s)
  })
  const port = await listen(server)
  return { port, close: closer(server, sockets) }
}

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

/** A free loopback port (bound once, then released) for programs that cannot listen on port 0. */
async function freePort(): Promise<number> {
  const s = createServer()
  const port = await listen(s)
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

/** Run `fn` against Debian's microsocks (a small C SOCKS5 server) as a reference, when it is installed. */
async function withMicrosocks<T>(fn: (port: number) => Promise<T>): Promise<T | undefined> {
  if (!existsSync(MICROSOCKS)) return undefined
  const port = await freePort()
  const p = await startProgram(MICROSOCKS, ['-i', '127.0.0.1', '-p', String(port)], async () => {
    for (;;) {
      const ok = await direct(port).then(
        (s) => (s.destroy(), true),
        () => false,
      )
      if (ok) return
      await new Promise((r) => setTimeout(r, 50))
    }
  })
  try {
    return await fn(port)
  } finally {
    await p.stop()
  }
}

async function withViaduct<T>(fn: (p: RunningProgram) => Promise<T>): Promise<T> {
  const v = await startViaduct(['--socks', '127.0.0.1:0', '--allow-private', '127.0.0.0/8', '--connect-port', '*'])
  try {
    return await fn(v)
  } finally {
    await v.stop()
  }
}

const throughputScenario: Scenario = {
  name: 'socks5-connect-throughput',
  description: 'one SOCKS5 CONNECT tunnel, bulk upload, MiB/s: direct vs through Viaduct',
  async run(opts: BenchOptions): Promise<BenchRow[]> {
    const size = (opts.quick ? 128 : 1024) * MiB
    const target = await sinkTarget()
    const rows: BenchRow[] = []
    try {
      opts.progress('socks5 throughput: direct')
      // a short warm-up so both paths run JIT-compiled code
      await throughput(direct, target.port, 8 * MiB, opts.seconds)
      const d = await throughput(direct, target.port, size, opts.seconds)
      rows.push({ group: 'socks5-connect-throughput', path: 'direct', metric: 'MiB/s', value: d.mibps, note: `${d.bytes / MiB} MiB upload` })
      await withViaduct(async (v) => {
        opts.progress('socks5 throughput: viaduct socks5')
        const via = viaSocks(v.port('socks'))
        await throughput(via, target.port, 8 * MiB, opts.seconds)
        const r = await throughput(via, target.port, size, opts.seconds)
        rows.push({ group: 'socks5-connect-throughput', path: 'viaduct socks5', metric: 'MiB/s', value: r.mibps, note: `${r.bytes / MiB} MiB upload` })
        rows.push({ group: 'socks5-connect-throughput', path: 'viaduct socks5', metric: 'peak RSS MiB', value: v.peakRssMiB() })
      })
      await withMicrosocks(async (port) => {
        opts.progress('socks5 throughput: microsocks')
        const r = await throughput(viaSocks(port), target.port, size, opts.seconds)
        rows.push({ group: 'socks5-connect-throughput', path: 'microsocks', metric: 'MiB/s', value: r.mibps, note: `${r.bytes / MiB} MiB upload (reference: a C SOCKS5 server)` })
      })
    } finally {
      await target.close()
    }
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
      const maxTotal = opts.quick ? Math.max(2 * concurrency, 2000) : Math.max(5 * concurrency, 10_000)
      const target = await echoTarget()
      const rows: BenchRow[] = []
      try {
        opts.progress(`${group}: direct`)
        const d = await connRate(direct, target.port, concurrency, maxTotal, opts.seconds)
        rows.push({ group, path: 'direct', metric: 'conn/s', value: d.rate, note: `${d.done} connections, ${d.failed} failed` })
        await withViaduct(async (v) => {
          opts.progress(`${group}: viaduct socks5`)
          const r = await connRate(viaSocks(v.port('socks')), target.port, concurrency, maxTotal, opts.seconds)
          rows.push({ group, path: 'viaduct socks5', metric: 'conn/s', value: r.rate, note: `${r.done} connections, ${r.failed} failed` })
          rows.push({ group, path: 'viaduct socks5', metric: 'peak RSS MiB', value: v.peakRssMiB() })
        })
        await withMicrosocks(async (port) => {
          opts.progress(`${group}: microsocks`)
          const r = await connRate(viaSocks(port), target.port, concurrency, maxTotal, opts.seconds)
          rows.push({ group, path: 'microsocks', metric: 'conn/s', value: r.rate, note: `${r.done} connections, ${r.failed} failed (reference: a C SOCKS5 server)` })
        })
      } finally {
        await target.close()
      }
      return rows
    },
  }
}

export const scenarios: Scenario[] = [throughputScenario, rateScenario(100), rateScenario(1000)]
