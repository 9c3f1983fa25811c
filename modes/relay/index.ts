/** The relay mode's definition: config section, flags, safety checks, factory, subcommands. */
import type { ModeDefinition } from '../../src/mode.js'
import { checkRelay, RELAY_FLAGS, relaySchema, type RelayConfig } from './config.js'
import { MODE_NAME } from './context.js'
import { RelayMode } from './mode.js'
import { registerPairingCommands } from './pairing/commands.js'
import { registerTurnCommands } from './turn/commands.js'

export const relayMode: ModeDefinition<RelayConfig> = {
  name: MODE_NAME,
  summary: 'relay: pairs two registered peers (TCP, UDP, WebSocket) and serves STUN/TURN for WebRTC',
  schema: relaySchema,
  flags: RELAY_FLAGS,
  check: checkRelay,
  create: (core, section) => new RelayMode(core, section),
  commands: (program, io) => {
    registerPairingCommands(program, io)
    registerTurnCommands(program, io)
  },
}

export { RelayMode }
export type { RelayConfig }
