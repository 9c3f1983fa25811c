/**
 * The forward tunnels' splice (modes/forward/splice.ts) on its own, with real sockets on 127.0.0.1 and a
 * ManualClock for the idle check and the close-both grace:
 *
 *   app --- [client  splice  target] --- far
 *
 * `client` is accepted by a listener (as the proxies accept theirs: client-to-target bytes go through
 * pooled reads), `target` is dialled with a ReadPump's `onread` (target-to-client bytes go through it), or
 * without one (pipe). Each test checks the outcome, that it arrives only once both sockets are closed, and
 * that no timer is left on the clock.
 */
import t, { type Test } from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { ManualClock } from '../../src/core/clock.js'
import { userBufferReads } from '../../src/core/user-buffer.js'
import { ReadPump } from '../../modes/forward/http/read-pump.js'
import { GRACE_MS, splice, type OnEnd, type SpliceHandle, type SpliceOutcome } from '../../modes/forward/splice.js'

interface Seen {
  chunks: Buffer[]
  ended: boolean
  closed: boolean
  text(): string
}

function watch(s: Socket): Seen {
  const seen: Seen = { chunks: [], ended: false, closed: false, text: () => Buffer.concat(seen.chunks).toString() }
  s.on('data', (d: Buffer) => seen.chunks.push(d))
  s.on('end', () => (seen.ended = true))
  s.on('close', () => (seen.closed = true))
  return seen
}

/** Poll `pred` every 5 ms; false after `ms`. */
async function until(pred: () => boolean, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms
  while (!pred()) {
    if (Date.now() > end) return false
    await new Promise((r) => setTimeout(r, 5))
  }
  return true
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Rig {
  clock: ManualClock
  /** The test's client end (talks to `client`). */
  app: Socket
  /** Accepted by the "proxy": the splice's client side. */
  client: Socket
  /** Dialled by the "proxy": the splice's target side. */
  target: Socket
  /** The target server's end (talks to `target`). */
  far: Socket
  pump: ReadPump | undefined
  handle: SpliceHandle
  /** How many times `done` settled, and with what. */
  outcomes: SpliceOutcome[]
}

async function listen(t: Test, server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => server.close())
  return (server.address() as AddressInfo).port
}

function accepted(server: Server): Promise<Socket> {
  return new Promise((r) => server.once('connection', r))
}

async function rig(t: Test, opts: { onEnd: OnEnd; idleTimeoutMs?: number; pump?: boolean }): Promise<Rig> {
  const clock = new ManualClock()
  // the HTTP proxy's listener is allowHalfOpen too (node:http); targets are dialled with the default
  const front = createServer({ allowHalfOpen: true })
  const back = createServer({ allowHalfOpen: true })
  const frontPort = await listen(t, front)
  const backPort = await listen(t, back)

  const gotClient = accepted(front)
  const app = connect({ host: '127.0.0.1', port: frontPort, allowHalfOpen: true })
  const client = await gotClient

  const gotFar = accepted(back)
  const pump = opts.pump === false ? undefined : new ReadPump()
  const target = connect({ host: '127.0.0.1', port: backPort, ...(pump ? { onread: pump.onread } : {}) })
  await new Promise((r) => target.once('connect', r))
  const far = await gotFar
  for (const s of [app, client, target, far]) s.on('error', () => undefined)
  t.teardown(() => {
    for (const s of [app, client, target, far]) s.destroy()
  })

  const handle = splice(client, target, { onEnd: opts.onEnd, clock, idleTimeoutMs: opts.idleTimeoutMs ?? 0, what: `127.0.0.1:${backPort}`, pump })
  const outcomes: SpliceOutcome[] = []
  void handle.done.then((o) => outcomes.push(o))
  return { clock, app, client, target, far, pump, handle, outcomes }
}

