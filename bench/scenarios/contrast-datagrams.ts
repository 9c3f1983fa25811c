/**
 * The contrast for datagrams: one UDP echo workload, run the same way direct, through the pairing relay
 * over UDP (two peers, peer B echoes) and through TURN (an allocation over UDP with a channel bound to
 * the echo server, Viaduct's own TURN client), against one Viaduct child process.
 *
 * Measures per path: round-trip time of 100-byte datagrams, one at a time (p50, p99), and a windowed
 * rate of 1,200-byte datagrams (32 in flight): datagrams per second that came back, and loss.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { randomBytes } from 'node:crypto'
import { startViaduct, type RunningProgram } from '../harness.js'
import { nowMs, percentile } from '../stats.js'
import type { BenchOptions, BenchRow, Scenario } from '../types.js'
import { connectPeer, type PeerDatagram } from '../../modes/relay/pairing/client.js'
import { mintToken } from '../../modes/relay/pairing/token.js'
import { TurnClient } from '../../modes/relay/turn/client.js'

const SECRET = `bench-${randomBytes(12).toString('hex')}`
const TURN_USER = 'bench'
const WINDOW = 32
const LOST_AFTER_MS = 300

/** A datagram path: send to the echo, hear what comes back. */
interface Path {
  send(b: Buffer): void
  onMessage(cb: (b: Buffer) => void): void
  close(): Promise<void>
}

function bindUdp(): Promise<UdpSocket> {
  const s = createSocket('udp4')
  return new Promise((resolve) => s.bind(0, '127.0.0.1', () => resolve(s)))
}

async function echoServer(): Promise<UdpSocket> {
  const s = await bindUdp()
  s.on('message', (m, from) => s.send(m, from.port, from.address))
  return s
}

async function direct(echoPort: number): Promise<Path> {
  const s = await bindUdp()
  return {
    send: (b) => s.send(b, echoPort, '127.0.0.1'),
    onMessage: (cb) => void s.on('message', cb),
    close: () => new Promise((r) => s.close(() => r())),
  }
}

async function pairUdp(port: number, room: string): Promise<Path> {
  const token = mintToken({ secret: SECRET, room, ttlS: 600, nowMs: Date.now() })
  const relay = { host: '127.0.0.1', port }
  const [a, b] = (await Promise.all([
    connectPeer({ relay, id: room, token, transport: 'udp', side: 'a', timeoutMs: 10_000, keepaliveMs: 0 }),
    connectPeer({ relay, id: room, token, transport: 'udp', side: 'b', timeoutMs: 10_000, keepaliveMs: 0 }),
  ])) as [PeerDatagram, PeerDatagram]
  b.on('message', (m) => b.send(m))
  return {
    send: (d) => a.send(d),
    onMessage: (cb) => void a.on('message', cb),
    close: async () => {
      a.close()
      b.close()
    },
  }
}

async function turnUdp(port: number, echoPort: number): Promise<Path> {
  const c = await TurnClient.connect({ host: '127.0.0.1', port, transport: 'udp', username: TURN_USER, password: SECRET })
  await c.allocate()
  const peer = { family: 4 as const, address: '127.0.0.1', port: echoPort }
  await c.createPermission(peer)
  await c.channelBind(0x4000, peer)
  return {
    send: (d) => c.sendChannel(0x4000, d),
    onMessage: (cb) => void c.on('data', (d) => cb(d)),
    close: async () => {
      await c.refresh(0).catch(() => undefined)
      await c.close()
    },
  }
}

/** One datagram at a time; a datagram not back in LOST_AFTER_MS counts as lost. */
async function rtt(p: Path, count: number, deadline: number): Promise<{ samples: number[]; lost: number }> {
  const samples: number[] = []
  let lost = 0
  let waiting: (() => void) | undefined
  p.onMessage(() => waiting?.())
  const msg = Buffer.alloc(100, 0x61)
  for (let i = 0; i < count && nowMs() < deadline; i++) {
    const t0 = nowMs()
    const ok = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), LOST_AFTER_MS)
      waiting = () => {
        clearTimeout(timer)
        resolve(true)
      }
      p.send(msg)
    })
    waiting = undefined
    if (ok) samples.push(nowMs() - t0)
    else lost++
  }
  return { samples, lost }
}

