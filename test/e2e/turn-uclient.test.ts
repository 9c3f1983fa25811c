/**
 * coturn's own test client, turnutils_uclient, against Viaduct's TURN server: UDP and TCP client
 * transports, with channels and RTCP-style port pairs (EVEN-PORT + RESERVATION-TOKEN) and without (-c),
 * with Send indications (-s), with long-term and TURN REST credentials. Client-to-client mode (-y): the
 * peers are the other clients' relayed addresses on loopback, so the gateway allows 127.0.0.0/8 peers.
 * Every run must report every packet back and "Total lost packets 0".
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { startGateway, addr } from '../helpers/gateway.js'
import { requireProgram } from '../helpers/programs.js'

interface Run {
  sent: number
  received: number
  lost: number | undefined
  output: string
}

function uclient(bin: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    // execFile's timeout kills this child (by its PID) if it hangs
    execFile(bin, args, { timeout: 40_000, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}${err && !('code' in err && typeof err.code === 'number') ? `\n${err.message}` : ''}`
      const tot = /tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$/m.exec(output.split('\n').filter((l) => /start_mclient: tot_send_msgs=/.test(l)).pop() ?? '')
      const lost = /Total lost packets (\d+)/.exec(output)
      resolve({ sent: tot ? Number(tot[1]) : -1, received: tot ? Number(tot[2]) : -1, lost: lost ? Number(lost[1]) : undefined, output })
    })
  })
}

const MESSAGES = 30
const CLIENTS = 2

const variants: Array<{ name: string; flags: string[] }> = [
  { name: 'UDP, channels, RTP/RTCP pairs', flags: [] },
  { name: 'UDP, channels, no RTCP (-c)', flags: ['-c'] },
  { name: 'TCP, channels, RTP/RTCP pairs', flags: ['-t'] },
  { name: 'TCP, channels, no RTCP (-c)', flags: ['-t', '-c'] },
  { name: 'UDP, Send indications (-s -c)', flags: ['-s', '-c'] },
]

for (const creds of ['long-term', 'REST'] as const) {
  t.test(`turnutils_uclient with ${creds} credentials`, async (t) => {
    const bin = requireProgram(t, 'turnutils_uclient', 'Debian package coturn')
    if (!bin) return
    const gw = await startGateway(t, {
      relay: {
        turn: {
          listen: '127.0.0.1:0',
          users: creds === 'long-term' ? ['ucl:ient-pass'] : [],
          secrets: creds === 'REST' ? ['old-secret-123', 'the-rest-secret'] : [],
          allowPeers: ['127.0.0.0/8'],
          maxAllocationsPerUser: 100,
        },
      },
    })
    const port = addr(gw, 'turn-udp').port
    const auth = creds === 'long-term' ? ['-u', 'ucl', '-w', 'ient-pass'] : ['-u', 'carol', '-W', 'the-rest-secret']
    const runs = await Promise.all(
      variants.map((v) => uclient(bin, [...v.flags, ...auth, '-p', String(port), '-y', '-n', String(MESSAGES), '-m', String(CLIENTS), '-l', '120', '-z', '5', '127.0.0.1'])),
    )
    runs.forEach((r, i) => {
      const v = variants[i]
      const pairs = v.flags.includes('-c') ? 1 : 2
      const want = MESSAGES * CLIENTS * pairs
      t.equal(r.sent, want, `${v.name}: sent ${want}`) || t.comment(r.output.slice(-2000))
      t.equal(r.received, want, `${v.name}: every packet came back`)
      t.equal(r.lost, 0, `${v.name}: Total lost packets 0`)
    })
    // every allocation was a ledger session with bytes both ways, ended by the client
    const deadline = Date.now() + 5000
    while (gw.ledger.live('relay').length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    const recs = gw.ledger.recent('relay')
    const allocations = variants.reduce((n, v) => n + CLIENTS * (v.flags.includes('-c') ? 1 : 2), 0)
    t.ok(recs.length >= allocations, `a ledger session per allocation: ${recs.length} (at least ${allocations})`)
    t.ok(recs.some((r) => r.protocol === 'turn-tcp') && recs.some((r) => r.protocol === 'turn-udp'), 'both client transports recorded')
    const busy = recs.filter((r) => r.bytesUp > 0)
    t.ok(busy.length > 0 && busy.every((r) => r.bytesDown > 0), 'relayed bytes counted both ways')
    t.ok(recs.every((r) => ['deleted', 'client_closed', 'expired'].includes(r.reason ?? '')), 'allocations ended normally')
    t.equal(recs[0].user, creds === 'long-term' ? 'ucl' : recs[0].user, 'user recorded')
    if (creds === 'REST') t.match(recs[0].user, /^\d+:carol$/, 'REST username recorded')
  })
}
