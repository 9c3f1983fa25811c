/**
 * TURN over UDP: Viaduct against coturn (`turnserver`, started here on loopback when installed) and a
 * direct UDP path, with two load generators:
 *
 * - coturn's own `turnutils_uclient` (client-to-client mode -y, channels, no RTCP -c): M clients each
 *   send N 100-byte packets through two allocations; packets per second over the client's run (its
 *   fixed start/stop time included, the same for both servers), loss % and its average round trip.
 * - Viaduct's TypeScript TURN client with a channel to a UDP echo: a window of 1,200-byte datagrams
 *   (rate, throughput, loss) and one 100-byte datagram at a time (p50/p99 round trip; the difference to
 *   direct is the latency TURN adds). The same code measures the direct path.
 *
 * Everything runs on 127.0.0.1, bounded in count and time; children are stopped by PID.
 */
import { execFile, execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startProgram, startViaduct, type RunningProgram } from '../harness.js'
import { nowMs } from '../stats.js'
import type { BenchOptions, BenchRow, Scenario } from '../types.js'
import { TurnClient } from '../../modes/relay/turn/client.js'
import { WINDOW, directPath, turnChannelPath, udpEchoServer } from '../datagram-paths.js'
import { measureDatagramPaths, type NamedPath } from '../datagram-rows.js'

const GROUP = 'turn-udp'
const USER = 'bench'
const PASSWORD = `pw-${randomBytes(8).toString('hex')}`
const REALM = 'bench.viaduct'

/** A loopback port that is free for UDP and TCP right now (coturn listens on both). */
export async function findFreeUdpTcpPort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const u = createSocket('udp4')
    const port = await new Promise<number>((resolve) => u.bind(0, '127.0.0.1', () => resolve(u.address().port)))
    const ok = await new Promise<boolean>((resolve) => {
      const s = createServer()
      s.once('error', () => resolve(false))
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
    })
    await new Promise<void>((r) => u.close(() => r()))
    if (ok) return port
  }
  throw new Error('no port free for both UDP and TCP')
}

export function findProgramPath(name: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || undefined
  } catch {
    return undefined
  }
}

interface UclientRun {
  sent: number
  received: number
  lostPct: number
  rttMs: number
  wallS: number
}

function runUclient(bin: string, port: number, clients: number, messages: number, timeoutMs: number): Promise<UclientRun> {
  const args = ['-y', '-c', '-u', USER, '-w', PASSWORD, '-p', String(port), '-m', String(clients), '-n', String(messages), '-l', '100', '-z', '0', '127.0.0.1']
  const t0 = nowMs()
  return new Promise((resolve, reject) => {
    // execFile kills the child (by PID) when the timeout passes
    execFile(bin, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const out = `${stdout}${stderr}`
      const wallS = (nowMs() - t0) / 1000
      const tot = [...out.matchAll(/start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)/g)].pop()
      const lost = /Total lost packets \d+ \(([\d.]+)%\)/.exec(out)
      const rtt = /Average round trip delay ([\d.]+) ms/.exec(out)
      if (!tot || !lost) return reject(new Error(`turnutils_uclient gave no totals${err ? ` (${err.message.split('\n')[0]})` : ''}: ${out.split('\n').filter((l) => /error/i.test(l)).slice(0, 2).join('; ')}`))
      resolve({ sent: Number(tot[1]), received: Number(tot[2]), lostPct: Number(lost[1]), rttMs: rtt ? Number(rtt[1]) : NaN, wallS })
    })
  })
}

