#!/usr/bin/env node
/** The `viaduct` command: the core's CLI over every mode. */
import { runCli } from '../src/cli/main.js'
import { modes } from '../modes/index.js'

const code = await runCli(process.argv.slice(2), { modes, signals: true })
process.exitCode = code
