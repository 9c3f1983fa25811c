/**
 * Pairing relay benchmarks. Both peers run in this process; the relay is Viaduct started as a child
 * (startViaduct(['--relay', '127.0.0.1:0', '--relay-secret', S])), so the relayed path is
 * peer A -> Viaduct process -> peer B, and the direct path is peer A -> peer B over loopback in the same
 * run. Paths are measured in interleaved rounds and each row is the median.
 *
 * - pair-tcp-throughput: A uploads to B, MiB/s once B has every byte.
 * - pair-tcp-latency: 64-byte ping-pong (B echoes), p50/p99 ms per round trip.
 * - pair-udp-rate-100b / -1200b: A sends datagrams as fast as it can (bursts, bounded in count and
 *   time), B counts; datagrams/s delivered and loss %.
 * - pair-1000-concurrent: 1,000 TCP pairings held open at once (registered with the default per-IP
 *   waiting limit of 16, so at most 16 wait at a time), one byte through each; seconds to set them all
 *   up and the child's peak RSS. Direct: 1,000 plain loopback connection pairs.
 */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import type { Duplex } from 'node:stream'
import { startReferenceRelays, startViaduct, type RunningProgram } from '../harness.js'
import { interleave, median, nowMs, percentile, spread } from '../stats.js'
import type { BenchOptions, BenchRow, Scenario } from '../types.js'
import { connectPeer, type PeerDatagram } from '../../modes/relay/pairing/client.js'
import { mintToken } from '../../modes/relay/pairing/token.js'

const SECRET = `bench-${randomBytes(12).toString('hex')}`
const MiB = 1024 * 1024
const CHUNK = Buffer.alloc(64 * 1024, 0x61)
const VIADUCT = 'viaduct pairing tcp'
const VIADUCT_UDP = 'viaduct pairing udp'

let seq = 0
function room(): string {
  return `bench-${process.pid}-${++seq}`
}

async function withRelay<T>(fn: (relay: string, prog: RunningProgram) => Promise<T>): Promise<T> {
  const prog = await startViaduct(['--relay', '127.0.0.1:0', '--relay-secret', SECRET])
  try {
    return await fn(`127.0.0.1:${prog.port('pairing-tcp')}`, prog)
  } finally {
    await prog.stop()
  }
}

type StreamPair = { a: Duplex; b: Duplex; close(): void }

async function relayPair(relay: string): Promise<StreamPair> {
  const id = room()
  const token = mintToken({ secret: SECRET, room: id, nowMs: Date.now() })
  let waiting!: () => void
  const isWaiting = new Promise<void>((r) => (waiting = r))
  const pa = connectPeer({ relay, id, token, onWaiting: () => waiting(), timeoutMs: 15_000 })
  await Promise.race([isWaiting, pa])
  const b = await connectPeer({ relay, id, token, timeoutMs: 15_000 })
  const a = await pa
  for (const s of [a, b]) s.on('error', () => undefined)
  return { a, b, close: () => (a.destroy(), b.destroy()) }
}

async function directPair(): Promise<StreamPair> {
  const server = createServer({ noDelay: true })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const accepted = once(server, 'connection') as Promise<[Socket]>
  const a = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, noDelay: true })
  const [b] = await accepted
  await once(a, 'connect').catch(() => undefined)
  server.close()
  for (const s of [a, b]) s.on('error', () => undefined)
  return { a, b, close: () => (a.destroy(), b.destroy()) }
}

/**
 * A pair through a reference relay (node pipe / C splice, bench/harness.ts): B is the connection the relay
 * dials to `server` (a listener in this process), A the one this process opens to the relay.
 */
async function referencePair(server: ReturnType<typeof createServer>, relayPort: number): Promise<StreamPair> {
  const accepted = once(server, 'connection') as Promise<[Socket]>
  const a = connect({ host: '127.0.0.1', port: relayPort, noDelay: true })
  const connected = once(a, 'connect')
  const [b] = await accepted
  b.setNoDelay(true)
  await connected
  for (const s of [a, b]) s.on('error', () => undefined)
  return { a, b, close: () => (a.destroy(), b.destroy()) }
}