/** coturn on loopback with a temporary config (long-term user, loopback peers allowed, no TLS, no CLI). */
async function startCoturn(bin: string, dir: string): Promise<{ prog: RunningProgram; port: number }> {
  const port = await findFreeUdpTcpPort()
  const conf = join(dir, 'turnserver.conf')
  writeFileSync(
    conf,
    [
      'listening-ip=127.0.0.1',
      'relay-ip=127.0.0.1',
      `listening-port=${port}`,
      'min-port=40000',
      'max-port=44999',
      'allow-loopback-peers',
      'no-cli',
      'no-tls',
      'no-dtls',
      'lt-cred-mech',
      `user=${USER}:${PASSWORD}`,
      `realm=${REALM}`,
      `pidfile=${join(dir, 'turnserver.pid')}`,
      `log-file=${join(dir, 'turnserver.log')}`,
      `userdb=${join(dir, 'turndb')}`,
      'simple-log',
      'no-stdout-log',
      'total-quota=1000',
      'user-quota=1000',
      '',
    ].join('\n'),
  )
  const prog = await startProgram(bin, ['-c', conf], async () => {
    for (;;) {
      const c = await TurnClient.connect({ host: '127.0.0.1', port, rtoMs: 100, attempts: 2 })
      try {
        await c.binding()
        return
      } catch {
        await new Promise((r) => setTimeout(r, 100))
      } finally {
        await c.close()
      }
    }
  })
  return { prog, port }
}

export async function runTurn(opts: BenchOptions): Promise<BenchRow[]> {
  const q = opts.quick
  const seconds = Math.max(0.2, opts.seconds)
  const rows: BenchRow[] = []
  const echo = await udpEchoServer()
  const echoPort = echo.address().port
  const dir = mkdtempSync(join(tmpdir(), 'viaduct-bench-turn-'))
  writeFileSync(join(dir, 'viaduct.json'), JSON.stringify({ relay: { turn: { maxAllocations: 5000, maxAllocationsPerUser: 5000, unauthRepliesPerS: 0, portMin: 45000, portMax: 49999 } } }))
  const servers: Array<{ path: string; port: number; prog: RunningProgram }> = []
  try {
    opts.progress('starting viaduct (TURN)')
    const v = await startViaduct(['--turn', '127.0.0.1:0', '--turn-user', `${USER}:${PASSWORD}`, '--turn-realm', REALM, '--turn-allow-peer', '127.0.0.0/8'], {
      env: { VIADUCT_CONFIG: join(dir, 'viaduct.json') },
    })
    servers.push({ path: 'viaduct turn', port: v.port('turn-udp'), prog: v })
    const turnserver = findProgramPath('turnserver')
    if (turnserver) {
      opts.progress('starting coturn (turnserver)')
      try {
        const c = await startCoturn(turnserver, dir)
        servers.push({ path: 'coturn', port: c.port, prog: c.prog })
      } catch (err) {
        opts.progress(`coturn did not start: ${(err as Error).message}`)
      }
    } else opts.progress('coturn (turnserver) is not installed: no coturn rows')

    // 1. Viaduct's TS client: direct and through each server
    const paths: NamedPath[] = [['direct', () => directPath(echoPort)], ...servers.map((s): NamedPath => [s.path, () => turnChannelPath(s.port, echoPort, USER, PASSWORD)])]
    rows.push(
      ...(await measureDatagramPaths(opts, paths, {
        roundTrips: { group: GROUP, note: (r) => `${r.samples.length} round trips of 100 B, ${r.lost} lost (TS client, channel to a UDP echo)` },
        rate: { group: GROUP, note: (w) => `${w.back} of ${w.sent} datagrams of 1200 B back in ${w.secs.toFixed(1)} s, ${WINDOW} in flight`, mibPerS: true },
        failedMetric: 'pkt/s',
      })),
    )

    // 2. coturn's turnutils_uclient as the load generator, same arguments for both servers
    const uclient = findProgramPath('turnutils_uclient')
    if (uclient) {
      const clients = q ? 10 : 50
      const messages = q ? 300 : 2000
      for (const s of servers) {
        try {
          opts.progress(`${s.path}: turnutils_uclient -m ${clients} -n ${messages}`)
          const u = await runUclient(uclient, s.port, clients, messages, Math.max(30_000, seconds * 4000))
          const note = `turnutils_uclient -y -c -m ${clients} -n ${messages} -l 100 -z 0: ${u.received} of ${u.sent} back in ${u.wallS.toFixed(1)} s (uclient's fixed wait included)`
          rows.push({ group: `${GROUP} uclient`, path: s.path, metric: 'pkt/s', value: u.received / u.wallS, note })
          rows.push({ group: `${GROUP} uclient`, path: s.path, metric: 'loss %', value: u.lostPct, note })
          rows.push({ group: `${GROUP} uclient`, path: s.path, metric: 'rtt ms', value: u.rttMs, note: "turnutils_uclient's average round trip" })
        } catch (err) {
          opts.progress(`${s.path}: turnutils_uclient failed (${(err as Error).message})`)
          rows.push({ group: `${GROUP} uclient`, path: s.path, metric: 'pkt/s', value: NaN, note: `failed: ${(err as Error).message}` })
        }
      }
    } else opts.progress('turnutils_uclient is not installed: no uclient rows')
    for (const s of servers) rows.push({ group: `${GROUP} memory`, path: s.path, metric: 'peak RSS MiB', value: s.prog.peakRssMiB(), note: 'the server process after every run' })
  } finally {
    for (const s of servers) await s.prog.stop()
    echo.close()
    rmSync(dir, { recursive: true, force: true })
  }
  return rows
}

