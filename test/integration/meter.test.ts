/**
 * The socket meter on real sockets: bytes down are bytes handed to the kernel, not Node's queue, and the
 * count never goes backwards when a destroyed socket drops its queue (issue 16: node's own bytesWritten
 * falls by the queued amount at close).
 */
import t from 'tap'
import { createServer, connect, type Socket } from 'node:net'
import { socketMeter, sentBytes } from '../../src/core/meter.js'

async function pair(t: { teardown(fn: () => unknown): void }): Promise<{ writer: Socket; reader: Socket }> {
  const server = createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => server.close())
  const accepted = new Promise<Socket>((r) => server.once('connection', r))
  const writer = connect((server.address() as { port: number }).port, '127.0.0.1')
  await new Promise((r) => writer.once('connect', r))
  const reader = await accepted
  reader.pause() // never reads: the writer's queue fills
  t.teardown(() => {
    writer.destroy()
    reader.destroy()
  })
  return { writer, reader }
}

t.test('a writer whose peer never reads: the meter counts what left Node, and never decreases', async (t) => {
  const { writer } = await pair(t)
  const m = socketMeter(writer, 'client')
  const chunk = Buffer.alloc(1 << 20)
  for (let i = 0; i < 16; i++) writer.write(chunk)
  await new Promise((r) => setTimeout(r, 200))
  const queued = writer.writableLength
  t.ok(queued > 0, `bytes are still queued in Node (${queued})`)
  const before = m.down()
  t.ok(before > 0 && before <= 16 * (1 << 20) - queued, `counted ${before}: no more than what left the queue`)
  t.ok(writer.bytesWritten > before, "node's bytesWritten counts the queue as well")
  const seen: number[] = [before]
  writer.on('close', () => seen.push(m.down()))
  writer.resetAndDestroy()
  seen.push(m.down())
  await new Promise((r) => writer.once('close', r))
  t.ok(writer.bytesWritten < 16 * (1 << 20), `after the reset node's bytesWritten fell to ${writer.bytesWritten}`)
  m.freeze()
  seen.push(m.down())
  for (let i = 1; i < seen.length; i++) t.ok(seen[i] >= seen[i - 1], `reading ${i} (${seen[i]}) >= reading ${i - 1} (${seen[i - 1]})`)
  t.ok(sentBytes(writer) >= 0)
})

t.test('a reader that drains everything: the count is exact once the queue is empty', async (t) => {
  const { writer, reader } = await pair(t)
  const m = socketMeter(writer, 'client')
  let got = 0
  reader.on('data', (d: Buffer) => (got += d.length))
  reader.resume()
  const total = 3 * (1 << 20) + 17
  writer.end(Buffer.alloc(total))
  await new Promise((r) => reader.once('end', r))
  t.equal(got, total)
  t.equal(m.down(), total, 'bytes down equal what the reader received')
})
