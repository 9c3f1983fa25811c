/**
 * Access rules of the forward proxy, shared by HTTP, SOCKS and the mixed port:
 * which clients may use it, which destinations and ports they may reach, and no loops into ourselves.
 *
 * Destinations are checked twice: by name before DNS (host patterns, ports), and by address after DNS
 * (CIDRs, private ranges, our own listeners), so a name that resolves to 127.0.0.1 is caught too.
 */
import { isIP } from 'node:net'
import { ViaductError } from '../../src/core/errors.js'
import { IpSet, isCidr, isSpecialAddress, normalizeIp } from '../../src/core/net-policy.js'
import type { SelfAddresses } from '../../src/core/self.js'
import type { ForwardConfig } from './config.js'
import { ForwardErrors } from './errors.js'

/** Host patterns: "example.com" (exact), "*.example.com" (subdomains only), ".example.com" (apex and subdomains). */
export class HostPatterns {
  private readonly exact = new Set<string>()
  private readonly suffixes: string[] = []
  private readonly apexAndSub: string[] = []
  private readonly ips: IpSet

  constructor(patterns: readonly string[]) {
    const cidrs: string[] = []
    for (const raw of patterns) {
      const p = raw.trim().toLowerCase().replace(/\.$/, '')
      if (isCidr(p)) cidrs.push(p)
      else if (p === '*') this.suffixes.push('')
      else if (p.startsWith('*.')) this.suffixes.push(p.slice(1))
      else if (p.startsWith('.')) this.apexAndSub.push(p)
      else this.exact.add(p)
    }
    this.ips = new IpSet(cidrs)
  }

  get empty(): boolean {
    return this.exact.size === 0 && this.suffixes.length === 0 && this.apexAndSub.length === 0 && this.ips.size === 0
  }

  /** Does a host name (not an IP) match? */
  matchName(host: string): boolean {
    const h = host.toLowerCase().replace(/\.$/, '')
    if (this.exact.has(h)) return true
    for (const s of this.suffixes) if (s === '' || h.endsWith(s)) return true
    for (const s of this.apexAndSub) if (h === s.slice(1) || h.endsWith(s)) return true
    return false
  }

  /** Does an IP match a CIDR entry? (Also matches an exact IP literal pattern.) */
  matchIp(ip: string): boolean {
    return this.ips.has(ip) || this.exact.has(normalizeIp(ip)?.ip ?? '')
  }
}

/** A port list: "443", "1024-65535", "*". */
export class PortRules {
  private readonly ranges: Array<[number, number]> = []

  constructor(rules: readonly string[]) {
    for (const r of rules) {
      if (r === '*') this.ranges.push([1, 65535])
      else if (r.includes('-')) {
        const [a, b] = r.split('-').map(Number)
        this.ranges.push([a, b])
      } else this.ranges.push([Number(r), Number(r)])
    }
  }

  has(port: number): boolean {
    return this.ranges.some(([a, b]) => port >= a && port <= b)
  }
}

export class AccessPolicy {
  private readonly clients: IpSet
  private readonly allow: HostPatterns
  private readonly deny: HostPatterns
  private readonly allowPrivate: IpSet
  private readonly tunnelPorts: PortRules

  constructor(
    cfg: ForwardConfig['access'],
    private readonly self?: SelfAddresses,
  ) {
    this.clients = new IpSet(cfg.clients)
    this.allow = new HostPatterns(cfg.allowHosts)
    this.deny = new HostPatterns(cfg.denyHosts)
    this.allowPrivate = new IpSet(cfg.allowPrivate)
    this.tunnelPorts = new PortRules(cfg.connectPorts)
  }

  /** May this client use the proxy at all? */
  checkClient(remoteAddress: string | undefined): void {
    if (this.clients.size === 0) return
    if (!remoteAddress || !this.clients.has(remoteAddress)) {
      throw new ViaductError(ForwardErrors.VIADUCT_ERR_ACCESS_CLIENT, `client ${remoteAddress ?? '?'} is not in forward.access.clients`)
    }
  }

  /**
   * Before DNS: the destination by name (or literal) and port. `tunnel` is true for CONNECT and SOCKS
   * CONNECT, where the port list applies; plain HTTP may reach any port the rules allow.
   */
  checkDestination(host: string, port: number, tunnel: boolean): void {
    const bare = host.replace(/^\[|\]$/g, '')
    const literal = isIP(bare) !== 0
    if (port < 1 || port > 65535) throw new ViaductError(ForwardErrors.VIADUCT_ERR_ACCESS_PORT, `port ${port} is not a valid port`)
    if (tunnel && !this.tunnelPorts.has(port)) {
      throw new ViaductError(ForwardErrors.VIADUCT_ERR_ACCESS_PORT, `tunnels to port ${port} are not allowed (forward.access.connectPorts)`)
    }
    if (literal ? this.deny.matchIp(bare) : this.deny.matchName(bare)) {
      throw new ViaductError(ForwardErrors.VIADUCT_ERR_ACCESS_DESTINATION, `${host} is in forward.access.denyHosts`)
    }
    // A name is checked against allowHosts now; an IP literal against its CIDRs after normalization below.
    if (!this.allow.empty && !literal && !this.allow.matchName(bare)) {
      throw new ViaductError(ForwardErrors.VIADUCT_ERR_ACCESS_DESTINATION, `${host} is not in forward.access.allowHosts`)
    }
    if (literal) this.checkAddress(bare, port, host)
  }

  /**
   * After DNS (or for an IP literal): the address the proxy would connect to.
   * `name` is the host the client asked for, used in messages and for allowHosts.
   */
  checkAddress(ip: string, port: number, name: string = ip): void {
    const n = normalizeIp(ip)
    if (!n) throw new ViaductError(ForwardErrors.VIADUCT_ERR_ACCESS_DESTINATION, `${ip} is not an IP address`)
    if (this.deny.matchIp(n.ip)) throw new ViaductError(ForwardErrors.VIADUCT_ERR_ACCESS_DESTINATION, `${name} (${n.ip}) is in forward.access.denyHosts`)
    const literal = isIP(name.replace(/^\[|\]$/g, '')) !== 0
    if (!this.allow.empty && literal && !this.allow.matchIp(n.ip)) {
      throw new ViaductError(ForwardErrors.VIADUCT_ERR_ACCESS_DESTINATION, `${name} is not in forward.access.allowHosts`)
    }
    if (this.self?.isSelf(n.ip, port)) {
      throw new ViaductError(ForwardErrors.VIADUCT_ERR_ACCESS_LOOP, `${name}:${port} is this proxy's own listener`)
    }
    if (isSpecialAddress(n.ip) && !this.allowPrivate.has(n.ip)) {
      throw new ViaductError(
        ForwardErrors.VIADUCT_ERR_ACCESS_PRIVATE,
        `${name}${name === n.ip ? '' : ` (${n.ip})`} is a loopback, private or link-local address; allow it with forward.access.allowPrivate`,
      )
    }
  }
}
