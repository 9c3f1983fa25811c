/**
 * Helpers for the HTTP proxy tests: a loopback origin that echoes what it received, a gateway with only the
 * HTTP proxy on, raw-socket exchanges, and curl as a child process.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import type { Gateway } from '../../src/gateway.js'
import { addr, startGateway } from './gateway.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

export interface Echo {
  method: string
  url: string
  httpVersion: string
  rawHeaders: string[]
  bodyBytes: number
  sha256: string
  remotePort: number
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void

/** An origin on 127.0.0.1:0; without a handler it answers every request with its Echo as JSON. */
export async function startOrigin(t: Teardown, handler?: Handler): Promise<{ server: Server; port: number; url: string }> {
  const server = createServer(
    handler ??
      ((req, res) => {
        const h = createHash('sha256')
        let n = 0
        req.on('data', (d: Buffer) => {
          n += d.length
          h.update(d)
        })
        req.on('end', () => {
          const echo: Echo = { method: req.method ?? '', url: req.url ?? '', httpVersion: req.httpVersion, rawHeaders: req.rawHeaders, bodyBytes: n, sha256: h.digest('hex'), remotePort: req.socket.remotePort ?? 0 }
          const body = JSON.stringify(echo)
          res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) })
          res.end(body)
        })
      }),
  )
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  const port = (server.address() as AddressInfo).port
  return { server, port, url: `http://127.0.0.1:${port}` }
}

/** A gateway with only the HTTP proxy on 127.0.0.1:0, allowed to reach loopback origins on any port. */
export async function startProxy(t: Teardown, forward: Record<string, unknown> = {}, opts: Parameters<typeof startGateway>[2] = {}): Promise<{ gw: Gateway; port: number; url: string }> {
  const base = { http: { listen: '127.0.0.1:0' }, access: { allowPrivate: ['127.0.0.0/8', '::1/128'], connectPorts: ['*'] } }
  const f = forward as { http?: object; access?: object }
  const gw = await startGateway(t, { forward: { ...base, ...forward, http: { ...base.http, ...(f.http ?? {}) }, access: { ...base.access, ...(f.access ?? {}) } } }, opts)
  const a = addr(gw, 'http')
  return { gw, port: a.port, url: `http://${a.url}` }
}

/** Send raw bytes, collect everything until the server closes (or `ms` passes). */
export function rawExchange(port: number, data: string | Buffer, ms = 3000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    let closed = false
    const timer = setTimeout(() => finish(), ms)
    function finish() {
      clearTimeout(timer)
      s.destroy()
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed })
    }
    s.on('data', (d) => chunks.push(d))
    s.on('error', () => undefined)
    s.on('close', () => {
      closed = true
      finish()
    })
    s.write(data)
  })
}

/** Open a raw socket to the proxy. */
export function rawSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s))
    s.once('error', reject)
  })
}

/** Read from a socket until `pred(text)` holds (or the socket closes, or `ms` passes). */
export function readUntil(s: Socket, pred: (text: string) => boolean, ms = 3000): Promise<string> {
  return new Promise((resolve) => {
    let text = ''
    const done = () => {
      clearTimeout(timer)
      s.off('data', onData)
      s.off('close', done)
      resolve(text)
    }
    const onData = (d: Buffer) => {
      text += d.toString('latin1')
      if (pred(text)) done()
    }
    const timer = setTimeout(done, ms)
    s.on('data', onData)
    s.once('close', done)
  })
}

export function run(cmd: string, args: string[], timeoutMs = 20_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0
      resolve({ code, stdout, stderr })
    })
  })
}

/** Header value (first) from a flat raw list. */
export function rawHeader(raw: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i].toLowerCase() === name.toLowerCase()) return raw[i + 1]
  return undefined
}

export function rawHeaderNames(raw: string[]): string[] {
  return raw.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase())
}
