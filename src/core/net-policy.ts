/**
 * Address policy shared by the proxy and the relay: which targets or peers may be reached.
 *
 * By default loopback, private, link-local, unspecified, multicast and other special-purpose ranges are
 * denied, so an intermediary cannot be turned against the network it sits in (SSRF, TURN peer abuse).
 * IPv4-mapped and IPv4-compatible IPv6 addresses are normalized to IPv4 BEFORE any check: two coturn
 * CVEs (CVE-2020-26262, CVE-2020-4067 family) came from checking `::ffff:127.0.0.1` as IPv6.
 */
import { BlockList, isIP } from 'node:net'

/** Ranges denied unless explicitly allowed. */
export const SPECIAL_RANGES_V4 = [
  '0.0.0.0/8', // "this network", unspecified
  '10.0.0.0/8', // private
  '100.64.0.0/10', // carrier-grade NAT
  '127.0.0.0/8', // loopback
  '169.254.0.0/16', // link-local
  '172.16.0.0/12', // private
  '192.0.0.0/24', // IETF protocol assignments
  '192.168.0.0/16', // private
  '198.18.0.0/15', // benchmarking
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved, broadcast
]
export const SPECIAL_RANGES_V6 = [
  '::/128', // unspecified
  '::1/128', // loopback
  'fc00::/7', // unique local
  'fe80::/10', // link-local
  'ff00::/8', // multicast
  '64:ff9b::/96', // NAT64 (may embed a private IPv4)
  '2001:db8::/32', // documentation
]

/**
 * Normalize an IP literal: strip brackets and a zone id, turn IPv4-mapped (::ffff:a.b.c.d, also in hex
 * form ::ffff:7f00:1) and IPv4-compatible (::a.b.c.d) IPv6 into plain IPv4. Returns null for non-IPs.
 */
export function normalizeIp(input: string): { ip: string; family: 4 | 6 } | null {
  let s = input.trim()
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1)
  const pct = s.indexOf('%')
  if (pct >= 0) s = s.slice(0, pct)
  const fam = isIP(s)
  if (fam === 4) return { ip: s, family: 4 }
  if (fam !== 6) return null
  const words = expandV6(s)
  // ::ffff:0:0/96 (mapped) and ::/96 (compatible, deprecated but still routed by some stacks)
  const high = words.slice(0, 5).every((w) => w === 0)
  if (high && (words[5] === 0xffff || (words[5] === 0 && (words[6] !== 0 || words[7] > 1)))) {
    const v4 = `${words[6] >> 8}.${words[6] & 0xff}.${words[7] >> 8}.${words[7] & 0xff}`
    return { ip: v4, family: 4 }
  }
  return { ip: s.toLowerCase(), family: 6 }
}

function expandV6(s: string): number[] {
  // an embedded dotted quad at the end becomes two hex words (isIP() already validated the literal)
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s)
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number)
    s = s.slice(0, quad.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const split = s.split('::')
  const words = (part: string | undefined) => (part ? part.split(':').map((x) => parseInt(x, 16)) : [])
  const h = words(split[0])
  const r = words(split[1])
  return [...h, ...new Array(Math.max(0, 8 - h.length - r.length)).fill(0), ...r]
}

function addCidr(list: BlockList, cidr: string): void {
  const [addr, bits] = cidr.split('/')
  const n = normalizeIp(addr)
  if (!n) throw new Error(`not an IP range: ${cidr}`)
  const max = n.family === 4 ? 32 : 128
  let prefix = bits === undefined ? max : Number(bits)
  // a mapped IPv6 range (::ffff:10.0.0.0/104) becomes its IPv4 equivalent
  if (n.family === 4 && isIP(addr.replace(/^\[|\]$/g, '')) === 6 && prefix > 32) prefix -= 96
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) throw new Error(`bad prefix length in ${cidr}`)
  list.addSubnet(n.ip, prefix, n.family === 4 ? 'ipv4' : 'ipv6')
}

/** True when `s` is a valid CIDR ("10.0.0.0/8", "::1/128") or a single IP. */
export function isCidr(s: string): boolean {
  try {
    addCidr(new BlockList(), s)
    return true
  } catch {
    return false
  }
}

/** A set of CIDR ranges with IPv4-mapped normalization. */
export class IpSet {
  private readonly list = new BlockList()
  readonly size: number

  constructor(cidrs: readonly string[]) {
    for (const c of cidrs) addCidr(this.list, c)
    this.size = cidrs.length
  }

  has(ip: string): boolean {
    const n = normalizeIp(ip)
    if (!n) return false
    return this.list.check(n.ip, n.family === 4 ? 'ipv4' : 'ipv6')
  }
}

const special = new IpSet([...SPECIAL_RANGES_V4, ...SPECIAL_RANGES_V6])

/** True for loopback, private, link-local, unspecified, multicast and other special ranges. */
export function isSpecialAddress(ip: string): boolean {
  return special.has(ip)
}

const loopback = new IpSet(['127.0.0.0/8', '::1/128'])

/** True for a loopback IP literal or the name "localhost". */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  if (h === 'localhost' || h.endsWith('.localhost')) return true
  return loopback.has(h)
}

/**
 * The rule for a resolved peer or target IP: allowed when it is not special, or when an explicit allow
 * list covers it. A deny list always wins.
 */
export class PeerPolicy {
  private readonly allow: IpSet
  private readonly deny: IpSet

  constructor(opts: { allow?: readonly string[]; deny?: readonly string[] } = {}) {
    this.allow = new IpSet(opts.allow ?? [])
    this.deny = new IpSet(opts.deny ?? [])
  }

  /** null when allowed, otherwise a short reason. */
  check(ip: string): string | null {
    const n = normalizeIp(ip)
    if (!n) return 'not an IP address'
    if (this.deny.has(n.ip)) return `${n.ip} is in a denied range`
    if (isSpecialAddress(n.ip) && !this.allow.has(n.ip)) return `${n.ip} is a loopback, private, link-local or special address`
    return null
  }
}
