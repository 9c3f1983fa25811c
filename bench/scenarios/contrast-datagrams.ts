/**
 * The contrast for datagrams: one UDP echo workload, run the same way direct, through the pairing relay
 * over UDP (two peers, peer B echoes) and through TURN (an allocation over UDP with a channel bound to
 * the echo server, Viaduct's own TURN client), against one Viaduct child process.
 *
 * Measures per path: round-trip time of 100-byte datagrams, one at a time (p50, p99), and a windowed
 * rate of 1,200-byte datagrams (32 in flight): datagrams per second that came back, and loss.
 */
import { randomBytes } from 'node:crypto'
import { startViaduct, type RunningProgram } from '../harness.js'
import type { BenchOptions, BenchRow, Scenario } from '../types.js'
import { connectPeer, type PeerDatagram } from '../../modes/relay/pairing/client.js'
import { mintToken } from '../../modes/relay/pairing/token.js'
import { WINDOW, directPath, turnChannelPath, udpEchoServer, type Path } from '../datagram-paths.js'
import { measureDatagramPaths, type NamedPath } from '../datagram-rows.js'

const SECRET = `bench-${randomBytes(12).toString('hex')}`
const TURN_USER = 'bench'

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

export async function runContrastDatagrams(opts: BenchOptions): Promise<BenchRow[]> {
  const echo = await udpEchoServer()
  const echoPort = echo.address().port
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
    const paths: NamedPath[] = [['direct', () => directPath(echoPort)]]
    if (pairing) paths.push(['viaduct relay pair-udp', () => pairUdp(pairing.port, `bench-udp-${process.pid}-${++room}`)])
    else opts.progress('skipping pair-udp: no pairing listener')
    if (turn) paths.push(['viaduct relay turn-udp', () => turnChannelPath(turn.port, echoPort, TURN_USER, SECRET)])
    else opts.progress('skipping TURN: no turn listener')
    rows.push(
      ...(await measureDatagramPaths(opts, paths, {
        roundTrips: { group: 'contrast datagram echo 100 B', note: (r) => `${r.samples.length} round trips, ${r.lost} lost` },
        rate: { group: 'contrast datagram rate 1200 B', note: (w) => `${w.back} of ${w.sent} back, ${WINDOW} in flight` },
        failedMetric: 'p50 ms',
      })),
    )
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
