/**
 * `viaduct token` (mint a pairing token) and `viaduct peer` (netcat or file transfer through a relay).
 */
import { Command, Option } from 'commander'
import { once } from 'node:events'
import type { CliIO } from '../../../src/mode.js'
import { ViaductError } from '../../../src/core/errors.js'
import { formatHostPort } from '../../../src/core/service.js'
import { connectPeer, type PeerDatagram, type PeerStream, type PairingInfo } from './client.js'
import { PairErrors } from './errors.js'
import { receiveFile, sendFile } from './file-transfer.js'
import { DEFAULT_TOKEN_TTL_S, MIN_SECRET_CHARS, mintToken } from './token.js'

/** Largest datagram `viaduct peer --udp` sends for a chunk of stdin (fits a 1280-byte IPv6 MTU). */
export const UDP_CHUNK = 1200

export function registerPairingCommands(program: Command, io: CliIO): void {
  program
    .command('token')
    .description('mint a pairing token for a room, signed with the relay secret')
    .addOption(new Option('--secret <secret>', 'the relay secret (as given to --relay-secret)').env('VIADUCT_RELAY_SECRET'))
    .requiredOption('--id <room>', 'the room (pairing id): 1..128 printable ASCII characters')
    .option('--ttl <seconds>', 'lifetime of the token in seconds', String(DEFAULT_TOKEN_TTL_S))
    .action((o: { secret?: string; id: string; ttl: string }) => {
      if (!o.secret) throw new ViaductError('VIADUCT_ERR_CLI_USAGE', 'give the relay secret with --secret or VIADUCT_RELAY_SECRET')
      checkSecret(o.secret)
      const ttl = Number(o.ttl)
      if (!/^\d+$/.test(o.ttl) || !Number.isSafeInteger(ttl) || ttl <= 0) {
        throw new ViaductError('VIADUCT_ERR_CLI_USAGE', `--ttl must be a positive whole number of seconds, got "${o.ttl}"`)
      }
      io.stdout.write(`${mintToken({ secret: o.secret, room: o.id, ttlS: ttl })}\n`)
    })

  program
    .command('peer')
    .description('be one peer of a pairing: pipe stdin/stdout through the relay, or send/receive a file with a hash check')
    .requiredOption('--relay <host:port>', 'the pairing relay')
    .requiredOption('--id <room>', 'the room (pairing id)')
    .option('--token <token>', 'a pairing token for the room (viaduct token)')
    .addOption(new Option('--secret <secret>', 'mint the token here from the relay secret instead of --token').env('VIADUCT_RELAY_SECRET'))
    .option('--udp', 'use UDP (datagrams; each stdin chunk of up to 1200 bytes is one datagram)')
    .option('--ws', 'use a WebSocket (binary messages) to the relay port')
    .addOption(new Option('--side <side>', 'take side a or b of the room').choices(['a', 'b', 'any']).default('any'))
    .option('--send <file>', 'send a file (the receiver checks its SHA-256)')
    .option('--receive <file>', 'receive a file into FILE and check its SHA-256')
    .option('--timeout <ms>', 'give up when not paired within this many ms', '120000')
    .option('--idle-exit <ms>', 'UDP: exit after stdin ended and nothing arrived for this many ms', '2000')
    .action(async (o: PeerOptions) => {
      io.setExitCode(await runPeer(o, io))
    })
}

/** The same rule as relay.pairing.secrets: a shorter secret mints tokens no relay accepts. */
function checkSecret(secret: string): void {
  if (secret.length < MIN_SECRET_CHARS) {
    throw new ViaductError('VIADUCT_ERR_CLI_USAGE', `--secret needs at least ${MIN_SECRET_CHARS} characters (a relay refuses shorter secrets, so these tokens could never verify)`)
  }
}

interface PeerOptions {
  relay: string
  id: string
  token?: string
  secret?: string
  udp?: boolean
  ws?: boolean
  side: 'a' | 'b' | 'any'
  send?: string
  receive?: string
  timeout: string
  idleExit: string
}

function describe(p: PairingInfo): string {
  const a = (x: { address: string; port: number }) => formatHostPort(x.address, x.port)
  return `paired: you are ${a(p.self)} (${p.selfTransport}), peer is ${a(p.peer)} (${p.peerTransport})`
}

