// PLACEHOLDER: the pairing subcommands.
import type { Command } from 'commander'
import type { CliIO } from '../../../src/mode.js'

export function registerPairingCommands(_program: Command, _io: CliIO): void {}
