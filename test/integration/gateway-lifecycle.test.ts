/**
 * The gateway's lifecycle over a minimal echo mode with real sockets: start, drain on close (sessions
 * that end in time keep their own reason), drain timeout (the rest end with "shutdown"), close/destroy
 * twice, and a failed start that closes what it opened. The clock is the only mock.
 */
import t, { type Test } from 'tap'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { once as onceEvent } from 'node:events'
import { z } from 'zod'
import { Gateway } from '../../src/gateway.js'
import { validateConfig } from '../../src/config/load.js'
import { ManualClock } from '../../src/core/clock.js'
import { Ledger, CloseReason } from '../../src/core/ledger.js'
import { silentLogger } from '../../src/core/log.js'
import { ConnectionSet, listenTcp, once, remoteOf, stopAccepting, type ListenerInfo } from '../../src/core/service.js'
import { CoreErrors } from '../../src/core/errors.js'
import type { Core, Mode, ModeDefinition } from '../../src/mode.js'

/** Echoes; one ledger session per connection; closes with client_closed when the client ends. */
class EchoMode implements Mode {
  readonly name = 'echo'
  private readonly server: Server
  private readonly conns = new ConnectionSet()
  constructor(private readonly core: Core, private readonly cfg: { fail: boolean }) {
    this.server = createServer((sock) => this.onConnection(sock))
  }
  private onConnection(sock: Socket) {
    this.conns.add(sock)
    const s = this.core.ledger.open({ mode: 'echo', protocol: 'echo-tcp', client: remoteOf(sock), listener: 'echo' })
    s.track(sock)
    sock.on('data', (d) => sock.write(d))
    sock.on('end', () => sock.end())
    sock.on('error', () => undefined)
    sock.on('close', () => s.close(this.stopping ? CloseReason.SHUTDOWN : CloseReason.CLIENT_CLOSED))
  }
  private stopping = false
  async listen(): Promise<ListenerInfo[]> {
    if (this.cfg.fail) throw new Error('this mode always fails to listen')
    const a = await listenTcp(this.server, { host: '127.0.0.1', port: 0 })
    return [{ ...a, listener: 'echo', transport: 'tcp', mode: 'echo' }]
  }
  close = once(async () => {
    await stopAccepting(this.server)
    await this.conns.idle()
  })
  destroy = once(async () => {
    this.stopping = true
    await stopAccepting(this.server)
    this.conns.destroyAll()
    await this.conns.idle()
  })
  get listening() {
    return this.server.listening
  }
}

const made: EchoMode[] = []
function def(name: string): ModeDefinition<{ fail: boolean }> {
  return {
    name,
    summary: 'test echo',
    schema: z.strictObject({ fail: z.boolean().default(false) }).prefault({}),
    flags: [],
    create: (core, section) => {
      const m = new EchoMode(core, section)
      made.push(m)
      return m
    },
  }
}

function gateway(t: Test, raw: Record<string, unknown>, clock = new ManualClock()) {
  const modes = [def('echo'), def('echo2')]
  const config = validateConfig(modes, { admin: { listen: 'off' }, ...raw })
  const gw = new Gateway({ modes, config, clock, log: silentLogger(), ledger: new Ledger({ clock, sampleIntervalMs: 0 }) })
  t.teardown(() => gw.destroy())
  return { gw, clock }
}

async function client(port: number): Promise<Socket> {
  const c = connect(port, '127.0.0.1')
  await onceEvent(c, 'connect')
  return c
}

t.test('sessions that end within the drain timeout keep their own reason', async (t) => {
  const { gw } = gateway(t, { shutdown: { drainTimeoutMs: 5000 } })
  const ls = await gw.start()
  t.equal(ls.length, 2)
  t.ok(gw.address('echo')!.port > 0, 'listening on a real port')
  const c = await client(gw.address('echo')!.port)
  c.write('hello')
  await onceEvent(c, 'data')
  t.equal(gw.ledger.liveCount, 1)
  const closing = gw.close()
  // the listener stops accepting at once
  await new Promise((r) => setTimeout(r, 20))
  t.notOk(made.at(-2)!.listening, 'stopped accepting')
  c.end()
  await closing
  const [rec] = gw.ledger.recent()
  t.equal(rec.reason, CloseReason.CLIENT_CLOSED)
  t.equal(rec.bytesUp, 5)
  t.equal(rec.bytesDown, 5)
  await gw.close()
  await gw.destroy()
  t.pass('close and destroy are safe twice')
})

t.test('after the drain timeout, what is left ends with reason "shutdown"', async (t) => {
  const { gw, clock } = gateway(t, { shutdown: { drainTimeoutMs: 2000 } })
  await gw.start()
  const c = await client(gw.address('echo')!.port)
  c.on('error', () => undefined)
  const clientClosed = onceEvent(c, 'close')
  await new Promise((r) => setTimeout(r, 20))
  let done = false
  const closing = gw.close().then(() => (done = true))
  await new Promise((r) => setTimeout(r, 50))
  t.notOk(done, 'still draining before the timeout')
  t.equal(gw.ledger.liveCount, 1)
  clock.tick(2000)
  await closing
  await clientClosed
  const [rec] = gw.ledger.recent()
  t.equal(rec.reason, CloseReason.SHUTDOWN)
  t.equal(gw.ledger.liveCount, 0)
})

t.test('a failed start closes what it opened and rethrows', async (t) => {
  const { gw } = gateway(t, { echo2: { fail: true } })
  await t.rejects(gw.start(), /always fails/)
  t.notOk(made.at(-2)!.listening, 'the first mode was closed again')
})

t.test('a port in use is a LISTEN_IN_USE error', async (t) => {
  const srv = createServer()
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  t.teardown(() => srv.close())
  const port = (srv.address() as { port: number }).port
  await t.rejects(listenTcp(createServer(), { host: '127.0.0.1', port }), { code: CoreErrors.VIADUCT_ERR_LISTEN_IN_USE })
})
