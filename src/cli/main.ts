/**
 * The command line: `viaduct start`, `viaduct check-config FILE`, `--help`, `--version`, plus each
 * mode's own subcommands. Every failure is one clear line on stderr and a non-zero exit, never a stack
 * trace: 1 for runtime and configuration errors, 2 for usage errors.
 */
import { Command, CommanderError, Option } from 'commander'
import { readFileSync } from 'node:fs'
import { loadConfig, flagEnv } from '../config/load.js'
import { renderConfigReference } from '../config/doc.js'
import { createLogger, type Logger } from '../core/log.js'
import { CoreErrors, isViaductError, ViaductError } from '../core/errors.js'
import { formatHostPort, type ListenerInfo } from '../core/service.js'
import { Gateway, type ExtensionFactory } from '../gateway.js'
import type { CliIO, FlagSpec, ModeDefinition } from '../mode.js'
import type { ViaductConfig } from '../config/schema.js'

export const VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
    return pkg.version
  } catch {
    return '0.0.0'
  }
})()

/** Flags of `viaduct start` that belong to the core. */
export const CORE_FLAGS: FlagSpec[] = [
  { flags: '--log-level <level>', description: 'fatal, error, warn, info, debug, trace or silent', path: ['log', 'level'], kind: 'string' },
  { flags: '--log-pretty <bool>', description: 'one readable line per event (default: when stdout is a terminal)', path: ['log', 'pretty'], kind: 'boolean' },
  { flags: '--admin <addr>', description: 'admin API, metrics and dashboard: host:port, port, or off', path: ['admin', 'listen'], kind: 'string' },
  { flags: '--admin-token <token>', description: 'bearer token for the admin API (required off loopback)', path: ['admin', 'token'], kind: 'string' },
  { flags: '--drain-timeout <duration>', description: 'on SIGINT/SIGTERM, how long live sessions may finish ("10s", or milliseconds)', path: ['shutdown', 'drainTimeoutMs'], kind: 'string' },
]

export interface CliOptions {
  modes: readonly ModeDefinition[]
  /** Extra services the gateway runs (admin server). */
  extensions?: readonly ExtensionFactory[]
  /** Extra top-level commands that need the whole program (bench, demo). */
  commands?: Array<(program: Command, io: CliIO, ctx: CliContext) => void>
  io?: Partial<CliIO>
  env?: NodeJS.ProcessEnv
  /** Install SIGINT/SIGTERM handlers for `start` (the real binary does; tests in-process do not). */
  signals?: boolean
}

/** What extra commands may reuse: load config and start a gateway like `start` does. */
export interface CliContext {
  loadFromFlags(opts: Record<string, unknown>): Readonly<ViaductConfig>
  startGateway(config: Readonly<ViaductConfig>, log?: Logger): Promise<Gateway>
  coreFlags: FlagSpec[]
  modeFlags: FlagSpec[]
}

function collect(value: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), value]
}

/** Add a FlagSpec to a commander command. */
export function addFlag(cmd: Command, spec: FlagSpec): void {
  const opt = new Option(spec.flags, `${spec.description} [env ${flagEnv(spec)}]`)
  if (spec.kind === 'list') opt.argParser(collect)
  cmd.addOption(opt)
}

/** One line for a listener: "forward  http         tcp 127.0.0.1:8080". */
export function describeListener(l: ListenerInfo): string {
  return `${l.mode.padEnd(8)} ${l.listener.padEnd(12)} ${l.transport} ${formatHostPort(l.address, l.port)}`
}

