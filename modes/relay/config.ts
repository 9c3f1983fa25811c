/**
 * The relay mode's config section (`relay.*`): the pairing relay and the STUN/TURN server, and their
 * command-line flags. Defaults listen on loopback; peers on private/loopback ranges are denied.
 */
import { z } from 'zod'
import { cidrList, count, listenAddress, millis, seconds, userList } from '../../src/config/types.js'
import { isLoopbackHost } from '../../src/core/net-policy.js'
import type { FlagSpec } from '../../src/mode.js'

export const DEFAULT_PAIRING_LISTEN = '127.0.0.1:7070'
export const DEFAULT_TURN_LISTEN = '127.0.0.1:3478'

export const pairingSchema = z
  .strictObject({
    listen: listenAddress(DEFAULT_PAIRING_LISTEN).describe('Pairing relay address, TCP and UDP on the same port (WebSocket on the TCP port), or "off".'),
    udp: z.boolean().default(true).describe('Also serve the pairing protocol over UDP on the same port.'),
    websocket: z.boolean().default(true).describe('Accept WebSocket peers (HTTP Upgrade on the TCP port).'),
    secrets: z.array(z.string().min(8, 'a relay secret needs at least 8 characters')).default([]).describe(
      'Shared secrets that sign pairing tokens (the first mints, all verify: rotate by adding a new one first). Empty = nobody can register.',
    ),
    waitTimeoutMs: millis(60_000).describe('How long a registered peer may wait for its partner.'),
    maxWaiting: count(1000).describe('Registrations waiting for a partner, in total; 0 = no cap.'),
    maxWaitingPerIp: count(16).describe('Registrations waiting for a partner, per source IP; 0 = no cap.'),
    maxBytes: count(0).describe('Bytes (both directions) one pairing may carry; 0 = unlimited.'),
    maxDurationMs: millis(0).describe('How long one pairing may last; 0 = unlimited.'),
    idleTimeoutMs: millis(300_000).describe('A pairing with no traffic either way for this long is closed; 0 = never.'),
    udpIdleTimeoutMs: millis(60_000).describe('A UDP peer mapping with no datagram (data or keepalive) for this long expires.'),
    helloTimeoutMs: millis(10_000).describe('A connection that has not sent a complete hello by then is closed.'),
  })
  .prefault({})

export const turnSchema = z
  .strictObject({
    listen: listenAddress(DEFAULT_TURN_LISTEN).describe('STUN/TURN address, UDP and TCP on the same port, or "off".'),
    tls: z
      .strictObject({
        listen: listenAddress('off').describe('TURN over TLS ("turns:") address, or "off".'),
        cert: z.string().optional().describe('PEM certificate file for TLS.'),
        key: z.string().optional().describe('PEM private key file for TLS.'),
      })
      .prefault({}),
    realm: z.string().min(1).default('viaduct').describe('REALM of long-term credentials.'),
    users: userList.describe('Static long-term credential users ("name:password").'),
    secrets: z.array(z.string().min(8)).default([]).describe('TURN REST shared secrets (the first mints, all verify).'),
    allowPeers: cidrList.describe('Special ranges (loopback, private, ...) that peers may be in anyway; denied by default.'),
    denyPeers: cidrList.describe('Peer ranges always denied (403).'),
    relayIp: z.union([z.ipv4(), z.ipv6()], { error: 'expected an IP address' }).optional().describe('Local IP of relayed sockets; default: the listen address.'),
    externalIp: z.union([z.ipv4(), z.ipv6()], { error: 'expected an IP address' }).optional().describe('Relayed address advertised to clients when behind NAT (XOR-RELAYED-ADDRESS).'),
    portMin: z.number().int().min(1).max(65535).default(49152).describe('Lowest relayed port.'),
    portMax: z.number().int().min(1).max(65535).default(65535).describe('Highest relayed port.'),
    defaultLifetimeS: seconds(600).describe('Allocation lifetime when the client asks for none (RFC 8656 §3.2).'),
    maxLifetimeS: seconds(3600).describe('Cap on a requested allocation lifetime.'),
    maxAllocations: count(1000).describe('Allocations in total (486 beyond).'),
    maxAllocationsPerUser: count(10).describe('Allocations per user (486 beyond).'),
    bandwidthBytesPerS: count(0).describe('Relayed bytes per second per allocation; 0 = unlimited.'),
    nonceTtlS: seconds(600).describe('Nonce lifetime; a request with an older nonce gets 438.'),
    unauthRepliesPerS: count(20).describe('401 replies per source IP per second (not a reflection amplifier).'),
    software: z.string().default('viaduct').describe('SOFTWARE attribute in responses; empty = none.'),
  })
  .prefault({})