/** Wait for the outcome; check it came once, after both sockets closed, with no timer left behind. */
async function outcome(t: Test, r: Rig, ms = 3000): Promise<SpliceOutcome> {
  const o = await Promise.race([r.handle.done, sleep(ms).then(() => undefined)])
  if (!o) throw new Error(`no outcome within ${ms} ms`)
  await sleep(20)
  t.equal(r.outcomes.length, 1, 'the outcome arrives once')
  t.ok(r.client.destroyed && r.target.destroyed, 'both sockets are closed when it arrives')
  t.equal(r.clock.pending, 0, 'no timer left on the clock')
  return o
}

t.test('bytes go both ways, whole and in order: pooled reads one way, the ReadPump (or pipe) the other', async (t) => {
  for (const withPump of [true, false]) {
    const r = await rig(t, { onEnd: 'half-open', pump: withPump })
    t.ok(userBufferReads(r.client), 'the client socket can read into pooled buffers')
    const up = randomBytes(3 * 1024 * 1024 + 7)
    const down = randomBytes(2 * 1024 * 1024 + 11)
    const atFar = watch(r.far)
    const atApp = watch(r.app)
    r.app.end(up)
    r.far.end(down)
    t.ok(await until(() => atFar.ended && atApp.ended, 10_000), 'both directions delivered their FIN')
    const hash = (b: Buffer) => createHash('sha256').update(b).digest('hex')
    t.equal(hash(Buffer.concat(atFar.chunks)), hash(up), 'client-to-target bytes whole and in order')
    t.equal(hash(Buffer.concat(atApp.chunks)), hash(down), 'target-to-client bytes whole and in order')
    if (withPump) t.ok(r.pump?.used, 'target-to-client went through the pump')
    const o = await outcome(t, r)
    t.match(o.reason, /^(client_closed|target_closed)$/, `closed by a FIN (${o.reason})`)
  }
})

t.test("close-both: the target's FIN ends the client; the client is destroyed after the grace even if it never closes", async (t) => {
  const r = await rig(t, { onEnd: 'close-both' })
  const atApp = watch(r.app)
  r.far.end('bye')
  t.ok(await until(() => atApp.ended), 'the client got what the target sent, then FIN')
  t.equal(atApp.text(), 'bye')
  // the app never ends its side
  await sleep(50)
  r.clock.tick(GRACE_MS - 1)
  await sleep(50)
  t.notOk(r.client.destroyed, 'the client socket is still open during the grace')
  t.equal(r.outcomes.length, 0, 'no outcome yet')
  r.clock.tick(1)
  const o = await outcome(t, r)
  t.same(o, { reason: 'target_closed' })
})

t.test("close-both: the client's FIN ends the target; both are destroyed after the grace even if the target never closes", async (t) => {
  const r = await rig(t, { onEnd: 'close-both' })
  const atFar = watch(r.far)
  const atApp = watch(r.app)
  r.app.end('last words')
  t.ok(await until(() => atFar.ended), 'the target got what the client sent, then FIN')
  t.equal(atFar.text(), 'last words')
  // the target keeps its side open (and still talks): the grace is the only thing that ends it
  r.far.write('late')
  t.ok(await until(() => atApp.text() === 'late'), 'during the grace, what the target still sends is delivered')
  r.clock.tick(GRACE_MS - 1)
  await sleep(50)
  t.notOk(r.target.destroyed, 'the target socket is still open during the grace')
  r.clock.tick(1)
  const o = await outcome(t, r)
  t.same(o, { reason: 'client_closed' })
  t.ok(await until(() => atFar.closed || r.far.readableEnded), 'the target server saw the tunnel go')
})

