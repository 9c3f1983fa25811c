/** The forward proxy mode's definition: config section, flags, safety checks, factory. */
import type { ModeDefinition } from '../../src/mode.js'
import { checkForward, FORWARD_FLAGS, forwardSchema, type ForwardConfig } from './config.js'
import { MODE_NAME } from './context.js'
import { ForwardMode } from './mode.js'

export const forwardMode: ModeDefinition<ForwardConfig> = {
  name: MODE_NAME,
  summary: 'forward proxy: HTTP (absolute-form, CONNECT) and SOCKS4/4a/5 on behalf of one client',
  schema: forwardSchema,
  flags: FORWARD_FLAGS,
  check: checkForward,
  create: (core, section) => new ForwardMode(core, section),
}

export { ForwardMode }
export type { ForwardConfig }