/** A uploads `size` bytes; MiB/s when B has them all. */
async function upload(p: StreamPair, size: number, seconds: number): Promise<number> {
  let got = 0
  const done = new Promise<void>((resolve) => {
    const onData = (c: Buffer) => {
      got += c.length
      if (got >= size) {
        p.b.off('data', onData)
        resolve()
      }
    }
    p.b.on('data', onData)
  })
  const t0 = nowMs()
  const deadline = t0 + seconds * 1000
  let sent = 0
  while (sent < size && nowMs() < deadline) {
    const n = Math.min(CHUNK.length, size - sent)
    sent += n
    if (!p.a.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) await once(p.a, 'drain')
  }
  const target = sent
  if (target < size) {
    // time ran out: measure what was sent
    await new Promise<void>((resolve) => {
      const check = () => (got >= target ? resolve() : setTimeout(check, 1))
      check()
    })
    return got / MiB / ((nowMs() - t0) / 1000)
  }
  await done
  return size / MiB / ((nowMs() - t0) / 1000)
}

/** 64-byte ping-pong, B echoes; returns round-trip times in ms. */
async function pingPong(p: StreamPair, count: number, seconds: number): Promise<number[]> {
  const echo = (c: Buffer) => p.b.write(c)
  p.b.on('data', echo)
  const msg = Buffer.alloc(64, 0x62)
  const rtts: number[] = []
  const deadline = nowMs() + seconds * 1000
  let pending: { need: number; resolve: () => void } | undefined
  const onData = (c: Buffer) => {
    if (!pending) return
    pending.need -= c.length
    if (pending.need <= 0) pending.resolve()
  }
  p.a.on('data', onData)
  for (let i = 0; i < count && nowMs() < deadline; i++) {
    const t0 = nowMs()
    await new Promise<void>((resolve) => {
      pending = { need: msg.length, resolve }
      p.a.write(msg)
    })
    rtts.push(nowMs() - t0)
  }
  p.a.off('data', onData)
  p.b.off('data', echo)
  return rtts
}

const tcpThroughput: Scenario = {
  name: 'pair-tcp-throughput',
  description: "one TCP pairing, bulk upload A -> B, MiB/s and the relay's CPU ms/GiB: direct loopback vs Viaduct's pairing relay vs reference relays (node pipe, C splice)",
  async run(opts: BenchOptions): Promise<BenchRow[]> {
    const group = 'pair-tcp-throughput'
    const size = (opts.quick ? 32 : 256) * MiB
    const rounds = opts.quick ? 3 : 7
    const rows: BenchRow[] = []
    // the reference relays dial this listener; each accepted connection is a B side
    const sink = createServer({ noDelay: true })
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r))
    const refs = await startReferenceRelays((sink.address() as AddressInfo).port, (path, note) => rows.push({ group, path, metric: 'MiB/s', value: NaN, note }))
    try {
      return await withRelay(async (relay, prog) => {
        const paths: Array<{ path: string; pair: StreamPair; prog?: RunningProgram; cpuMs: number; bytes: number }> = [
          { path: 'direct', pair: await directPair(), cpuMs: 0, bytes: 0 },
          { path: VIADUCT, pair: await relayPair(relay), prog, cpuMs: 0, bytes: 0 },
        ]
        for (const r of refs) paths.push({ path: r.path, pair: await referencePair(sink, r.port), prog: r.prog, cpuMs: 0, bytes: 0 })
        try {
          for (const p of paths) {
            opts.progress(`warm-up ${p.path}`)
            await upload(p.pair, 8 * MiB, opts.seconds)
          }
          const samples = await interleave(paths, rounds, nowMs() + opts.seconds * 1000 * paths.length * rounds, async (p, r) => {
            opts.progress(`round ${r + 1}/${rounds} ${p.path}`)
            const c0 = p.prog?.cpuMs() ?? NaN
            const t0 = nowMs()
            const mibs = await upload(p.pair, size, opts.seconds * 2)
            p.cpuMs += (p.prog?.cpuMs() ?? NaN) - c0
            p.bytes += mibs * MiB * ((nowMs() - t0) / 1000)
            return mibs
          })
          for (const p of paths) rows.push({ group, path: p.path, metric: 'MiB/s', value: median(samples.get(p)!), note: `${spread(samples.get(p)!)} x ${size / MiB} MiB` })
          for (const p of paths) {
            if (p.prog && Number.isFinite(p.cpuMs) && p.bytes > 0) {
              rows.push({ group, path: p.path, metric: 'CPU ms/GiB', value: p.cpuMs / (p.bytes / (1024 * MiB)), note: 'relay process only (10 ms ticks), all measured rounds' })
            }
          }
          rows.push({ group, path: VIADUCT, metric: 'peak RSS MiB', value: prog.peakRssMiB() })
          return rows
        } finally {
          for (const p of paths) p.pair.close()
        }
      })
    } finally {
      sink.close()
      await Promise.all(refs.map((r) => r.prog.stop()))
    }
  },
}