export const relaySchema = z
  .strictObject({
    pairing: pairingSchema,
    turn: turnSchema,
    allowOpenRelay: z
      .boolean()
      .default(false)
      .describe('Allow a non-loopback TURN listener with no users or secrets. Without it such a start is refused.'),
  })
  .prefault({})

export type RelayConfig = z.output<typeof relaySchema>
export type PairingConfig = RelayConfig['pairing']
export type TurnConfig = RelayConfig['turn']

export const RELAY_FLAGS: FlagSpec[] = [
  { flags: '--relay <addr>', description: 'pairing relay (TCP+UDP, WebSocket): host:port, port, or off', path: ['relay', 'pairing', 'listen'], kind: 'string' },
  { flags: '--relay-secret <secret>', description: 'shared secret that signs pairing tokens (repeatable for rotation)', path: ['relay', 'pairing', 'secrets'], kind: 'list' },
  { flags: '--turn <addr>', description: 'STUN/TURN server (UDP+TCP): host:port, port, or off', path: ['relay', 'turn', 'listen'], kind: 'string' },
  { flags: '--turn-tls <addr>', description: 'TURN over TLS listener (needs --turn-cert and --turn-key)', path: ['relay', 'turn', 'tls', 'listen'], kind: 'string' },
  { flags: '--turn-cert <file>', description: 'PEM certificate for TURN over TLS', path: ['relay', 'turn', 'tls', 'cert'], kind: 'string' },
  { flags: '--turn-key <file>', description: 'PEM private key for TURN over TLS', path: ['relay', 'turn', 'tls', 'key'], kind: 'string' },
  { flags: '--turn-realm <realm>', description: 'realm of long-term credentials', path: ['relay', 'turn', 'realm'], kind: 'string' },
  { flags: '--turn-user <name:pass>', description: 'TURN long-term credential user (repeatable)', path: ['relay', 'turn', 'users'], kind: 'list' },
  { flags: '--turn-secret <secret>', description: 'TURN REST shared secret (repeatable for rotation)', path: ['relay', 'turn', 'secrets'], kind: 'list' },
  { flags: '--turn-allow-peer <cidr>', description: 'allow peers in this special range (repeatable; e.g. 127.0.0.0/8 for tests)', path: ['relay', 'turn', 'allowPeers'], kind: 'list' },
  { flags: '--turn-relay-ip <ip>', description: 'local IP for relayed sockets', path: ['relay', 'turn', 'relayIp'], kind: 'string' },
  { flags: '--turn-external-ip <ip>', description: 'relayed address to advertise when behind NAT', path: ['relay', 'turn', 'externalIp'], kind: 'string' },
  { flags: '--allow-open-relay', description: 'allow a non-loopback TURN listener without credentials', path: ['relay', 'allowOpenRelay'], kind: 'boolean' },
]

/**
 * Refuse an open relay. The pairing relay always needs a token, so it is never open; a TURN listener off
 * loopback needs users or secrets unless allowOpenRelay.
 */
export function checkRelay(cfg: RelayConfig): Array<[string, string]> {
  const problems: Array<[string, string]> = []
  const t = cfg.turn
  const hasCreds = t.users.length > 0 || t.secrets.length > 0
  for (const [path, l] of [['relay.turn.listen', t.listen], ['relay.turn.tls.listen', t.tls.listen]] as const) {
    if (l && !isLoopbackHost(l.host) && !hasCreds && !cfg.allowOpenRelay) {
      problems.push([path, `listening on ${l.host} without TURN users or secrets would make an open relay; add --turn-user or --turn-secret, or pass --allow-open-relay`])
    }
  }
  if (t.tls.listen && (!t.tls.cert || !t.tls.key)) problems.push(['relay.turn.tls', 'a TLS listener needs both cert and key files'])
  if (t.portMin > t.portMax) problems.push(['relay.turn.portMin', `portMin (${t.portMin}) is above portMax (${t.portMax})`])
  if (t.defaultLifetimeS > t.maxLifetimeS) problems.push(['relay.turn.defaultLifetimeS', 'defaultLifetimeS is above maxLifetimeS'])
  return problems
}
