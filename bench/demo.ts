/**
 * `viaduct demo`: start the gateway on loopback (every mode that exists, on free ports; the dashboard on
 * 127.0.0.1:8081 or a free port), drive a little traffic through each mode, print what happened and the
 * dashboard URL, and keep a gentle trickle going until Ctrl-C (`--once`: exit after the first round).
 *
 * The traffic only goes to loopback: a local origin server (HTTP), reached through the HTTP proxy
 * (absolute-form and CONNECT) and through SOCKS5; two peers paired through the relay over TCP; a STUN
 * Binding request and a TURN allocation relaying datagrams to a local peer; and one request the proxy
 * refuses, so refusals show up too.
 */
import { createServer, request, type Server } from 'node:http'
import { connect, type Socket } from 'node:net'
import { createSocket } from 'node:dgram'
import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import type { Command } from 'commander'
import { SocksClient } from 'socks'
import type { CliContext } from '../src/cli/main.js'
import { describeListener } from '../src/cli/main.js'
import { createLogger } from '../src/core/log.js'
import { isViaductError } from '../src/core/errors.js'
import type { Gateway } from '../src/gateway.js'
import type { CliIO } from '../src/mode.js'
import { pairTwo } from './pair-client.js'
import { TurnClient } from '../modes/relay/turn/client.js'

export const DEMO_ADMIN = '127.0.0.1:8081'
const TURN_USER = 'demo'
const ROUND_TIMEOUT_MS = 5000

interface Step {
  name: string
  run(): Promise<string>
}

function timeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout
  return Promise.race([p, new Promise<never>((_, rej) => (t = setTimeout(() => rej(new Error(`${what}: no answer in ${ms} ms`)), ms)))]).finally(() => clearTimeout(t))
}

function closeOrigin(s: Server): void {
  s.close()
  s.closeAllConnections()
}