t.test('half-open: after one side FIN, bytes still flow the other way; both FIN close both', async (t) => {
  for (const first of ['client', 'target'] as const) {
    const r = await rig(t, { onEnd: 'half-open', idleTimeoutMs: 0 })
    const atFar = watch(r.far)
    const atApp = watch(r.app)
    const [finisher, finished, other, otherSeen] = first === 'client' ? [r.app, atFar, r.far, atApp] : [r.far, atApp, r.app, atFar]
    finisher.end('one')
    t.ok(await until(() => finished.ended), `${first} FIN passed on`)
    // long past any grace: half-open has none
    r.clock.tick(10 * GRACE_MS)
    await sleep(50)
    for (let i = 0; i < 3; i++) other.write(`more${i};`)
    t.ok(await until(() => otherSeen.text() === 'more0;more1;more2;'), `the ${first === 'client' ? 'target' : 'client'} still reaches the side that sent FIN`)
    t.notOk(r.client.destroyed || r.target.destroyed, 'nothing closed while one direction is open')
    other.end()
    const o = await outcome(t, r)
    t.same(o, { reason: first === 'client' ? 'client_closed' : 'target_closed' }, 'the first FIN names the reason')
  }
})

t.test('an abrupt reset on either side destroys the other at once, for both close rules', async (t) => {
  for (const onEnd of ['close-both', 'half-open'] as const) {
    {
      const r = await rig(t, { onEnd })
      const atFar = watch(r.far)
      r.app.write('x')
      t.ok(await until(() => atFar.text() === 'x'))
      r.app.resetAndDestroy()
      t.ok(await until(() => atFar.closed || atFar.ended), `${onEnd}: the target side is closed without any grace`)
      const o = await outcome(t, r)
      t.equal(o.reason, 'client_closed')
      t.match(o.detail, /^client: ECONNRESET$/, 'the client error as detail')
    }
    {
      const r = await rig(t, { onEnd })
      const atApp = watch(r.app)
      r.far.write('y')
      t.ok(await until(() => atApp.text() === 'y'))
      r.far.resetAndDestroy()
      t.ok(await until(() => atApp.closed || atApp.ended), `${onEnd}: the client side is closed without any grace`)
      const o = await outcome(t, r)
      t.equal(o.reason, 'VIADUCT_ERR_TARGET_RESET', 'a target error mapped with mapDialError')
      t.match(o.detail, /^127\.0\.0\.1:\d+: connection reset$/, 'its detail names the target')
    }
  }
})

t.test('the idle timeout fires only when no byte moved either way for idleTimeoutMs', async (t) => {
  for (const onEnd of ['close-both', 'half-open'] as const) {
    const r = await rig(t, { onEnd, idleTimeoutMs: 1000 })
    const atFar = watch(r.far)
    const atApp = watch(r.app)
    // traffic in every period, alternating directions (pooled reads one way, the pump the other)
    for (let i = 0; i < 6; i++) {
      if (i % 2 === 0) {
        r.app.write('u')
        t.ok(await until(() => atFar.text().length === i / 2 + 1))
      } else {
        r.far.write('d')
        t.ok(await until(() => atApp.text().length === (i + 1) / 2))
      }
      r.clock.tick(1000)
      await sleep(10)
      t.notOk(r.client.destroyed || r.target.destroyed, `${onEnd}: open after period ${i + 1} with traffic`)
    }
    // a period without traffic
    r.clock.tick(1000)
    const o = await outcome(t, r)
    t.same(o, { reason: 'VIADUCT_ERR_SESSION_IDLE', detail: 'no traffic for 1000 ms' })
    t.ok(await until(() => atApp.closed || atApp.ended) && (await until(() => atFar.closed || atFar.ended)), 'both ends see the tunnel close')
  }
})

t.test('idleTimeoutMs 0 puts no timer on the clock', async (t) => {
  const r = await rig(t, { onEnd: 'half-open', idleTimeoutMs: 0 })
  t.equal(r.clock.pending, 0)
  r.clock.tick(3_600_000)
  await sleep(20)
  t.notOk(r.client.destroyed || r.target.destroyed, 'still open an hour later')
  r.handle.destroy('shutdown')
  await outcome(t, r)
})