export async function runCli(argv: string[], opts: CliOptions): Promise<number> {
  const io: CliIO = {
    stdout: opts.io?.stdout ?? process.stdout,
    stderr: opts.io?.stderr ?? process.stderr,
    stdin: opts.io?.stdin ?? process.stdin,
    setExitCode: (c) => {
      exitCode = c
    },
  }
  let exitCode = 0
  const env = opts.env ?? process.env
  const modeFlags = opts.modes.flatMap((m) => m.flags)
  const fail = (err: unknown, code = 1): number => {
    io.stderr.write(`viaduct: error: ${errorLine(err)}\n`)
    // a usage error exits 2 wherever it was found (commander's own, or a command's check)
    return isViaductError(err, CoreErrors.VIADUCT_ERR_CLI_USAGE) ? 2 : code
  }

  const ctx: CliContext = {
    coreFlags: CORE_FLAGS,
    modeFlags,
    loadFromFlags: (o) => loadConfig(opts.modes, { file: (o.config as string | undefined) ?? env.VIADUCT_CONFIG, env, flags: o }, CORE_FLAGS),
    startGateway: async (config, log) => {
      const gw = new Gateway({
        modes: opts.modes,
        config,
        log: log ?? createLogger({ level: config.log.level, pretty: config.log.pretty === 'auto' ? undefined : config.log.pretty }),
        extensions: opts.extensions,
      })
      await gw.start()
      return gw
    },
  }

  const program = new Command('viaduct')
  program
    .description('A forward proxy (HTTP, SOCKS) and a relay (pairing, STUN/TURN) side by side, sharing one ledger of sessions.')
    .version(VERSION, '-V, --version', 'print the version')
    .showHelpAfterError('(run "viaduct --help" for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s, write) => write(`viaduct: ${s.replace(/^error: /, 'error: ')}`),
    })

  let pending: Promise<number> | undefined

  const start = program
    .command('start')
    .description('start the gateway: every configured mode, each on its own listeners (defaults: all on loopback)')
    .option('-c, --config <file>', 'configuration file (JSON or YAML) [env VIADUCT_CONFIG]')
  for (const f of [...CORE_FLAGS, ...modeFlags]) addFlag(start, f)
  start.action((o: Record<string, unknown>) => {
    pending = (async () => {
      let gw: Gateway
      let config: Readonly<ViaductConfig> | undefined
      try {
        config = ctx.loadFromFlags(o)
        gw = await ctx.startGateway(config)
      } catch (err) {
        return fail(config ? nameListener(err, config, [...CORE_FLAGS, ...modeFlags]) : err)
      }
      const addrs = gw.addresses()
      io.stderr.write(`viaduct ${VERSION} listening on:\n${addrs.map((l) => `  ${describeListener(l)}`).join('\n')}\n`)
      if (addrs.length === 0) io.stderr.write('viaduct: warning: every listener is off; nothing to do\n')
      if (opts.signals) {
        const unguard = guardProcess(gw, io)
        await waitForSignals(gw, io)
        unguard()
      }
      return 0
    })()
  })

  program
    .command('check-config')
    .description('validate a configuration file (and flags/env) without starting')
    .argument('<file>', 'configuration file (JSON or YAML)')
    .action((file: string) => {
      pending = (async () => {
        try {
          const config = loadConfig(opts.modes, { file, env }, CORE_FLAGS)
          io.stdout.write(`ok: ${file} is valid\n`)
          for (const m of opts.modes) io.stdout.write(`  ${m.name}: ${summarize(config[m.name])}\n`)
          return 0
        } catch (err) {
          return fail(err)
        }
      })()
    })

  program
    .command('config-reference')
    .description('print the configuration reference (docs/configuration.md) generated from the schema')
    .action(() => {
      io.stdout.write(renderConfigReference(opts.modes, CORE_FLAGS))
    })

  for (const m of opts.modes) m.commands?.(program, io)
  for (const c of opts.commands ?? []) c(program, io, ctx)

  try {
    await program.parseAsync(argv, { from: 'user' })
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0
      return 2
    }
    return fail(err)
  }
  if (pending) {
    const code = await pending
    return exitCode || code
  }
  return exitCode
}

/** One line for an error: its message and, for a ViaductError, its code once. */
export function errorLine(err: unknown): string {
  if (!isViaductError(err)) return err instanceof Error ? err.message : String(err)
  // a refusal relayed from a server may already carry its code in the text
  return err.message.includes(`[${err.code}]`) ? err.message : `${err.message} [${err.code}]`
}

/**
 * A listener that cannot start: name the config key and the flag that set its address, so the line says
 * what to change ("127.0.0.1:8080 is already in use (forward.http.listen, --http)").
 */
