/**
 * Upstream chaining (forward.upstream): every target is reached through another proxy, except the
 * destinations listed in forward.direct, which go out directly.
 *
 * - http://[user:pass@]host:port: CONNECT for tunnels (and SOCKS), and plain-HTTP requests are handed to
 *   the HTTP proxy to forward in absolute form (httpUpstreamFor).
 * - socks4:// and socks5://: we resolve names ourselves (every address checked against the rules), and
 *   send the address. socks4a:// and socks5h://: the upstream resolves the name (what browsers call
 *   "remote DNS"); our rules then check the name only.
 * The connection to the upstream itself is not checked against forward.access (the operator chose it).
 */
import { isIP } from 'node:net'
import { ViaductError } from '../../../src/core/errors.js'
import { formatHostPort } from '../../../src/core/service.js'
import { HostPatterns, type AccessPolicy } from '../access.js'
import type { ForwardConfig } from '../config.js'
import { connectOnce, DirectDialer, mapDialError, type DialRequest, type DialResult, type Dialer, type HttpUpstream } from '../dial.js'
import { ForwardErrors } from '../errors.js'
import { basicAuthorization, httpConnect } from './http-connect.js'
import { socksConnect } from './socks.js'
import { parseUpstream, redactUpstream, resolvesRemotely, type UpstreamProxy } from './url.js'

export { parseUpstream, redactUpstream } from './url.js'

export interface UpstreamDialerOptions {
  upstream: UpstreamProxy
  direct: Dialer
  policy: AccessPolicy
  /** Destinations reached directly (host patterns or CIDRs). */
  directRules?: readonly string[]
  connectTimeoutMs: number
}

export class UpstreamDialer implements Dialer {
  private readonly directRules: HostPatterns
  readonly upstream: UpstreamProxy

  constructor(private readonly opts: UpstreamDialerOptions) {
    this.upstream = opts.upstream
    this.directRules = new HostPatterns(opts.directRules ?? [])
  }

  /** Does this destination bypass the upstream? */
  isDirect(host: string): boolean {
    if (this.directRules.empty) return false
    const bare = host.replace(/^\[|\]$/g, '')
    return isIP(bare) ? this.directRules.matchIp(bare) : this.directRules.matchName(bare)
  }

  httpUpstreamFor(host: string, _port: number): HttpUpstream | undefined {
    const up = this.upstream
    if (up.kind !== 'http' || this.isDirect(host)) return undefined
    return { host: up.host, port: up.port, authorization: up.user !== undefined ? basicAuthorization(up.user, up.password) : undefined }
  }

  async dial(req: DialRequest): Promise<DialResult> {
    if (this.isDirect(req.host)) return this.opts.direct.dial(req)
    const up = this.upstream
    const target = await this.targetHost(req)
    const where = formatHostPort(up.host, up.port)
    let socket
    try {
      socket = await connectOnce(up.host, up.port, this.opts.connectTimeoutMs, req.signal)
    } catch (err) {
      const e = mapDialError(err, `upstream ${redactUpstream(up)}`)
      throw new ViaductError(e.code === ForwardErrors.VIADUCT_ERR_TARGET_TIMEOUT ? e.code : ForwardErrors.VIADUCT_ERR_UPSTREAM_FAILED, `cannot reach upstream ${redactUpstream(up)}: ${e.message}`, { cause: err })
    }
    const connected =
      up.kind === 'http'
        ? await httpConnect(socket, target, req.port, up.user !== undefined ? basicAuthorization(up.user, up.password) : undefined, this.opts.connectTimeoutMs, req.signal)
        : await socksConnect(socket, up, target, req.port, this.opts.connectTimeoutMs, req.signal)
    return { socket: connected, remote: where }
  }

  /** The host to ask the upstream for: the name (remote DNS) or an address we resolved and checked. */
  private async targetHost(req: DialRequest): Promise<string> {
    const bare = req.host.replace(/^\[|\]$/g, '')
    if (isIP(bare) || resolvesRemotely(this.upstream.kind)) return bare
    let addrs: string[]
    try {
      addrs = this.opts.direct instanceof DirectDialer ? await this.opts.direct.resolve(bare) : [bare]
    } catch (err) {
      throw mapDialError(err, formatHostPort(req.host, req.port))
    }
    if (addrs.length === 0) throw new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_DNS, `${req.host}: host name has no addresses`)
    for (const ip of addrs) this.opts.policy.checkAddress(ip, req.port, req.host)
    // SOCKS4 carries IPv4 only
    const pick = this.upstream.kind === 'socks4' ? addrs.find((a) => isIP(a) === 4) : addrs[0]
    if (!pick) throw new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_NETWORK, `${req.host} has no IPv4 address for a socks4:// upstream`)
    return pick
  }
}

export function createDialer(config: ForwardConfig, direct: Dialer, policy: AccessPolicy): Dialer {
  if (!config.upstream) return direct
  return new UpstreamDialer({ upstream: parseUpstream(config.upstream), direct, policy, directRules: config.direct, connectTimeoutMs: config.limits.connectTimeoutMs })
}
