/**
 * The gateway: one core (ledger, log, clock) and the configured modes over it.
 *
 * start() listens every mode (if one fails, the others are destroyed and the error is thrown);
 * close() stops accepting, lets live sessions finish up to the drain timeout, then destroys what is
 * left with reason "shutdown"; destroy() ends everything now. Each is safe to call twice.
 */
import type { Clock } from './core/clock.js'
import { systemClock } from './core/clock.js'
import { Ledger } from './core/ledger.js'
import { Faults } from './core/faults.js'
import { logLedger, silentLogger, type Logger } from './core/log.js'
import { SelfAddresses } from './core/self.js'
import type { ListenerInfo } from './core/service.js'
import { once } from './core/service.js'
import type { Core, Mode, ModeDefinition } from './mode.js'
import type { ViaductConfig } from './config/schema.js'

/** Something else the gateway runs beside the modes (the admin server), built from the core. */
export interface Extension {
  readonly name: string
  listen(): Promise<ListenerInfo[]>
  close(): Promise<void>
}

export type ExtensionFactory = (gateway: Gateway) => Extension | null

export interface GatewayOptions {
  modes: readonly ModeDefinition[]
  config: Readonly<ViaductConfig>
  log?: Logger
  clock?: Clock
  ledger?: Ledger
  /** Extra services (admin server) created after the modes; each may return null when disabled. */
  extensions?: readonly ExtensionFactory[]
}

export class Gateway {
  readonly core: Core
  readonly config: Readonly<ViaductConfig>
  readonly modes: Mode[] = []
  readonly definitions: readonly ModeDefinition[]
  private readonly extensions: Extension[] = []
  private listeners: ListenerInfo[] = []
  private readonly unlog: () => void
  private state: 'new' | 'listening' | 'closing' | 'closed' = 'new'

  constructor(private readonly opts: GatewayOptions) {
    const clock = opts.clock ?? systemClock
    const log = opts.log ?? silentLogger()
    const ledger = opts.ledger ?? new Ledger({ clock, historySize: opts.config.ledger.historySize, faults: new Faults(log) })
    ledger.faults.setLogger(log)
    this.core = { ledger, log, clock, self: new SelfAddresses(), faults: ledger.faults }
    this.config = opts.config
    this.definitions = opts.modes
    this.unlog = logLedger(ledger, log)
  }

  get ledger(): Ledger {
    return this.core.ledger
  }

  get log(): Logger {
    return this.core.log
  }

  /** 'new', 'listening' (every mode listens), 'closing' (draining) or 'closed': the admin's /readyz. */
  get phase(): 'new' | 'listening' | 'closing' | 'closed' {
    return this.state
  }

  /** Every address the gateway listens on (after start). */
  addresses(): readonly ListenerInfo[] {
    return this.listeners
  }

  /** The first listener with this label ("http", "socks", "turn-udp", "admin", ...). */
  address(listener: string): ListenerInfo | undefined {
    return this.listeners.find((l) => l.listener === listener)
  }

  async start(): Promise<ListenerInfo[]> {
    if (this.state !== 'new') throw new Error('gateway already started')
    this.state = 'listening'
    try {
      for (const def of this.definitions) {
        const section = this.config[def.name]
        const mode = def.create({ ...this.core, log: this.core.log.child({ mode: def.name }) }, section)
        this.modes.push(mode)
        const got = await mode.listen()
        this.listeners.push(...got)
        this.core.self.add(got)
      }
      for (const factory of this.opts.extensions ?? []) {
        const ext = factory(this)
        if (!ext) continue
        this.extensions.push(ext)
        const got = await ext.listen()
        this.listeners.push(...got)
        this.core.self.add(got)
      }
    } catch (err) {
      await this.destroy(err as Error)
      throw err
    }
    for (const l of this.listeners) {
      this.log.info({ event: 'listen', mode: l.mode, listener: l.listener, transport: l.transport, address: l.address, port: l.port }, `${l.mode}/${l.listener} listening`)
    }
    return this.listeners
  }

  /** Graceful stop: stop accepting, drain up to `drainTimeoutMs`, then destroy the rest. */
  close = once(async (): Promise<void> => {
    if (this.state === 'closed') return
    this.state = 'closing'
    const drainMs = this.config.shutdown.drainTimeoutMs
    this.log.info({ event: 'shutdown', drainTimeoutMs: drainMs, live: this.ledger.liveCount }, 'stopping: draining live sessions')
    const graceful = Promise.all(this.modes.map((m) => m.close().catch((e) => this.log.error({ event: 'error', err: e }, 'mode close failed'))))
    let timer: ReturnType<Clock['setTimeout']> | undefined
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = this.core.clock.setTimeout(() => resolve('timeout'), drainMs)
    })
    const outcome = await Promise.race([graceful.then(() => 'drained' as const), timeout])
    this.core.clock.clearTimeout(timer)
    if (outcome === 'timeout') this.log.warn({ event: 'shutdown', live: this.ledger.liveCount }, 'drain timeout: closing live sessions')
    await this.destroy()
  })

  /** Immediate stop: every live session ends with reason "shutdown". */
  destroy = once(async (err?: Error): Promise<void> => {
    this.state = 'closing'
    await Promise.all(this.modes.map((m) => m.destroy(err).catch(() => undefined)))
    await Promise.all(this.extensions.map((e) => e.close().catch(() => undefined)))
    this.ledger.stop()
    this.unlog()
    this.state = 'closed'
  })
}
