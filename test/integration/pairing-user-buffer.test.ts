/**
 * The pairing relay's pooled reads (src/core/user-buffer.ts) on real loopback sockets: this node
 * supports them (else the relay silently falls back to 'data' events and twice the CPU per GiB), bytes that
 * arrived before the switch come first and in order, buffers are reused only after release, and a paused
 * socket stops reading.
 */
import t, { type Test } from 'tap'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import { once } from 'node:events'
import { createHash, randomBytes } from 'node:crypto'
import { readIntoPool, userBufferReads } from '../../src/core/user-buffer.js'

async function socketPair(t: Test): Promise<[Socket, Socket]> {
  const server = createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const accepted = once(server, 'connection') as Promise<[Socket]>
  const a = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port })
  const connected = once(a, 'connect')
  const [b] = await accepted
  await connected
  server.close()
  t.teardown(() => {
    a.destroy()
    b.destroy()
  })
  return [a, b]
}

t.test('an accepted socket can read into pooled buffers; a WebSocket-like stream cannot', async (t) => {
  const [a, b] = await socketPair(t)
  t.ok(userBufferReads(b), 'accepted TCP socket')
  t.ok(userBufferReads(a), 'dialled TCP socket')
  const { PassThrough } = await import('node:stream')
  t.notOk(userBufferReads(new PassThrough()), 'a plain Duplex')
})

t.test('early bytes first, then pooled reads, all in order and intact; buffers reused after release', async (t) => {
  const [a, b] = await socketPair(t)
  b.pause()
  const early = randomBytes(1000)
  a.write(early)
  // let the early bytes land in the socket's own buffer (read by node, not yet emitted)
  await new Promise((r) => setTimeout(r, 50))
  const got: Buffer[] = []
  const seen = new Set<ArrayBufferLike>()
  let pooled = 0
  b.on('data', (c: Buffer) => got.push(Buffer.from(c)))
  readIntoPool(b, (chunk, release) => {
    pooled++
    seen.add(chunk.buffer)
    got.push(Buffer.from(chunk)) // a copy: the view is reused once released
    release()
  })
  b.resume()
  const body = randomBytes(8 * 1024 * 1024)
  const want = createHash('sha256').update(early).update(body).digest('hex')
  a.end(body)
  await once(b, 'end')
  const all = Buffer.concat(got)
  t.equal(all.length, early.length + body.length, 'every byte')
  t.equal(createHash('sha256').update(all).digest('hex'), want, 'in order')
  t.ok(pooled > 0, `${pooled} pooled reads`)
  t.ok(seen.size <= 4, `released buffers are reused (the pool grows 4 KiB -> 16 KiB -> 64 KiB) (${seen.size} distinct buffers for ${pooled} reads)`)
})

t.test('a paused socket stops reading; held buffers are not reused', async (t) => {
  const [a, b] = await socketPair(t)
  const held: Array<() => void> = []
  let bytes = 0
  readIntoPool(b, (chunk, release) => {
    bytes += chunk.length
    held.push(release)
    if (held.length >= 4) b.pause()
  })
  b.resume()
  const block = Buffer.alloc(64 * 1024, 1)
  let written = 0
  for (let i = 0; i < 400 && a.write(block); i++) written += block.length
  await new Promise((r) => setTimeout(r, 300))
  const first = bytes
  await new Promise((r) => setTimeout(r, 200))
  t.equal(bytes, first, 'no reads while paused')
  t.ok(first <= 4 * 64 * 1024, `read at most 4 buffers of at most 64 KiB (${first} bytes)`)
  for (const r of held.splice(0)) r()
  b.resume()
  await new Promise((r) => setTimeout(r, 100))
  t.ok(bytes > first || written <= first, 'reads again after resume')
})
