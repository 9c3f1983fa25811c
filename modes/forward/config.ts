/**
 * The forward proxy mode's config section (`forward.*`) and its command-line flags.
 * Everything here has a safe default: loopback listeners, private targets denied, CONNECT to 443 only.
 */
import { z } from 'zod'
import { cidrList, count, listenAddress, millis, userList } from '../../src/config/types.js'
import { isLoopbackHost } from '../../src/core/net-policy.js'
import type { FlagSpec } from '../../src/mode.js'
import { parseUpstream } from './upstream/url.js'

export const DEFAULT_HTTP_LISTEN = '127.0.0.1:8080'
export const DEFAULT_SOCKS_LISTEN = '127.0.0.1:1080'
export const DEFAULT_MAX_CONNECTIONS = 4096
export const DEFAULT_HEADER_TIMEOUT_MS = 30_000
export const DEFAULT_IDLE_TIMEOUT_MS = 300_000
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000
export const DEFAULT_RESPONSE_TIMEOUT_MS = 60_000
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000
export const DEFAULT_BIND_TIMEOUT_MS = 60_000
export const DEFAULT_CONNECT_PORTS = ['443', '8443']

/** A port or a range "1024-65535", or "*" for any. */
const portRule = z.union([z.number().int().min(1).max(65535).transform(String), z.string().regex(/^(\*|\d{1,5}(-\d{1,5})?)$/, 'expected a port, a range like "1024-65535", or "*"')])

export const httpSchema = z
  .strictObject({
    listen: listenAddress(DEFAULT_HTTP_LISTEN).describe('HTTP proxy listener (absolute-form requests and CONNECT), or "off".'),
    via: z
      .union([z.boolean(), z.string().min(1)])
      .default(true)
      .describe('Add a Via header (RFC 9110 §7.6.3): true = "1.1 viaduct", a string = that pseudonym, false = none.'),
    xForwardedFor: z
      .enum(['off', 'add', 'replace'])
      .default('off')
      .describe('X-Forwarded-For: "off" hides the client (default), "add" appends its address, "replace" sets only its address.'),
    maxHeaderBytes: z.number().int().min(1024).max(1_048_576).default(16_384).describe('Largest request head accepted; larger gets 431.'),
    responseTimeoutMs: millis(DEFAULT_RESPONSE_TIMEOUT_MS).describe('How long to wait for the origin\'s response head before 504.'),
    infoPage: z.boolean().default(true).describe('Answer origin-form requests to the proxy itself with a small info page (else 400).'),
  })
  .prefault({})

export const socksSchema = z
  .strictObject({
    listen: listenAddress(DEFAULT_SOCKS_LISTEN).describe('SOCKS4/4a/5 listener, or "off".'),
    handshakeTimeoutMs: millis(DEFAULT_HANDSHAKE_TIMEOUT_MS).describe('A client that has not finished its SOCKS handshake by then is closed.'),
    udp: z.boolean().default(true).describe('Allow SOCKS5 UDP ASSOCIATE.'),
    udpIdleTimeoutMs: millis(120_000).describe('An association with no datagram for this long is closed.'),
    bind: z.boolean().default(false).describe('Allow SOCKS BIND (active FTP); refused with reply 0x07 when false.'),
    socks4: z.boolean().default(true).describe('Accept SOCKS4 and SOCKS4a (no passwords; USERID checked against users when users are set).'),
    socks4IdentOnly: z
      .boolean()
      .default(false)
      .describe(
        'With users set: also admit a SOCKS4 USERID that only names a user, without its password (identification, not authentication; some clients drop the password for SOCKS4). Off: the USERID must be "name:password" and verify.',
      ),
    socks4RequirePassword: z
      .boolean()
      .optional()
      .describe('Deprecated: a USERID must be "name:password" is now the default. false = socks4IdentOnly: true.'),
    bindTimeoutMs: millis(DEFAULT_BIND_TIMEOUT_MS).describe('How long a BIND waits for its one incoming connection.'),
  })
  .prefault({})

export const mixedSchema = z
  .strictObject({
    listen: listenAddress('off').describe('One port that serves HTTP proxy and SOCKS4/5 by sniffing the first byte, or "off".'),
    firstByteTimeoutMs: millis(DEFAULT_HANDSHAKE_TIMEOUT_MS).describe('A client that sends nothing on the mixed port for this long is closed.'),
  })
  .prefault({})