function nameListener(err: unknown, config: Readonly<ViaductConfig>, flags: readonly FlagSpec[]): unknown {
  if (!isViaductError(err) || !err.code.startsWith('VIADUCT_ERR_LISTEN_') || !err.details) return err
  const { host, port } = err.details as { host?: string; port?: number }
  const keys: string[] = []
  const walk = (v: unknown, path: string[]) => {
    if (!v || typeof v !== 'object' || Array.isArray(v)) return
    const hp = v as { host?: unknown; port?: unknown }
    if (hp.host === host && hp.port === port) return void keys.push(path.join('.'))
    for (const [k, x] of Object.entries(v)) walk(x, [...path, k])
  }
  walk(config, [])
  if (keys.length === 0) return err
  const named = keys.map((k) => {
    const flag = flags.find((f) => f.path.join('.') === k)?.flags.split(/[ ,]/)[0]
    return flag ? `${k}, ${flag}` : k
  })
  const hint = err.code === CoreErrors.VIADUCT_ERR_LISTEN_IN_USE ? ': another program (or another listener of this gateway) holds it; choose another port or "off"' : ''
  return new ViaductError(err.code, `${err.message} (${named.join('; ')})${hint}`, { cause: err.cause, details: err.details })
}

function summarize(section: unknown): string {
  const addrs: string[] = []
  const walk = (v: unknown, path: string) => {
    if (v && typeof v === 'object' && 'host' in v && 'port' in v) addrs.push(`${path} ${formatHostPort(String((v as { host: string }).host), Number((v as { port: number }).port))}`)
    else if (v && typeof v === 'object' && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) walk(x, path ? `${path}.${k}` : k)
  }
  walk(section, '')
  return addrs.length ? addrs.join(', ') : 'no listeners'
}

/** Exit code after an uncaught exception (BSD sysexits EX_SOFTWARE: an internal software error). */
export const EXIT_INTERNAL_ERROR = 70
/** How long the sessions of a process that hit an uncaught exception get before it exits. */
export const CRASH_DRAIN_MS = 2000

/**
 * The last line of defence. Every boundary we know of catches its own faults (core/faults.ts); an
 * exception that still arrives here is a bug whose damage we cannot know, so the process does what
 * Squid's and nginx's workers do: say so once, loudly (one fatal line with the stack), end the sessions,
 * and exit 70 for the supervisor (systemd Restart=on-failure, or the primary of --workers) to restart it.
 * Never silent, never a half-working process.
 */
function guardProcess(gw: Gateway, io: CliIO): () => void {
  let crashed = false
  const onFatal = (err: unknown, origin: string) => {
    gw.core.faults.report('uncaught', err)
    if (crashed) return
    crashed = true
    try {
      gw.log.fatal({ event: 'crash', origin, err }, `uncaught ${origin}: closing every session and exiting ${EXIT_INTERNAL_ERROR}`)
    } catch {
      // the logger itself may be what failed
    }
    io.stderr.write(`viaduct: fatal: uncaught ${origin}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exitCode = EXIT_INTERNAL_ERROR
    const exit = () => {
      try {
        gw.log.flush()
      } finally {
        process.exit(EXIT_INTERNAL_ERROR)
      }
    }
    setTimeout(exit, CRASH_DRAIN_MS).unref()
    void gw.destroy().finally(exit)
  }
  const onException = (err: Error) => onFatal(err, 'exception')
  const onRejection = (err: unknown) => onFatal(err, 'rejection')
  process.on('uncaughtException', onException)
  process.on('unhandledRejection', onRejection)
  return () => {
    process.off('uncaughtException', onException)
    process.off('unhandledRejection', onRejection)
  }
}

function waitForSignals(gw: Gateway, io: CliIO): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopping) {
        io.stderr.write(`viaduct: ${sig} again: closing every session now\n`)
        void gw.destroy().then(resolve)
        return
      }
      stopping = true
      io.stderr.write(`viaduct: ${sig}: stopping (draining up to ${gw.config.shutdown.drainTimeoutMs} ms)\n`)
      void gw.close().then(() => {
        process.off('SIGINT', onSignal)
        process.off('SIGTERM', onSignal)
        resolve()
      })
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
}