t.test('destroy(reason) closes both and gives its reason once; later causes do not replace it', async (t) => {
  const r = await rig(t, { onEnd: 'close-both', idleTimeoutMs: 1000 })
  const atApp = watch(r.app)
  const atFar = watch(r.far)
  r.handle.destroy('shutdown', 'gateway stopping')
  r.handle.destroy('other')
  const o = await outcome(t, r)
  t.same(o, { reason: 'shutdown', detail: 'gateway stopping' })
  t.ok(await until(() => (atApp.closed || atApp.ended) && (atFar.closed || atFar.ended)), 'both ends see the tunnel close')
  r.handle.destroy('late')
  r.clock.tick(10_000)
  await sleep(20)
  t.equal(r.outcomes.length, 1, 'still one outcome')
  t.same(await r.handle.done, { reason: 'shutdown', detail: 'gateway stopping' })
})

t.test('the first cause wins: a FIN, then a reset, still reports the FIN', async (t) => {
  const r = await rig(t, { onEnd: 'half-open' })
  const atApp = watch(r.app)
  r.far.end()
  t.ok(await until(() => atApp.ended))
  r.app.resetAndDestroy()
  const o = await outcome(t, r)
  t.same(o, { reason: 'target_closed' })
})

/**
 * Write up to `total` bytes to `s` while it accepts them; stop when it has not drained for `stallMs`.
 * Returns the bytes written and the hash of exactly those bytes.
 */
async function writeUntilStalled(s: Socket, total: number, stallMs: number): Promise<{ written: number; data: Buffer[] }> {
  const chunk = 64 * 1024
  const data: Buffer[] = []
  let written = 0
  while (written < total) {
    const b = randomBytes(Math.min(chunk, total - written))
    data.push(b)
    written += b.length
    if (!s.write(b)) {
      const drained = await Promise.race([new Promise((r) => s.once('drain', () => r(true))), sleep(stallMs).then(() => false)])
      if (!drained) break
    }
  }
  return { written, data }
}

t.test('backpressure: a reader that does not read holds the writer back; bytes in flight stay bounded', async (t) => {
  const LOAD = 48 * 1024 * 1024
  // kernel socket buffers on the path (sender, splice both sides, reader) are at most a few MiB each here
  const IN_FLIGHT_BOUND = 16 * 1024 * 1024
  for (const dir of ['client-to-target', 'target-to-client'] as const) {
    const r = await rig(t, { onEnd: 'half-open' })
    const [writer, reader, out] = dir === 'client-to-target' ? [r.app, r.far, r.target] : [r.far, r.app, r.client]
    reader.pause()
    let maxQueued = 0
    const sample = setInterval(() => (maxQueued = Math.max(maxQueued, out.writableLength)), 2)
    const { written, data } = await writeUntilStalled(writer, LOAD, 500)
    clearInterval(sample)
    t.ok(written < LOAD, `${dir}: the writer stalled (${(written / 2 ** 20).toFixed(1)} MiB of ${LOAD / 2 ** 20} accepted)`)
    t.ok(written <= IN_FLIGHT_BOUND, `${dir}: in flight ${(written / 2 ** 20).toFixed(1)} MiB ≤ ${IN_FLIGHT_BOUND / 2 ** 20} MiB`)
    t.ok(maxQueued <= 1024 * 1024, `${dir}: the splice queued at most ${(maxQueued / 1024).toFixed(0)} KiB in user space`)
    // let the reader go: everything written arrives, in order
    const got = createHash('sha256')
    let n = 0
    reader.on('data', (d: Buffer) => {
      got.update(d)
      n += d.length
    })
    reader.resume()
    writer.end()
    t.ok(await until(() => n === written, 10_000), `${dir}: all ${written} bytes arrive once the reader reads`)
    const want = createHash('sha256')
    for (const b of data) want.update(b)
    t.equal(got.digest('hex'), want.digest('hex'), `${dir}: whole and in order`)
    r.handle.destroy('shutdown')
    await outcome(t, r)
  }
})