const tcpLatency: Scenario = {
  name: 'pair-tcp-latency',
  description: '64-byte ping-pong over one TCP pairing (B echoes), p50/p99 ms: direct vs through the relay',
  async run(opts: BenchOptions): Promise<BenchRow[]> {
    const group = 'pair-tcp-latency'
    const count = opts.quick ? 2000 : 20_000
    return withRelay(async (relay) => {
      const paths = [
        { path: 'direct', pair: await directPair() },
        { path: VIADUCT, pair: await relayPair(relay) },
      ]
      try {
        for (const p of paths) await pingPong(p.pair, 200, opts.seconds)
        const all = new Map(paths.map((p) => [p, [] as number[]]))
        await interleave(paths, 3, nowMs() + opts.seconds * 1000 * 6, async (p, r) => {
          opts.progress(`round ${r + 1}/3 ${p.path}`)
          const rtts = await pingPong(p.pair, Math.ceil(count / 3), opts.seconds)
          all.get(p)!.push(...rtts)
          return rtts.length
        })
        return paths.flatMap((p) => {
          const s = all.get(p)!
          return [
            { group, path: p.path, metric: 'p50 ms', value: percentile(s, 50), note: `${s.length} round trips` },
            { group, path: p.path, metric: 'p99 ms', value: percentile(s, 99), note: `${s.length} round trips` },
          ]
        })
      } finally {
        for (const p of paths) p.pair.close()
      }
    })
  },
}

interface DgramPath {
  path: string
  send(buf: Buffer): void
  onMessage(fn: () => void): void
  offMessage(): void
  close(): void
}

async function directDgram(): Promise<DgramPath> {
  const a = createSocket('udp4')
  const b = createSocket('udp4')
  await Promise.all([new Promise<void>((r) => a.bind(0, '127.0.0.1', r)), new Promise<void>((r) => b.bind(0, '127.0.0.1', r))])
  a.connect(b.address().port, '127.0.0.1')
  await once(a, 'connect')
  return dgramPath('direct', a, b)
}

function dgramPath(path: string, a: UdpSocket | PeerDatagram, b: UdpSocket | PeerDatagram): DgramPath {
  let fn: (() => void) | undefined
  b.on('message', () => fn?.())
  return {
    path,
    send: (buf) => (a as { send(b: Buffer, cb?: (e: Error | null) => void): void }).send(buf, () => undefined),
    onMessage: (f) => (fn = f),
    offMessage: () => (fn = undefined),
    close: () => {
      a.close()
      b.close()
    },
  }
}

async function relayDgram(relay: string): Promise<DgramPath> {
  const id = room()
  const token = mintToken({ secret: SECRET, room: id, nowMs: Date.now() })
  let waiting!: () => void
  const isWaiting = new Promise<void>((r) => (waiting = r))
  const pa = connectPeer({ relay, id, token, transport: 'udp', onWaiting: () => waiting(), timeoutMs: 15_000 })
  await Promise.race([isWaiting, pa])
  const b = await connectPeer({ relay, id, token, transport: 'udp', timeoutMs: 15_000 })
  const a = await pa
  return dgramPath(VIADUCT_UDP, a, b)
}

/** Send `max` datagrams (or until the deadline) in bursts; count what B receives. */
async function blast(p: DgramPath, size: number, max: number, seconds: number): Promise<{ rate: number; loss: number; sent: number; got: number }> {
  let got = 0
  p.onMessage(() => got++)
  const buf = Buffer.alloc(size, 0x63)
  const t0 = nowMs()
  const deadline = t0 + seconds * 1000
  let sent = 0
  while (sent < max && nowMs() < deadline) {
    for (let i = 0; i < 32 && sent < max; i++, sent++) p.send(buf)
    await new Promise((r) => setImmediate(r))
  }
  const sendMs = nowMs() - t0
  // let the tail arrive
  let last = -1
  while (last !== got) {
    last = got
    await new Promise((r) => setTimeout(r, 50))
  }
  p.offMessage()
  return { rate: got / (sendMs / 1000), loss: (100 * (sent - got)) / sent, sent, got }
}