function origin(): Promise<Server> {
  const big = randomBytes(256 * 1024)
  const server = createServer((req, res) => {
    if (req.url === '/big') return res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(big)
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`hello from the origin: ${req.method} ${req.url}\n`)
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

/** A GET through the HTTP proxy in absolute-form; resolves with "status bytes". */
function proxyGet(proxyPort: number, url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const u = new URL(url)
    const req = request({ host: '127.0.0.1', port: proxyPort, method: 'GET', path: url, headers: { host: u.host }, agent: false }, (res) => {
      let n = 0
      res.on('data', (c: Buffer) => (n += c.length))
      res.on('end', () => resolve(`${res.statusCode} ${n} B`))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

/** Read one HTTP response head+body on a raw socket (Connection: close). */
function rawGet(sock: Socket, host: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = ''
    sock.setEncoding('latin1')
    sock.on('data', (c: string) => (data += c))
    sock.once('end', () => resolve(`${/^HTTP\/1\.1 (\d+)/.exec(data)?.[1] ?? '?'} ${data.length} B`))
    sock.once('error', reject)
    sock.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
  })
}

function connectTunnel(proxyPort: number, target: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: proxyPort })
    let head = ''
    s.setEncoding('latin1')
    const onData = (c: string) => {
      head += c
      const end = head.indexOf('\r\n\r\n')
      if (end < 0) return
      s.off('data', onData)
      const status = /^HTTP\/1\.[01] (\d+)/.exec(head)?.[1]
      if (status !== '200') {
        s.destroy()
        return reject(new Error(`CONNECT answered ${status}`))
      }
      resolve(s)
    }
    s.on('data', onData)
    s.once('error', reject)
    s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`)
  })
}

/** STUN Binding request (RFC 8489 §5): the TURN port answers with the address it saw. */
function stunBinding(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createSocket('udp4')
    const req = Buffer.alloc(20)
    req.writeUInt16BE(0x0001, 0)
    req.writeUInt16BE(0, 2)
    req.writeUInt32BE(0x2112a442, 4)
    randomBytes(12).copy(req, 8)
    const timer = setTimeout(() => {
      sock.close()
      reject(new Error('no STUN answer'))
    }, 2000)
    sock.on('message', (m) => {
      clearTimeout(timer)
      sock.close()
      resolve(`${m.readUInt16BE(0) === 0x0101 ? 'Binding success' : `type 0x${m.readUInt16BE(0).toString(16)}`} (${m.length} B)`)
    })
    sock.send(req, port, '127.0.0.1')
  })
}

function steps(gw: Gateway, originPort: number, secret: string): Step[] {
  const out: Step[] = []
  const http = gw.address('http')
  const socks = gw.address('socks')
  const pairing = gw.addresses().find((l) => l.mode === 'relay' && l.transport === 'tcp' && l.listener.startsWith('pairing'))
  const turn = gw.addresses().find((l) => l.mode === 'relay' && l.transport === 'udp' && l.listener.startsWith('turn'))
  const target = `127.0.0.1:${originPort}`
  if (http) {
    out.push({ name: `forward http   GET http://${target}/hello via the proxy`, run: () => proxyGet(http.port, `http://${target}/hello`) })
    out.push({ name: `forward http   GET http://${target}/big via the proxy`, run: () => proxyGet(http.port, `http://${target}/big`) })
    out.push({
      name: `forward http   CONNECT ${target}, then GET / inside the tunnel`,
      run: async () => rawGet(await connectTunnel(http.port, target), target, '/tunnel'),
    })
    out.push({ name: 'forward http   GET http://10.255.255.1/ (a private address: refused)', run: () => proxyGet(http.port, 'http://10.255.255.1/') })
  }
  if (socks) {
    out.push({
      name: `forward socks5 CONNECT ${target}, then GET /`,
      run: async () => {
        const { socket } = await SocksClient.createConnection({ proxy: { host: '127.0.0.1', port: socks.port, type: 5 }, command: 'connect', destination: { host: '127.0.0.1', port: originPort }, timeout: ROUND_TIMEOUT_MS })
        return rawGet(socket, target, '/socks')
      },
    })
  }
  if (pairing) {
    out.push({
      name: 'relay  pairing two TCP peers, 64 KiB each way',
      run: async () => {
        const [a, b] = await pairTwo('127.0.0.1', pairing.port, secret, `demo-${randomBytes(4).toString('hex')}`)
        const payload = randomBytes(64 * 1024)
        const recv = (s: Socket) =>
          new Promise<number>((resolve) => {
            let n = 0
            s.on('data', (c: Buffer) => {
              n += c.length
              if (n >= payload.length) resolve(n)
            })
            s.resume()
          })
        const [na, nb] = await Promise.all([recv(a), recv(b), a.write(payload), b.write(payload)])
        await new Promise((r) => setTimeout(r, 50))
        a.end()
        b.end()
        return `paired; A got ${na} B, B got ${nb} B`
      },
    })
  }
  if (turn) {
    out.push({ name: `relay  STUN Binding to the TURN port ${turn.port}/udp`, run: () => stunBinding(turn.port) })
    out.push({ name: 'relay  TURN allocation over UDP, 10 datagrams to a peer and back', run: () => turnRound(turn.port, secret) })
  }
  return out
}

/**
 * RFC 8656: Allocate (with the 401 long-term credential dance), CreatePermission for a local UDP echo
 * peer, ten Send indications relayed to it and its answers relayed back as Data indications, then a
 * Refresh with LIFETIME 0 to delete the allocation.
 */
async function turnRound(port: number, password: string): Promise<string> {
  const peer = createSocket('udp4')
  peer.on('message', (m, from) => peer.send(m, from.port, from.address))
  await new Promise<void>((r) => peer.bind(0, '127.0.0.1', () => r()))
  const client = await TurnClient.connect({ host: '127.0.0.1', port, transport: 'udp', username: TURN_USER, password })
  try {
    const alloc = await client.allocate()
    const peerAddr = { family: 4 as const, address: '127.0.0.1', port: peer.address().port }
    await client.createPermission(peerAddr)
    let back = 0
    const all = new Promise<void>((resolve) =>
      client.on('data', () => {
        if (++back === 10) resolve()
      }),
    )
    for (let i = 0; i < 10; i++) client.send(peerAddr, Buffer.alloc(500, i))
    await timeout(all, 3000, 'TURN data')
    await client.refresh(0)
    return `relayed ${alloc.relayed.address}:${alloc.relayed.port}, ${back} of 10 datagrams came back`
  } finally {
    await client.close()
    peer.close()
  }
}

