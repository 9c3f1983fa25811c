/**
 * The benchmark origin: a child process (`node dist/bench/origin.js`) that serves what the forward-proxy
 * scenarios fetch, so the load generator (the bench process) and the origin never share an event loop:
 * direct = bench process <-> origin process, proxied = bench process <-> proxy process <-> origin process.
 *
 * Listens on 127.0.0.1, port 0, and prints one JSON line on stdout with its ports:
 * - http:   GET /1k and /100k (keep-alive), any other path gets the 1 KiB body.
 * - source: reads "N\n", then sends N bytes and ends; "0\n" answers "ok" and echoes from then on.
 * - sink:   rounds of an 8-byte big-endian length and that many bytes; answers "!" after each round.
 * - echo:   echoes every byte.
 * It exits when its stdin closes (the parent died) or on SIGTERM.
 */
import { createServer as createHttpServer } from 'node:http'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'

const bodies: Record<string, Buffer> = { '/1k': Buffer.alloc(1024, 97), '/100k': Buffer.alloc(100 * 1024, 98) }
const CHUNK = Buffer.alloc(256 * 1024, 99)

function source(c: Socket): void {
  c.once('data', (d: Buffer) => {
    let left = Number(String(d).trim())
    if (!Number.isFinite(left) || left <= 0) {
      c.write('ok')
      c.on('data', (x: Buffer) => c.write(x))
      return
    }
    const pump = () => {
      while (left > 0) {
        const k = Math.min(left, CHUNK.length)
        left -= k
        if (!c.write(k === CHUNK.length ? CHUNK : CHUNK.subarray(0, k))) return void c.once('drain', pump)
      }
      c.end()
    }
    pump()
  })
}

function sink(s: Socket): void {
  let left = -1
  let head = Buffer.alloc(0)
  s.on('data', (c: Buffer) => {
    while (c.length > 0) {
      if (left < 0) {
        head = Buffer.concat([head, c])
        if (head.length < 8) return
        left = Number(head.readBigUInt64BE(0))
        c = head.subarray(8)
        head = Buffer.alloc(0)
      }
      const take = Math.min(left, c.length)
      left -= take
      c = c.subarray(take)
      if (left === 0) {
        left = -1
        s.write('!')
      }
    }
  })
}

function tcp(handler: (s: Socket) => void): Server {
  return createServer({ noDelay: true }, (s) => {
    s.on('error', () => undefined)
    handler(s)
  })
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, r))
  return (server.address() as AddressInfo).port
}

async function main(): Promise<void> {
  const http = createHttpServer((req, res) => {
    const b = bodies[req.url ?? ''] ?? bodies['/1k']
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': b.length })
    res.end(b)
  })
  http.keepAliveTimeout = 120_000
  const ports = {
    http: await listen(http),
    source: await listen(tcp(source)),
    sink: await listen(tcp(sink)),
    echo: await listen(tcp((s) => s.pipe(s))),
  }
  process.stdout.write(`${JSON.stringify(ports)}\n`)
  process.stdin.resume()
  process.stdin.once('end', () => process.exit(0))
  process.once('SIGTERM', () => process.exit(0))
}

void main()