export const accessSchema = z
  .strictObject({
    clients: cidrList.describe('Client networks allowed to use the proxy; empty = any client that can reach the listener.'),
    allowHosts: z
      .array(z.string().min(1))
      .default([])
      .describe('If not empty, only these destinations: host patterns ("example.com", "*.example.com") or CIDRs.'),
    denyHosts: z.array(z.string().min(1)).default([]).describe('Destinations always refused: host patterns or CIDRs.'),
    allowPrivate: cidrList.describe(
      'Loopback/private/link-local ranges that may be targets anyway (denied by default). Tests use "127.0.0.0/8".',
    ),
    connectPorts: z.array(portRule).default(DEFAULT_CONNECT_PORTS).describe('Ports CONNECT (and SOCKS CONNECT) may reach: ports, ranges, or "*".'),
  })
  .prefault({})

export const limitsSchema = z
  .strictObject({
    maxConnections: count(DEFAULT_MAX_CONNECTIONS).describe('Concurrent client connections over all forward listeners; 0 = unlimited.'),
    headerTimeoutMs: millis(DEFAULT_HEADER_TIMEOUT_MS).describe('Time a client has to send a complete request head.'),
    idleTimeoutMs: millis(DEFAULT_IDLE_TIMEOUT_MS).describe('A connection or tunnel with no traffic either way for this long is closed; 0 = never.'),
    connectTimeoutMs: millis(DEFAULT_CONNECT_TIMEOUT_MS).describe('Time to open a TCP connection to a target or upstream.'),
  })
  .prefault({})

export const forwardSchema = z
  .strictObject({
    http: httpSchema,
    socks: socksSchema,
    mixed: mixedSchema,
    users: userList.describe('Users for proxy authentication ("name:password"); empty = no authentication.'),
    authRealm: z.string().min(1).default('viaduct').describe('Realm in the 407 Proxy-Authenticate challenge.'),
    allowOpenProxy: z
      .boolean()
      .default(false)
      .describe('Allow listening on a non-loopback address without users. Without it such a start is refused.'),
    access: accessSchema,
    limits: limitsSchema,
    upstream: z
      .string()
      .url()
      .superRefine((v, ctx) => {
        try {
          parseUpstream(v)
        } catch (e) {
          ctx.addIssue({ code: 'custom', message: (e as Error).message })
        }
      })
      .optional()
      .describe('Chain every request through this proxy: http://[user:pass@]host:port, socks4://, socks4a://, socks5://, socks5h://.'),
    direct: z.array(z.string().min(1)).default([]).describe('With an upstream: destinations (host patterns or CIDRs) reached directly instead.'),
  })
  .prefault({})

export type ForwardConfig = z.output<typeof forwardSchema>

export const FORWARD_FLAGS: FlagSpec[] = [
  { flags: '--http <addr>', description: 'HTTP proxy listener: host:port, port, or off', path: ['forward', 'http', 'listen'], kind: 'string' },
  { flags: '--socks <addr>', description: 'SOCKS4/5 listener: host:port, port, or off', path: ['forward', 'socks', 'listen'], kind: 'string' },
  { flags: '--mixed <addr>', description: 'one port for HTTP proxy and SOCKS (sniffed): host:port, port, or off', path: ['forward', 'mixed', 'listen'], kind: 'string' },
  { flags: '--user <name:pass>', description: 'proxy user (repeatable); enables authentication', path: ['forward', 'users'], kind: 'list' },
  { flags: '--allow-open-proxy', description: 'allow a non-loopback listener without authentication', path: ['forward', 'allowOpenProxy'], kind: 'boolean' },
  { flags: '--allow-private <cidr>', description: 'let the proxy reach this private/loopback range (repeatable)', path: ['forward', 'access', 'allowPrivate'], kind: 'list' },
  { flags: '--connect-port <port>', description: 'port or range CONNECT may reach (repeatable; default 443, 8443)', path: ['forward', 'access', 'connectPorts'], kind: 'list' },
  { flags: '--upstream <url>', description: 'chain through an upstream proxy: http://, socks4://, socks5://, socks5h://', path: ['forward', 'upstream'], kind: 'string' },
]

/** Refuse an open proxy: a non-loopback listener with no users, unless allowOpenProxy. */
export function checkForward(cfg: ForwardConfig): Array<[string, string]> {
  const problems: Array<[string, string]> = []
  if (cfg.users.length > 0 || cfg.allowOpenProxy) return problems
  const listeners: Array<[string, { host: string } | null]> = [
    ['forward.http.listen', cfg.http.listen],
    ['forward.socks.listen', cfg.socks.listen],
    ['forward.mixed.listen', cfg.mixed.listen],
  ]
  for (const [path, l] of listeners) {
    if (l && !isLoopbackHost(l.host)) {
      problems.push([path, `listening on ${l.host} without authentication would make an open proxy; add users (--user NAME:PASS) or pass --allow-open-proxy`])
    }
  }
  return problems
}