async function round(gw: Gateway, originPort: number, secret: string, io: CliIO, verbose: boolean): Promise<number> {
  let failed = 0
  for (const s of steps(gw, originPort, secret)) {
    try {
      const r = await timeout(s.run(), ROUND_TIMEOUT_MS, s.name)
      if (verbose) io.stdout.write(`  ok   ${s.name}: ${r}\n`)
    } catch (err) {
      failed++
      if (verbose) io.stdout.write(`  FAIL ${s.name}: ${(err as Error).message}\n`)
    }
  }
  return failed
}

export function demoCommand(program: Command, io: CliIO, ctx: CliContext): void {
  program
    .command('demo')
    .description('start the gateway on loopback, drive a little traffic through each mode, and print the dashboard URL')
    .option('--admin <addr>', `dashboard address (default ${DEMO_ADMIN}, a free port when that one is taken)`)
    .option('--once', 'exit after the first round of traffic (tests)')
    .option('--every <ms>', 'with no --once: a round of traffic this often', (v) => Number(v), 3000)
    .action(async (o: { admin?: string; once?: boolean; every: number }) => {
      const org = await origin()
      const originPort = (org.address() as AddressInfo).port
      const secret = randomBytes(16).toString('hex')
      const flags = (admin: string) => ({
        http: '127.0.0.1:0',
        socks: '127.0.0.1:0',
        relay: '127.0.0.1:0',
        relaySecret: [secret],
        turn: '127.0.0.1:0',
        turnAllowPeer: ['127.0.0.0/8'],
        turnUser: [`${TURN_USER}:${secret}`],
        allowPrivate: ['127.0.0.0/8'],
        connectPort: [String(originPort)],
        admin,
        logLevel: 'error',
      })
      let gw: Gateway
      try {
        const start = (admin: string) => {
          const config = ctx.loadFromFlags(flags(admin))
          return ctx.startGateway(config, createLogger({ level: 'error', pretty: false, destination: io.stderr }))
        }
        try {
          gw = await start(o.admin ?? DEMO_ADMIN)
        } catch (err) {
          if (o.admin || !isViaductError(err, 'VIADUCT_ERR_LISTEN_IN_USE')) throw err
          io.stderr.write(`viaduct demo: ${DEMO_ADMIN} is taken; using a free port for the dashboard\n`)
          gw = await start('127.0.0.1:0')
        }
      } catch (err) {
        closeOrigin(org)
        io.stderr.write(`viaduct: error: ${isViaductError(err) ? `${err.message} [${err.code}]` : (err as Error).message}\n`)
        io.setExitCode(1)
        return
      }
      io.stdout.write(`viaduct demo: the gateway listens on\n${gw.addresses().map((l) => `  ${describeListener(l)}`).join('\n')}\n`)
      io.stdout.write(`  origin   (demo)       tcp 127.0.0.1:${originPort}   a local web server the proxy fetches from\n\n`)
      io.stdout.write('traffic:\n')
      const failed = await round(gw, originPort, secret, io, true)
      const admin = gw.address('admin')
      const url = admin ? `http://${admin.address.includes(':') ? `[${admin.address}]` : admin.address}:${admin.port}/` : undefined
      const st = gw.ledger.stats()
      io.stdout.write(`\nledger: ${Object.entries(st.byMode).map(([m, v]) => `${m} ${v.total} sessions (${v.bytesUp} B up, ${v.bytesDown} B down)`).join(', ') || 'no session'}\n`)
      io.stdout.write(`reasons: ${Object.entries(st.reasons).map(([r, n]) => `${r} ${n}`).join(', ')}\n`)
      io.stdout.write(url ? `\ndashboard: ${url}\n` : '\ndashboard: off (admin.listen is off)\n')
      if (o.once) {
        await gw.close()
        closeOrigin(org)
        if (failed) io.setExitCode(1)
        return
      }
      io.stdout.write(`\na round of traffic every ${o.every} ms; Ctrl-C to stop\n`)
      const every = Number.isFinite(o.every) && o.every >= 200 ? o.every : 3000
      let busy = false
      const timer = setInterval(() => {
        if (busy) return
        busy = true
        void round(gw, originPort, secret, io, false).finally(() => (busy = false))
      }, every)
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop)
          process.off('SIGTERM', stop)
          resolve()
        }
        process.on('SIGINT', stop)
        process.on('SIGTERM', stop)
      })
      clearInterval(timer)
      io.stderr.write('viaduct demo: stopping\n')
      await gw.close()
      closeOrigin(org)
    })
}
