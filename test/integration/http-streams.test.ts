/**
 * Streaming: 100 MiB each way through the proxy with matching SHA-256 (generated, never buffered whole),
 * a slow reader that must hold the origin back (backpressure) instead of growing memory, and ledger byte
 * counts equal to what crossed the client socket.
 */
import t from 'tap'
import { request as httpRequest } from 'node:http'
import { createHash, randomFillSync } from 'node:crypto'
import { Readable } from 'node:stream'
import { settle } from '../helpers/gateway.js'
import { rawSocket, readUntil, startOrigin, startProxy, type Echo } from '../helpers/http-origin.js'

const MiB = 1024 * 1024
const TOTAL = 100 * MiB
const CHUNK = 256 * 1024

/** A stream of `total` random bytes; `digest()` is their SHA-256 once it ended. */
function generated(total: number): { stream: Readable; digest(): string } {
  const h = createHash('sha256')
  let left = total
  const stream = new Readable({
    read() {
      if (left === 0) return void this.push(null)
      const b = randomFillSync(Buffer.allocUnsafe(Math.min(CHUNK, left)))
      left -= b.length
      h.update(b)
      this.push(b)
    },
  })
  return { stream, digest: () => h.digest('hex') }
}

t.test('100 MiB upload, chunked, through the proxy: hash matches', async (t) => {
  const origin = await startOrigin(t)
  const proxy = await startProxy(t)
  const gen = generated(TOTAL)
  const echo = await new Promise<Echo>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: proxy.port, method: 'POST', path: `${origin.url}/up`, headers: { Host: 'x' } }, (res) => {
      let b = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (b += d))
      res.on('end', () => resolve(JSON.parse(b) as Echo))
    })
    req.on('error', reject)
    gen.stream.pipe(req)
  })
  t.equal(echo.bodyBytes, TOTAL)
  t.equal(echo.sha256, gen.digest(), 'SHA-256 of what the origin got equals what was sent')
  const recs = await settle(proxy.gw)
  t.ok(recs[0].bytesUp > TOTAL, 'ledger counted the upload (plus chunk framing and head)')
})

t.test('100 MiB download with Content-Length through the proxy: hash matches', async (t) => {
  let sent = ''
  const origin = await startOrigin(t, (_req, res) => {
    const gen = generated(TOTAL)
    res.writeHead(200, { 'Content-Length': String(TOTAL) })
    gen.stream.pipe(res)
    gen.stream.on('end', () => (sent = gen.digest()))
  })
  const proxy = await startProxy(t)
  const got = await new Promise<{ n: number; sha: string }>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: proxy.port, path: `${origin.url}/down`, headers: { Host: 'x' } }, (res) => {
      const h = createHash('sha256')
      let n = 0
      res.on('data', (d: Buffer) => {
        n += d.length
        h.update(d)
      })
      res.on('end', () => resolve({ n, sha: h.digest('hex') }))
    })
    req.on('error', reject)
    req.end()
  })
  t.equal(got.n, TOTAL)
  t.equal(got.sha, sent)
  const recs = await settle(proxy.gw)
  t.ok(recs[0].bytesDown > TOTAL && recs[0].bytesDown < TOTAL + 4096, 'ledger counted the download')
})

