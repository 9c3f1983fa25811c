/** Shared by the pairing tests (not a test file itself): a relay on 127.0.0.1:0 and tokens for it. */
import { startGateway, addr } from '../helpers/gateway.js'
import type { Gateway } from '../../src/gateway.js'
import type { Clock } from '../../src/core/clock.js'
import type { SessionRecord } from '../../src/core/ledger.js'
import { mintToken } from '../../modes/relay/pairing/token.js'
import { connectPeer, type PeerStream } from '../../modes/relay/pairing/client.js'

export const SECRET = 'test-secret-0123456789'

export interface Relay {
  gw: Gateway
  host: string
  port: number
  udpPort: number
  relay: string
  token(room: string, ttlS?: number): string
}

interface Teardown {
  teardown(fn: () => unknown): void
}

export async function startRelay(t: Teardown, pairing: Record<string, unknown> = {}, opts: { clock?: Clock } = {}): Promise<Relay> {
  const gw = await startGateway(t, { relay: { pairing: { listen: '127.0.0.1:0', secrets: [SECRET], ...pairing } } }, opts)
  const a = addr(gw, 'pairing-tcp')
  const u = gw.address('pairing-udp')
  const clock = opts.clock
  return {
    gw,
    host: a.host,
    port: a.port,
    udpPort: u?.port ?? 0,
    relay: a.url,
    token: (room, ttlS = 600) => mintToken({ secret: SECRET, room, ttlS, nowMs: clock ? clock.now() : Date.now() }),
  }
}

/** Poll until `fn` returns a truthy value (or throw after ms). */
export async function waitFor<T>(fn: () => T | undefined | false, ms = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = fn()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** The closed relay record whose reason is `reason` (waits for it). */
export function closedWith(gw: Gateway, reason: string, ms = 5000): Promise<SessionRecord> {
  return waitFor(() => gw.ledger.recent('relay').find((r) => r.reason === reason), ms, `a relay session closed with ${reason}`)
}

let roomSeq = 0
export function room(prefix = 'room'): string {
  return `${prefix}-${process.pid}-${++roomSeq}`
}

/** Connect two peers of one room (A first, waits; then B) and return both, with error handlers set. */
export async function pairUp(
  r: Relay,
  opts: { id?: string; a?: 'tcp' | 'ws'; b?: 'tcp' | 'ws' } = {},
): Promise<[PeerStream, PeerStream]> {
  const id = opts.id ?? room()
  const pa = connectPeer({ relay: r.relay, id, token: r.token(id), transport: opts.a ?? 'tcp' })
  await waitFor(() => r.gw.ledger.live('relay').some((x) => x.meta?.room === id), 5000, 'A waiting')
  const b = await connectPeer({ relay: r.relay, id, token: r.token(id), transport: opts.b ?? 'tcp' })
  const a = await pa
  a.on('error', () => undefined)
  b.on('error', () => undefined)
  return [a, b]
}
