/**
 * The contract between the core and a mode.
 *
 * A mode is a self-contained unit under modes/: it owns its config section (schema and defaults), its
 * command-line flags, its extra subcommands, and its listeners. The core knows none of them by name:
 * the entry point (bin/viaduct.ts) passes the list of mode definitions in.
 */
import type { z } from 'zod'
import type { Command } from 'commander'
import type { Clock } from './core/clock.js'
import type { Ledger } from './core/ledger.js'
import type { Logger } from './core/log.js'
import type { ListenerInfo } from './core/service.js'
import type { SelfAddresses } from './core/self.js'
import type { Faults } from './core/faults.js'

/** What the core gives each mode. */
export interface Core {
  ledger: Ledger
  log: Logger
  clock: Clock
  /** The gateway's own listening addresses (for loop protection); filled once every mode listens. */
  self: SelfAddresses
  /**
   * Where a mode reports an exception it caught at one of its boundaries (a frame handler, a connection
   * handler): counted in viaduct_internal_errors_total and logged once per place (core/faults.ts).
   */
  faults: Faults
}

export interface Mode {
  readonly name: string
  /** Start every listener of the mode; rejects (having closed what it opened) if one fails. */
  listen(): Promise<ListenerInfo[]>
  /** Stop accepting and wait for live sessions to end. Safe to call twice. */
  close(): Promise<void>
  /** End every live session now, with reason `shutdown` (or the error's code). Safe to call twice. */
  destroy(err?: Error): Promise<void>
}

/** A command-line flag of `viaduct start`, mapped onto one config key. Its env twin is VIADUCT_<FLAG>. */
export interface FlagSpec {
  /** commander syntax: "--http <addr>", "--allow-open-proxy". */
  flags: string
  description: string
  /** Config path it sets, e.g. ["forward", "http", "listen"]. */
  path: string[]
  /**
   * string: the value as given (the schema parses it); list: repeatable, appends; boolean: a switch;
   * number: parsed as a number.
   */
  kind: 'string' | 'list' | 'boolean' | 'number'
}

/** What the CLI gives a mode's own subcommands. */
export interface CliIO {
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
  stdin: NodeJS.ReadableStream
  /** Set the exit code (the CLI never calls process.exit from a mode). */
  setExitCode(code: number): void
}

export interface ModeDefinition<C = any> {
  /** The mode's name and its config section key: "forward", "relay". */
  name: string
  /** One line for `viaduct --help`. */
  summary: string
  /** The mode's config section, with every default filled in. Use z.strictObject all the way down. */
  schema: z.ZodType<C>
  flags: FlagSpec[]
  /**
   * Cross-key safety checks on the validated section (e.g. refuse an open proxy on a public address).
   * Returns problems as [path, message] pairs; any problem stops the start.
   */
  check?(section: C): Array<[string, string]>
  create(core: Core, section: C): Mode
  /** Extra subcommands (token, peer, turn-credentials, ...). */
  commands?(program: Command, io: CliIO): void
}
