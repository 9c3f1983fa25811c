/**
 * `viaduct turn-credentials --secret SECRET --user NAME [--ttl SECONDS] [--json]`: mint TURN REST
 * ephemeral credentials that a gateway started with the same `--turn-secret` accepts.
 */
import type { Command } from 'commander'
import type { CliIO } from '../../../src/mode.js'
import { DEFAULT_REST_TTL_S, mintRestCredentials } from './credentials.js'

export function registerTurnCommands(program: Command, io: CliIO): void {
  program
    .command('turn-credentials')
    .description('mint TURN REST credentials (username "EXPIRY:USER", password base64 HMAC-SHA1) for --turn-secret')
    .requiredOption('--secret <secret>', 'the shared secret the gateway has in --turn-secret / relay.turn.secrets [env VIADUCT_TURN_SECRET]', process.env.VIADUCT_TURN_SECRET)
    .requiredOption('--user <name>', 'the user the credentials are for (part of the username)')
    .option('--ttl <seconds>', 'how long they stay valid', String(DEFAULT_REST_TTL_S))
    .option('--json', 'print {"username","password","ttl","expiresAt"} as JSON (for an iceServers entry)')
    .action((o: { secret: string; user: string; ttl: string; json?: boolean }) => {
      const ttl = Number(o.ttl)
      if (!Number.isInteger(ttl) || ttl <= 0) {
        io.stderr.write(`viaduct: error: --ttl must be a positive whole number of seconds, got "${o.ttl}" [VIADUCT_ERR_CLI_USAGE]\n`)
        io.setExitCode(2)
        return
      }
      if (o.secret.length < 8) {
        io.stderr.write('viaduct: error: --secret needs at least 8 characters (as relay.turn.secrets) [VIADUCT_ERR_CLI_USAGE]\n')
        io.setExitCode(2)
        return
      }
      if (o.user.includes(':')) {
        io.stderr.write('viaduct: error: --user must not contain ":" (the username is "EXPIRY:USER") [VIADUCT_ERR_CLI_USAGE]\n')
        io.setExitCode(2)
        return
      }
      const c = mintRestCredentials(o.secret, o.user, ttl)
      if (o.json) io.stdout.write(`${JSON.stringify(c)}\n`)
      else io.stdout.write(`username: ${c.username}\npassword: ${c.password}\nexpires:  ${new Date(c.expiresAt * 1000).toISOString()}\n`)
    })
}
