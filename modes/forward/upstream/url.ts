/** Parsing forward.upstream: http://[user:pass@]host:port, socks4://, socks4a://, socks5://, socks5h://. */

export type UpstreamKind = 'http' | 'socks4' | 'socks4a' | 'socks5' | 'socks5h'

export interface UpstreamProxy {
  kind: UpstreamKind
  host: string
  port: number
  user?: string
  password?: string
}

const DEFAULT_PORTS: Record<UpstreamKind, number> = { http: 8080, socks4: 1080, socks4a: 1080, socks5: 1080, socks5h: 1080 }

export function parseUpstream(input: string): UpstreamProxy {
  let u: URL
  try {
    u = new URL(input)
  } catch {
    throw new Error(`"${input}" is not a URL`)
  }
  const kind = u.protocol.replace(/:$/, '') as UpstreamKind
  if (!(kind in DEFAULT_PORTS)) throw new Error(`upstream scheme "${u.protocol}" is not http:, socks4:, socks4a:, socks5: or socks5h:`)
  if (u.pathname !== '' && u.pathname !== '/') throw new Error('an upstream URL has no path')
  const host = u.hostname.replace(/^\[|\]$/g, '')
  if (!host) throw new Error('the upstream URL has no host')
  const port = u.port ? Number(u.port) : DEFAULT_PORTS[kind]
  const out: UpstreamProxy = { kind, host, port }
  if (u.username) out.user = decodeURIComponent(u.username)
  if (u.password) out.password = decodeURIComponent(u.password)
  return out
}

/** True when the upstream resolves target names itself (we send names, not addresses). */
export function resolvesRemotely(kind: UpstreamKind): boolean {
  return kind === 'http' || kind === 'socks4a' || kind === 'socks5h'
}

/** For logs: the URL without its password. */
export function redactUpstream(p: UpstreamProxy): string {
  const h = p.host.includes(':') ? `[${p.host}]` : p.host
  return `${p.kind}://${p.user ? `${encodeURIComponent(p.user)}:***@` : ''}${h}:${p.port}`
}