t.test('100 MiB each way through a CONNECT tunnel: hashes match', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    const h = createHash('sha256')
    req.on('data', (d: Buffer) => h.update(d))
    req.on('end', () => {
      const upSha = h.digest('hex')
      const gen = generated(TOTAL)
      res.writeHead(200, { 'Content-Length': String(TOTAL), 'X-Up-Sha': upSha })
      gen.stream.pipe(res)
      origin.server.emit('down-sha', gen)
    })
  })
  let downGen: { digest(): string } | undefined
  origin.server.on('down-sha', (g: { digest(): string }) => (downGen = g))
  const proxy = await startProxy(t)
  const s = await rawSocket(proxy.port)
  t.teardown(() => s.destroy())
  s.write(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`)
  const est = await readUntil(s, (x) => x.includes('\r\n\r\n'))
  t.match(est, /^HTTP\/1\.1 200 /)
  const up = generated(TOTAL)
  s.write(`PUT / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${TOTAL}\r\nConnection: close\r\n\r\n`)
  up.stream.pipe(s, { end: false })
  // read the response head, then hash the body
  const result = await new Promise<{ upSha: string; n: number; sha: string }>((resolve) => {
    let head = Buffer.alloc(0)
    let upSha = ''
    let n = 0
    const h = createHash('sha256')
    s.on('data', (d: Buffer) => {
      if (!upSha) {
        head = Buffer.concat([head, d])
        const i = head.indexOf('\r\n\r\n')
        if (i < 0) return
        upSha = /x-up-sha: ([0-9a-f]+)/i.exec(head.subarray(0, i).toString())?.[1] ?? '?'
        d = head.subarray(i + 4)
      }
      n += d.length
      h.update(d)
      if (n >= TOTAL) resolve({ upSha, n, sha: h.digest('hex') })
    })
  })
  t.equal(result.upSha, up.digest(), 'upload hash matches')
  t.equal(result.n, TOTAL)
  t.equal(result.sha, downGen?.digest(), 'download hash matches')
  const sentUp = s.bytesWritten
  const gotDown = s.bytesRead
  s.end()
  const recs = await settle(proxy.gw, 5000)
  const rec = recs.find((r) => r.protocol === 'connect')
  t.equal(rec?.bytesUp, sentUp, 'ledger bytesUp = bytes the client wrote')
  t.equal(rec?.bytesDown, gotDown, 'ledger bytesDown = bytes the client read')
})

for (const mode of ['plain', 'connect'] as const) {
  t.test(`slow reader (${mode}): the origin is held back, memory does not grow with the body`, async (t) => {
    let written = 0
    const origin = await startOrigin(t, (_req, res) => {
      res.writeHead(200, { 'Content-Length': String(TOTAL) })
      const buf = Buffer.alloc(64 * 1024, 120)
      const pump = () => {
        while (written < TOTAL) {
          written += buf.length
          if (!res.write(buf)) return void res.once('drain', pump)
        }
        res.end()
      }
      pump()
    })
    const proxy = await startProxy(t)
    const s = await rawSocket(proxy.port)
    t.teardown(() => s.destroy())
    if (mode === 'connect') {
      s.write(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: x\r\n\r\n`)
      await readUntil(s, (x) => x.includes('\r\n\r\n'))
      s.write(`GET / HTTP/1.1\r\nHost: x\r\n\r\n`)
    } else s.write(`GET ${origin.url}/ HTTP/1.1\r\nHost: x\r\n\r\n`)
    const rss0 = process.memoryUsage().rss
    s.pause()
    let read = 0
    // read 64 KiB every 20 ms for 2 s: about 6 MiB, while the origin would send 100 MiB at once
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 20))
      let c: Buffer | null
      let got = 0
      while (got < 64 * 1024 && (c = s.read()) !== null) got += c.length
      read += got
    }
    const ahead = written - read
    t.ok(read > 0, `the client read ${(read / MiB).toFixed(1)} MiB`)
    t.ok(ahead < 24 * MiB, `the origin is at most socket and stream buffers ahead (${(ahead / MiB).toFixed(1)} MiB)`)
    t.ok(written < TOTAL / 2, `the origin could not push the whole body (${(written / MiB).toFixed(1)} MiB written)`)
    const grew = (process.memoryUsage().rss - rss0) / MiB
    t.ok(grew < 64, `memory grew ${grew.toFixed(1)} MiB, not by the body size`)
  })
}

t.test('ledger bytes of keep-alive requests add up to what crossed the client socket', async (t) => {
  const origin = await startOrigin(t)
  const proxy = await startProxy(t)
  const s = await rawSocket(proxy.port)
  const localPort = s.localPort
  for (let i = 0; i < 3; i++) {
    const body = 'b'.repeat(100 * (i + 1))
    s.write(`POST ${origin.url}/${i} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`)
    await readUntil(s, (x) => x.includes(`"url":"/${i}"`) && x.endsWith('}'))
  }
  // a tunnel on the same connection after the plain requests
  s.write(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: x\r\n\r\n`)
  await readUntil(s, (x) => x.includes('\r\n\r\n'))
  s.write('GET /in HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  await readUntil(s, () => false)
  const up = s.bytesWritten
  const down = s.bytesRead
  const recs = (await settle(proxy.gw)).filter((r) => r.client.endsWith(`:${localPort}`))
  t.equal(recs.length, 4, 'three requests and one tunnel')
  t.equal(recs.reduce((a, r) => a + r.bytesUp, 0), up, 'sum of bytesUp = bytes written by the client')
  t.equal(recs.reduce((a, r) => a + r.bytesDown, 0), down, 'sum of bytesDown = bytes read by the client')
  const firstReq = recs.find((r) => r.target?.endsWith('/0'))
  t.ok(firstReq && firstReq.bytesUp > 100 && firstReq.bytesUp < 300, 'the first request counts its own head and body')
})
