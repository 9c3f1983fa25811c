/**
 * The whole configuration: the core's own sections plus one section per mode, each owned by its mode.
 */
import { z } from 'zod'
import { LOG_LEVELS } from '../core/log.js'
import type { ModeDefinition } from '../mode.js'
import { listenAddress, millis } from './types.js'

export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000
export const DEFAULT_ADMIN_LISTEN = '127.0.0.1:8081'

export const logSchema = z
  .strictObject({
    level: z.enum(LOG_LEVELS).default('info').describe('Least severe level written: fatal, error, warn, info, debug, trace or silent.'),
    pretty: z
      .union([z.boolean(), z.literal('auto')])
      .default('auto')
      .describe('One readable line per event instead of JSON; "auto" = when stdout is a terminal.'),
  })
  .prefault({})

export const adminSchema = z
  .strictObject({
    listen: listenAddress(DEFAULT_ADMIN_LISTEN).describe('Admin API, metrics and dashboard address, or "off".'),
    token: z
      .string()
      .min(16, 'an admin token needs at least 16 characters')
      .optional()
      .describe('Bearer token the admin API requires; mandatory when it listens on a non-loopback address.'),
  })
  .prefault({})

export const shutdownSchema = z
  .strictObject({
    drainTimeoutMs: millis(DEFAULT_DRAIN_TIMEOUT_MS).describe(
      'On SIGINT/SIGTERM, how long live sessions may finish before they are closed with reason "shutdown".',
    ),
  })
  .prefault({})

export const ledgerSchema = z
  .strictObject({
    historySize: z.number().int().min(0).max(1_000_000).default(1000).describe('Closed sessions kept for the admin API.'),
  })
  .prefault({})

/** The core's sections (every mode adds its own beside them). */
export const coreShape = {
  log: logSchema,
  admin: adminSchema,
  shutdown: shutdownSchema,
  ledger: ledgerSchema,
}

export type CoreConfig = {
  log: z.output<typeof logSchema>
  admin: z.output<typeof adminSchema>
  shutdown: z.output<typeof shutdownSchema>
  ledger: z.output<typeof ledgerSchema>
}

/** Full config: core sections, and each mode's section under its name. */
export type ViaductConfig = CoreConfig & Record<string, unknown>

/** Compose the full schema from the modes given. */
export function buildSchema(modes: readonly ModeDefinition[]) {
  const shape: Record<string, z.ZodType> = { ...coreShape }
  for (const m of modes) {
    if (m.name in shape) throw new Error(`config section "${m.name}" is defined twice`)
    shape[m.name] = m.schema
  }
  return z.strictObject(shape)
}
