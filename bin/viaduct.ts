#!/usr/bin/env node
/** The `viaduct` command: the core's CLI over every mode, with the admin server, `bench` and `demo`. */
import { runCli } from '../src/cli/main.js'
import { adminExtension } from '../src/admin/index.js'
import { modes } from '../modes/index.js'
import { benchCommand } from '../bench/run.js'
import { demoCommand } from '../bench/demo.js'

const code = await runCli(process.argv.slice(2), { modes, signals: true, extensions: [adminExtension()], commands: [benchCommand, demoCommand] })
process.exitCode = code
