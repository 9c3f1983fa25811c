/**
 * Fixtures for the SOCKS, mixed-port and upstream tests: loopback echo servers (TCP and UDP), a gateway
 * with the SOCKS listener on, a SOCKS server built from a hand-made context (to inject a resolver), and
 * a raw client that writes bytes and collects the answer.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net'
import { createSocket } from 'node:dgram'
import { Ledger } from '../../src/core/ledger.js'
import { silentLogger } from '../../src/core/log.js'
import { SelfAddresses } from '../../src/core/self.js'
import { systemClock, type Clock } from '../../src/core/clock.js'
import { forwardSchema, type ForwardConfig } from '../../modes/forward/config.js'
import { AccessPolicy } from '../../modes/forward/access.js'
import { ProxyAuth } from '../../modes/forward/auth.js'
import { ConnectionLimiter, type ForwardContext } from '../../modes/forward/context.js'
import { DirectDialer } from '../../modes/forward/dial.js'
import { createDialer } from '../../modes/forward/upstream/index.js'
import { SocksServer } from '../../modes/forward/socks/server.js'
import { startGateway, addr, merge } from './gateway.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

/** Loopback targets are private: tests allow 127.0.0.0/8 and any port. */
export const LOOPBACK_ACCESS = { access: { allowPrivate: ['127.0.0.0/8', '::1/128'], connectPorts: ['*'] } }

/** A TCP echo server on 127.0.0.1 (optionally sending a banner first). */
export async function echoServer(t: Teardown, opts: { banner?: string } = {}): Promise<{ port: number; server: Server; connections: number }> {
  const state = { port: 0, server: undefined as unknown as Server, connections: 0 }
  const open = new Set<Socket>()
  const server = createServer((s) => {
    state.connections++
    open.add(s)
    s.on('close', () => open.delete(s))
    s.on('error', () => undefined)
    if (opts.banner) s.write(opts.banner)
    s.pipe(s)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  t.teardown(() => {
    for (const s of open) s.destroy()
  })
  state.port = (server.address() as AddressInfo).port
  state.server = server
  return state
}

/** A UDP echo server on 127.0.0.1. */
export async function udpEcho(t: Teardown): Promise<{ port: number }> {
  const s = createSocket('udp4')
  s.on('message', (msg, r) => s.send(msg, r.port, r.address))
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => s.close(() => r())))
  return { port: s.address().port }
}

/** A port on 127.0.0.1 where nothing listens (bound once, then closed). */
export async function closedPort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

/** A gateway with only the SOCKS listener on (plus `extra` config merged into forward). */
export async function socksGateway(t: Teardown, forward: Record<string, unknown> = {}) {
  const gw = await startGateway(t, { forward: merge({ socks: { listen: '127.0.0.1:0' }, ...LOOPBACK_ACCESS }, forward) })
  return { gw, port: addr(gw, 'socks').port }
}

export interface HandMade {
  ctx: ForwardContext
  server: SocksServer
  port: number
  ledger: Ledger
}

/** A SOCKS server from a hand-made context, so a test can inject the resolver or a clock. */
export async function socksWithResolver(
  t: Teardown,
  forward: Record<string, unknown>,
  resolve: (host: string) => Promise<string[]>,
  clock: Clock = systemClock,
): Promise<HandMade> {
  const config: ForwardConfig = forwardSchema.parse(merge({ http: { listen: 'off' }, socks: { listen: '127.0.0.1:0' }, ...LOOPBACK_ACCESS }, forward))
  const ledger = new Ledger({ clock, sampleIntervalMs: 0 })
  const self = new SelfAddresses()
  const policy = new AccessPolicy(config.access, self)
  const direct = new DirectDialer({ policy, connectTimeoutMs: config.limits.connectTimeoutMs, resolve })
  const ctx: ForwardContext = {
    core: { ledger, log: silentLogger(), clock, self, faults: ledger.faults },
    config,
    policy,
    auth: new ProxyAuth(config.users),
    dialer: createDialer(config, direct, policy),
    limiter: new ConnectionLimiter(config.limits.maxConnections),
  }
  const server = new SocksServer(ctx, { resolve })
  const l = await server.listen()
  self.add(l)
  t.teardown(() => server.destroy())
  return { ctx, server, port: l[0].port, ledger }
}

/** Write `bytes` to host:port and resolve with what came back once `n` bytes (or the close) arrived. */
export function rawExchange(port: number, bytes: Buffer | Buffer[], n: number, timeoutMs = 5000): Promise<{ data: Buffer; closed: boolean; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port })
    let data = Buffer.alloc(0)
    let done = false
    const finish = (closed: boolean) => {
      if (done) return
      done = true
      clearTimeout(timer)
      resolve({ data, closed, socket: s })
    }
    const timer = setTimeout(() => {
      done = true
      s.destroy()
      reject(new Error(`no ${n}-byte answer within ${timeoutMs} ms (got ${data.toString('hex')})`))
    }, timeoutMs)
    s.on('error', () => finish(true))
    s.on('data', (c) => {
      data = Buffer.concat([data, c])
      if (data.length >= n) finish(false)
    })
    s.on('close', () => finish(true))
    s.on('connect', async () => {
      for (const b of Array.isArray(bytes) ? bytes : [bytes]) {
        s.write(b)
        if (Array.isArray(bytes)) await new Promise((r) => setTimeout(r, 5))
      }
      if (n === 0) finish(false)
    })
  })
}

/** Wait for a socket to close (or give up after ms). */
export function closedWithin(s: Socket, ms: number): Promise<boolean> {
  if (s.destroyed) return Promise.resolve(true)
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms)
    s.once('close', () => {
      clearTimeout(timer)
      resolve(true)
    })
  })
}