/** Keep WINDOW datagrams in flight (a lost one is replaced after LOST_AFTER_MS), for at most `seconds`. */
async function rate(p: Path, max: number, seconds: number): Promise<{ pps: number; sent: number; back: number }> {
  const msg = Buffer.alloc(1200, 0x62)
  let sent = 0
  let back = 0
  const t0 = nowMs()
  const stopAt = t0 + seconds * 1000
  await new Promise<void>((resolve) => {
    let inFlight = 0
    let done = false
    let lastBack = nowMs()
    const pump = () => {
      while (!done && inFlight < WINDOW && sent < max && nowMs() < stopAt) {
        sent++
        inFlight++
        p.send(msg)
      }
      if (!done && inFlight === 0) {
        done = true
        clearInterval(timer)
        resolve()
      }
    }
    p.onMessage(() => {
      if (done) return
      back++
      lastBack = nowMs()
      inFlight = Math.max(0, inFlight - 1)
      pump()
    })
    // After LOST_AFTER_MS without an answer, what is in flight is lost: refill the window (or finish).
    const timer = setInterval(() => {
      if (nowMs() - lastBack < LOST_AFTER_MS) return
      inFlight = 0
      lastBack = nowMs()
      pump()
    }, LOST_AFTER_MS / 3)
    pump()
  })
  const secs = (nowMs() - t0) / 1000
  return { pps: back / secs, sent, back }
}

export async function runContrastDatagrams(opts: BenchOptions): Promise<BenchRow[]> {
  const echo = await echoServer()
  const echoPort = echo.address().port
  const q = opts.quick
  const seconds = Math.max(0.2, opts.seconds)
  const rows: BenchRow[] = []
  let gw: RunningProgram | undefined
  try {
    opts.progress('starting viaduct (relay pairing, TURN)')
    gw = await startViaduct([
      '--relay', '127.0.0.1:0',
      '--relay-secret', SECRET,
      '--turn', '127.0.0.1:0',
      '--turn-user', `${TURN_USER}:${SECRET}`,
      '--turn-allow-peer', '127.0.0.0/8',
    ])
    const child = gw
    const pairing = child.listeners.find((l) => l.mode === 'relay' && l.transport === 'udp' && l.listener.startsWith('pairing'))
    const turn = child.listeners.find((l) => l.mode === 'relay' && l.transport === 'udp' && l.listener.startsWith('turn'))
    let room = 0
    const paths: Array<[string, () => Promise<Path>]> = [['direct', () => direct(echoPort)]]
    if (pairing) paths.push(['viaduct relay pair-udp', () => pairUdp(pairing.port, `bench-udp-${process.pid}-${++room}`)])
    else opts.progress('skipping pair-udp: no pairing listener')
    if (turn) paths.push(['viaduct relay turn-udp', () => turnUdp(turn.port, echoPort)])
    else opts.progress('skipping TURN: no turn listener')
    for (const [path, open] of paths) {
      try {
        opts.progress(`${path}: round trips`)
        let p = await open()
        const r = await rtt(p, q ? 300 : 5000, nowMs() + seconds * 1000)
        await p.close()
        rows.push({ group: 'contrast datagram echo 100 B', path, metric: 'p50 ms', value: percentile(r.samples, 50), note: `${r.samples.length} round trips, ${r.lost} lost` })
        rows.push({ group: 'contrast datagram echo 100 B', path, metric: 'p99 ms', value: percentile(r.samples, 99), note: `${r.samples.length} round trips, ${r.lost} lost` })
        opts.progress(`${path}: rate`)
        p = await open()
        const w = await rate(p, q ? 20_000 : 2_000_000, seconds)
        await p.close()
        rows.push({ group: 'contrast datagram rate 1200 B', path, metric: 'pkt/s', value: w.pps, note: `${w.back} of ${w.sent} back, ${WINDOW} in flight` })
        rows.push({ group: 'contrast datagram rate 1200 B', path, metric: 'loss %', value: w.sent ? (100 * (w.sent - w.back)) / w.sent : NaN })
      } catch (err) {
        opts.progress(`${path}: failed (${(err as Error).message})`)
        rows.push({ group: 'contrast datagram echo 100 B', path, metric: 'p50 ms', value: NaN, note: `failed: ${(err as Error).message}` })
      }
    }
    rows.push({ group: 'contrast memory', path: 'viaduct (pairing, TURN)', metric: 'peak RSS MiB', value: child.peakRssMiB(), note: 'the gateway child after every datagram path' })
  } finally {
    await gw?.stop()
    echo.close()
  }
  return rows
}

export const scenarios: Scenario[] = [
  {
    name: 'contrast-datagrams',
    description: 'one UDP echo workload direct, via a relay pairing over UDP and via TURN (UDP, channel data): round trips, rate, loss',
    run: runContrastDatagrams,
  },
]
