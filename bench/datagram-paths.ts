/**
 * Datagram workloads shared by the TURN and datagram-contrast scenarios: a "path" that sends to a UDP
 * echo and hears what comes back (direct, through a TURN channel, through a UDP pairing), one-at-a-time
 * round trips, and a windowed rate. Every loop is bounded in count and time.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { nowMs } from './stats.js'
import { TurnClient } from '../modes/relay/turn/client.js'

/** Datagrams kept in flight by windowedRate. */
export const WINDOW = 32
/** A datagram not back within this many ms counts as lost. */
export const LOST_AFTER_MS = 300
/** Bytes per datagram of windowedRate. */
export const RATE_DATAGRAM_BYTES = 1200

/** A datagram path: send to the echo, hear what comes back. */
export interface Path {
  send(b: Buffer): void
  onMessage(cb: (b: Buffer) => void): void
  close(): Promise<void>
}

export function bindUdp(): Promise<UdpSocket> {
  const s = createSocket('udp4')
  return new Promise((resolve) => s.bind(0, '127.0.0.1', () => resolve(s)))
}

export async function udpEchoServer(): Promise<UdpSocket> {
  const s = await bindUdp()
  s.on('message', (m, from) => s.send(m, from.port, from.address))
  return s
}

export async function directPath(echoPort: number): Promise<Path> {
  const s = await bindUdp()
  return {
    send: (b) => s.send(b, echoPort, '127.0.0.1'),
    onMessage: (cb) => void s.on('message', cb),
    close: () => new Promise((r) => s.close(() => r())),
  }
}

/** A TURN allocation over UDP with channel 0x4000 bound to the echo. */
export async function turnChannelPath(port: number, echoPort: number, username: string, password: string): Promise<Path> {
  const c = await TurnClient.connect({ host: '127.0.0.1', port, transport: 'udp', username, password })
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

/** One 100-byte datagram at a time; one not back within LOST_AFTER_MS counts as lost. */
export async function roundTrips(p: Path, count: number, deadline: number): Promise<{ samples: number[]; lost: number }> {
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

/**
 * Keep WINDOW 1,200-byte datagrams in flight (what is in flight after LOST_AFTER_MS without an answer is
 * lost and the window refilled) for at most `seconds` or `max` datagrams.
 */
export async function windowedRate(p: Path, max: number, seconds: number): Promise<{ pps: number; sent: number; back: number; secs: number }> {
  const msg = Buffer.alloc(RATE_DATAGRAM_BYTES, 0x62)
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
    const timer = setInterval(() => {
      if (nowMs() - lastBack < LOST_AFTER_MS) return
      inFlight = 0
      lastBack = nowMs()
      pump()
    }, LOST_AFTER_MS / 3)
    pump()
  })
  const secs = (nowMs() - t0) / 1000
  return { pps: back / secs, sent, back, secs }
}
