/**
 * Start a real gateway in-process on 127.0.0.1 with port 0 for every listener that a test turns on
 * (everything else off), and close it in teardown.
 */
import { Gateway } from '../../src/gateway.js'
import { validateConfig } from '../../src/config/load.js'
import { Ledger } from '../../src/core/ledger.js'
import { silentLogger, createLogger, type Logger } from '../../src/core/log.js'
import type { Clock } from '../../src/core/clock.js'
import type { ExtensionFactory } from '../../src/gateway.js'
import { modes } from '../../modes/index.js'

/** Every listener off; tests switch on what they need ("127.0.0.1:0"). */
export const ALL_OFF = {
  admin: { listen: 'off' },
  forward: { http: { listen: 'off' }, socks: { listen: 'off' }, mixed: { listen: 'off' } },
  relay: { pairing: { listen: 'off' }, turn: { listen: 'off' } },
}

type Obj = Record<string, unknown>

export function merge(a: Obj, b: Obj): Obj {
  const out: Obj = { ...a }
  for (const [k, v] of Object.entries(b)) {
    const p = out[k]
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && p && typeof p === 'object' && !Array.isArray(p) ? merge(p as Obj, v as Obj) : v
  }
  return out
}

export interface TestGatewayOptions {
  clock?: Clock
  log?: Logger
  extensions?: ExtensionFactory[]
  /** Set VIADUCT_TEST_LOG=debug to see the gateway's logs while a test runs. */
}

interface Teardown {
  teardown(fn: () => unknown): void
}

/** Start a gateway with ALL_OFF merged with `config`; closes (destroys) it at teardown. */
export async function startGateway(t: Teardown, config: Obj, opts: TestGatewayOptions = {}): Promise<Gateway> {
  const cfg = validateConfig(modes, merge(ALL_OFF, config))
  const level = process.env.VIADUCT_TEST_LOG
  const log = opts.log ?? (level ? createLogger({ level: level as 'debug', pretty: false, destination: process.stderr }) : silentLogger())
  const gw = new Gateway({ modes, config: cfg, log, clock: opts.clock, ledger: opts.clock ? new Ledger({ clock: opts.clock, sampleIntervalMs: 0 }) : undefined, extensions: opts.extensions })
  await gw.start()
  t.teardown(() => gw.destroy())
  return gw
}

/** "127.0.0.1:PORT" of a gateway listener. */
export function addr(gw: Gateway, listener: string): { host: string; port: number; url: string } {
  const l = gw.address(listener)
  if (!l) throw new Error(`no listener "${listener}" (have: ${gw.addresses().map((a) => a.listener).join(', ')})`)
  return { host: l.address, port: l.port, url: `${l.address.includes(':') ? `[${l.address}]` : l.address}:${l.port}` }
}

/** Wait until the ledger has no live session (or the timeout passes), then return the recent records. */
export async function settle(gw: Gateway, ms = 2000) {
  const deadline = Date.now() + ms
  while (gw.ledger.liveCount > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  return gw.ledger.recent()
}