async function runPeer(o: PeerOptions, io: CliIO): Promise<number> {
  if (o.udp && o.ws) throw new ViaductError('VIADUCT_ERR_CLI_USAGE', '--udp and --ws exclude each other')
  if (o.send && o.receive) throw new ViaductError('VIADUCT_ERR_CLI_USAGE', '--send and --receive exclude each other')
  if (o.udp && (o.send || o.receive)) throw new ViaductError('VIADUCT_ERR_CLI_USAGE', 'a file transfer needs a stream: use TCP or --ws, not --udp')
  if (o.secret && !o.token) checkSecret(o.secret)
  const token = o.token ?? (o.secret ? mintToken({ secret: o.secret, room: o.id }) : undefined)
  if (!token) throw new ViaductError('VIADUCT_ERR_CLI_USAGE', 'give --token (from viaduct token) or --secret')
  const common = {
    relay: o.relay,
    id: o.id,
    token,
    side: o.side,
    timeoutMs: Number(o.timeout),
    onWaiting: (w: { waitTimeoutMs: number }) => io.stderr.write(`waiting for the other peer (the relay holds this registration ${Math.round(w.waitTimeoutMs / 1000)} s)\n`),
  }
  if (o.udp) {
    const d = await connectPeer({ ...common, transport: 'udp' })
    io.stderr.write(`${describe(d.pairing)}\n`)
    return udpNetcat(d, io, Number(o.idleExit))
  }
  const s = await connectPeer({ ...common, transport: o.ws ? 'ws' : 'tcp' })
  io.stderr.write(`${describe(s.pairing)}\n`)
  if (o.send) {
    const r = await sendFile(s, o.send)
    io.stderr.write(`sent ${r.bytes} bytes, sha256 ${r.sha256}: ${r.ok ? 'the receiver confirmed the hash' : 'THE RECEIVER REPORTS A DIFFERENT HASH'}\n`)
    await closeGracefully(s)
    return r.ok ? 0 : 1
  }
  if (o.receive) {
    const r = await receiveFile(s, o.receive)
    io.stderr.write(`received ${r.bytes} bytes into ${o.receive}, sha256 ${r.sha256}: ${r.ok ? 'hash ok' : 'HASH MISMATCH'}\n`)
    await closeGracefully(s)
    return r.ok ? 0 : 1
  }
  return streamNetcat(s, io)
}

/** End our side and wait (at most 2 s) for the other side to close, so the relay sees a normal close. */
async function closeGracefully(s: PeerStream): Promise<void> {
  s.on('error', () => undefined)
  s.resume()
  if (!s.writableEnded) s.end()
  if (!s.destroyed) await Promise.race([once(s, 'close').catch(() => undefined), new Promise((res) => setTimeout(res, 2000).unref())])
  s.destroy()
}

async function streamNetcat(s: PeerStream, io: CliIO): Promise<number> {
  let failed: Error | undefined
  s.on('error', (e) => (failed = e))
  s.pipe(io.stdout as NodeJS.WritableStream, { end: false })
  io.stdin.pipe(s)
  if (!s.readableEnded) await once(s, 'end').catch(() => undefined)
  if (!s.writableFinished && !s.destroyed) await Promise.race([once(s, 'close'), once(s, 'finish')]).catch(() => undefined)
  ;(io.stdin as NodeJS.ReadableStream & { destroy?(): void }).unpipe?.(s)
  ;(io.stdin as { pause?(): void }).pause?.()
  ;(io.stdin as { destroy?(): void }).destroy?.()
  s.destroy()
  if (failed) throw new ViaductError(PairErrors.VIADUCT_ERR_PAIR_PEER_RESET, `the pairing ended with an error: ${failed.message}`)
  return 0
}

async function udpNetcat(d: PeerDatagram, io: CliIO, idleExitMs: number): Promise<number> {
  let last = Date.now()
  let stdinDone = false
  d.on('message', (m) => {
    last = Date.now()
    io.stdout.write(m)
  })
  io.stdin.on('data', (c: Buffer | string) => {
    const buf = typeof c === 'string' ? Buffer.from(c) : c
    for (let i = 0; i < buf.length; i += UDP_CHUNK) d.send(buf.subarray(i, i + UDP_CHUNK))
  })
  io.stdin.once('end', () => {
    stdinDone = true
    last = Date.now()
  })
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (stdinDone && Date.now() - last >= idleExitMs) {
        clearInterval(timer)
        resolve()
      }
    }, 50)
  })
  ;(io.stdin as { destroy?(): void }).destroy?.()
  d.close()
  return 0
}
