/**
 * Reference relays for the benchmarks: the least a Node.js program can do, measured in the same run as
 * Viaduct to show what any Node.js proxy gets on this machine (the ceiling for Viaduct).
 *
 * - `node dist/bench/relay.js TARGET_PORT`: joins every accepted connection to 127.0.0.1:TARGET_PORT with
 *   two `pipe` calls: no handshake, no policy, no accounting.
 * - `node dist/bench/relay.js http`: a minimal absolute-form HTTP forward proxy: node:http server, one
 *   keep-alive Agent, hop-by-hop headers not even removed, bodies piped. No policy, no accounting, no
 *   error pages.
 * - `node dist/bench/relay.js http-undici`: the same with undici's dispatcher (raw handler) as the upstream
 *   side, the engine Viaduct uses for bodiless requests: the floor of CPU per request for that design.
 * Each listens on 127.0.0.1 port 0, prints {"port": N} on stdout, and exits when stdin closes or on SIGTERM.
 */
import { Agent, createServer as createHttpServer, request } from 'node:http'
import { connect, createServer, type AddressInfo, type Server } from 'node:net'
import { Pool, type Dispatcher } from 'undici'

function tcpRelay(targetPort: number): Server {
  return createServer({ noDelay: true }, (client) => {
    const target = connect({ host: '127.0.0.1', port: targetPort, noDelay: true })
    client.on('error', () => target.destroy())
    target.on('error', () => client.destroy())
    client.pipe(target)
    target.pipe(client)
  })
}

function httpProxy(): Server {
  const agent = new Agent({ keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo' })
  const server = createHttpServer({ noDelay: true, keepAliveTimeout: 120_000 }, (req, res) => {
    const u = new URL(req.url ?? '')
    const out = request({ agent, host: u.hostname, port: u.port || 80, method: req.method, path: u.pathname + u.search, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers)
      up.pipe(res)
    })
    out.on('error', () => res.destroy())
    req.pipe(out)
  })
  return server
}

function httpUndiciProxy(): Server {
  const pools = new Map<string, Pool>()
  const server = createHttpServer({ noDelay: true, keepAliveTimeout: 120_000 }, (req, res) => {
    const u = new URL(req.url ?? '')
    let pool = pools.get(u.origin)
    if (!pool) pools.set(u.origin, (pool = new Pool(u.origin, { connections: 256 })))
    const h: string[] = []
    const raw = req.rawHeaders
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i].toLowerCase()
      if (k === 'connection' || k === 'proxy-connection' || k === 'keep-alive' || k === 'host') continue
      h.push(raw[i], raw[i + 1])
    }
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined
    let resumeUp: (() => void) | undefined
    pool.dispatch({ origin: u.origin, path: u.pathname + u.search, method: req.method as 'GET', headers: h, body: hasBody ? req : null }, {
      onConnect() {},
      onHeaders(status: number, rawHeaders: Buffer[], resume: () => void, statusText: string) {
        resumeUp = resume
        const out: string[] = []
        for (let i = 0; i < rawHeaders.length; i += 2) {
          const k = rawHeaders[i].toString('latin1')
          const lk = k.toLowerCase()
          if (lk === 'connection' || lk === 'keep-alive' || lk === 'transfer-encoding') continue
          out.push(k, rawHeaders[i + 1].toString('latin1'))
        }
        res.writeHead(status, statusText, out)
        return true
      },
      onData(chunk: Buffer) {
        const ok = res.write(chunk)
        if (!ok) res.once('drain', () => resumeUp?.())
        return ok
      },
      onComplete() {
        res.end()
      },
      onError() {
        res.destroy()
      },
    } as unknown as Dispatcher.DispatchHandler)
  })
  return server
}

const server = process.argv[2] === 'http' ? httpProxy() : process.argv[2] === 'http-undici' ? httpUndiciProxy() : tcpRelay(Number(process.argv[2]))
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`)
})
process.stdin.resume()
process.stdin.once('end', () => process.exit(0))
process.once('SIGTERM', () => process.exit(0))
