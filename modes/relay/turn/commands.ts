// PLACEHOLDER: the turn subcommands.
import type { Command } from 'commander'
import type { CliIO } from '../../../src/mode.js'

export function registerTurnCommands(_program: Command, _io: CliIO): void {}