function udpRate(size: number): Scenario {
  const group = `pair-udp-rate-${size}b`
  return {
    name: group,
    description: `${size}-byte datagrams A -> B as fast as A can send, delivered/s and loss %: direct vs through the relay`,
    async run(opts: BenchOptions): Promise<BenchRow[]> {
      const max = opts.quick ? 50_000 : 500_000
      return withRelay(async (relay, prog) => {
        const paths = [await directDgram(), await relayDgram(relay)]
        try {
          const res = new Map(paths.map((p) => [p, [] as Array<{ rate: number; loss: number }>]))
          let cpuMs = 0
          let delivered = 0
          await interleave(paths, 3, nowMs() + opts.seconds * 1000 * 6, async (p, r) => {
            opts.progress(`round ${r + 1}/3 ${p.path}`)
            const c0 = prog.cpuMs()
            const x = await blast(p, size, Math.ceil(max / 3), opts.seconds)
            if (p.path === VIADUCT_UDP) {
              cpuMs += prog.cpuMs() - c0
              delivered += x.got
            }
            res.get(p)!.push(x)
            return x.rate
          })
          const rows: BenchRow[] = []
          for (const p of paths) {
            const s = res.get(p)!
            rows.push({ group, path: p.path, metric: 'datagrams/s', value: median(s.map((x) => x.rate)), note: spread(s.map((x) => x.rate)) })
            rows.push({ group, path: p.path, metric: 'loss %', value: median(s.map((x) => x.loss)) })
          }
          if (delivered > 0) rows.push({ group, path: VIADUCT_UDP, metric: 'CPU µs/datagram', value: (cpuMs * 1000) / delivered, note: 'relay process CPU per datagram delivered (10 ms ticks), all rounds' })
          rows.push({ group, path: VIADUCT_UDP, metric: 'peak RSS MiB', value: prog.peakRssMiB() })
          return rows
        } finally {
          for (const p of paths) p.close()
        }
      })
    },
  }
}

const concurrent: Scenario = {
  name: 'pair-1000-concurrent',
  description: '1,000 TCP pairings open at once (at most 16 waiting at a time: the default per-IP limit), one byte through each; seconds and peak RSS',
  async run(opts: BenchOptions): Promise<BenchRow[]> {
    const group = 'pair-1000-concurrent'
    const n = 1000
    const window = 16
    const rows: BenchRow[] = []
    // direct: 1,000 loopback connection pairs
    {
      opts.progress('direct: 1000 connection pairs')
      const t0 = nowMs()
      const pairs: StreamPair[] = []
      for (let i = 0; i < n; i += window) pairs.push(...(await Promise.all(Array.from({ length: Math.min(window, n - i) }, () => directPair()))))
      await Promise.all(pairs.map(async (p) => (p.a.write('x'), once(p.b, 'data'))))
      rows.push({ group, path: 'direct', metric: 's', value: (nowMs() - t0) / 1000, note: `${n} connection pairs` })
      for (const p of pairs) p.close()
    }
    await withRelay(async (relay, prog) => {
      opts.progress(`viaduct: ${n} pairings`)
      const t0 = nowMs()
      const pairs: StreamPair[] = []
      for (let i = 0; i < n; i += window) pairs.push(...(await Promise.all(Array.from({ length: Math.min(window, n - i) }, () => relayPair(relay)))))
      await Promise.all(pairs.map(async (p) => (p.a.write('x'), once(p.b, 'data'))))
      const secs = (nowMs() - t0) / 1000
      rows.push({ group, path: VIADUCT, metric: 's', value: secs, note: `${n} pairings live at once, one byte through each` })
      rows.push({ group, path: VIADUCT, metric: 'peak RSS MiB', value: prog.peakRssMiB(), note: `with ${n} pairings (${2 * n} sockets) open` })
      for (const p of pairs) p.close()
    })
    return rows
  },
}

export const scenarios: Scenario[] = [tcpThroughput, tcpLatency, udpRate(100), udpRate(1200), concurrent]