/** The STUN/ChannelData codec alone: messages decoded and encoded per second (no sockets). */
export async function runCodec(opts: BenchOptions): Promise<BenchRow[]> {
  const { encode, decodeMessage, verifyIntegrity, longTermKey, Attr, Class, Method, encodeXorAddress, encodeText } = await import('../../modes/relay/turn/stun/index.js')
  const { decodeDatagram, encodeChannelData } = await import('../../modes/relay/turn/channel-data.js')
  const key = longTermKey('bench', REALM, 'pw')
  const tid = randomBytes(12)
  const request = encode(
    {
      method: Method.CREATE_PERMISSION,
      cls: Class.REQUEST,
      transactionId: tid,
      attributes: [
        { type: Attr.XOR_PEER_ADDRESS, value: encodeXorAddress({ family: 4, address: '198.51.100.7', port: 5000 }, tid) },
        { type: Attr.USERNAME, value: encodeText('1767225600:alice') },
        { type: Attr.REALM, value: encodeText(REALM) },
        { type: Attr.NONCE, value: encodeText('69b1a2c0.abcdefghijklmnopqrstuv') },
      ],
    },
    { key, fingerprint: true },
  )
  const cd = encodeChannelData({ channel: 0x4000, data: Buffer.alloc(1200) })
  const budgetMs = (opts.quick ? 0.3 : 2) * 1000
  const measure = (fn: () => void): number => {
    let n = 0
    const t0 = nowMs()
    while (nowMs() - t0 < budgetMs) {
      for (let i = 0; i < 1000; i++) fn()
      n += 1000
    }
    return n / ((nowMs() - t0) / 1000)
  }
  opts.progress('STUN codec')
  return [
    { group: 'stun codec', path: 'viaduct', metric: 'decode+MI/s', value: measure(() => verifyIntegrity(decodeMessage(request)!.value, key)), note: `CreatePermission with MESSAGE-INTEGRITY and FINGERPRINT, ${request.length} B` },
    { group: 'stun codec', path: 'viaduct', metric: 'encode+MI/s', value: measure(() => encode({ method: Method.CREATE_PERMISSION, cls: Class.SUCCESS, transactionId: tid, attributes: [] }, { key, fingerprint: true })) },
    { group: 'stun codec', path: 'viaduct', metric: 'ChannelData/s', value: measure(() => decodeDatagram(cd)), note: 'decode of a 1200 B ChannelData datagram' },
  ]
}

export const scenarios: Scenario[] = [
  {
    name: 'stun-codec',
    description: 'the STUN/ChannelData codec alone: decode with MESSAGE-INTEGRITY, encode, ChannelData per second',
    run: runCodec,
  },
  {
    name: 'turn',
    description: 'TURN over UDP: Viaduct vs coturn vs direct UDP (TS client: rate, loss, round trips; turnutils_uclient: pkt/s, loss)',
    run: runTurn,
  },
]
