/**
 * The admin server: one node:http listener (default 127.0.0.1:8081) with the metrics, the JSON API, the
 * event stream, the PAC file, health checks and the dashboard. It is a gateway extension: it reads the
 * ledger, the configuration (as plain data) and the listener list, and knows no mode.
 *
 * Endpoints (docs/admin.md): GET /metrics, /api/sessions, /api/sessions/ID, /api/stats, /api/events,
 * /proxy.pac, /healthz, /readyz, / and /ui/*.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { isViaductError, ViaductError } from '../core/errors.js'
import type { Ledger, SessionRecord } from '../core/ledger.js'
import type { Logger } from '../core/log.js'
import { isLoopbackHost } from '../core/net-policy.js'
import { ConnectionSet, formatHostPort, listenTcp, once, stopAccepting, type HostPort, type ListenerInfo } from '../core/service.js'
import type { Clock } from '../core/clock.js'
import type { Extension } from '../gateway.js'
import { loopbackHostHeader, presentedToken, tokenMatches, hostOfHeader, tokenCookie } from './auth.js'
import { AdminErrors } from './errors.js'
import { LiveFeed, type FeedOptions } from './feed.js'
import { createMetrics, type AdminMetrics } from './metrics.js'
import { buildPac, type PacInput } from './pac.js'
import { loadUi, type StaticFile } from './ui.js'

export const DEFAULT_SESSIONS_LIMIT = 200
export const MAX_SESSIONS_LIMIT = 5000

/** What the admin server needs from the gateway (the Gateway class satisfies it). */
export interface AdminHost {
  readonly ledger: Ledger
  readonly core: { clock: Clock; log: Logger }
  readonly config: Readonly<Record<string, unknown>>
  readonly definitions: ReadonlyArray<{ name: string }>
  addresses(): readonly ListenerInfo[]
  /** 'listening' once every mode listens; 'closing' while draining. */
  readonly phase?: string
}

export interface AdminOptions {
  listen: HostPort
  token?: string
  /** prom-client default metrics (process, heap, event-loop lag); on by default. */
  defaultMetrics?: boolean
  feed?: FeedOptions
}

type Obj = Record<string, unknown>

function obj(v: unknown): Obj {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {}
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []
}

export class AdminServer implements Extension {
  readonly name = 'admin'
  private readonly server: Server
  private readonly conns = new ConnectionSet()
  private readonly metrics: AdminMetrics
  readonly feed: LiveFeed
  private readonly ui: Map<string, StaticFile>
  private readonly startedAt: number
  private closing = false
  private bound: ListenerInfo | undefined

  constructor(
    private readonly host: AdminHost,
    private readonly opts: AdminOptions,
  ) {
    this.metrics = createMetrics(host.ledger, { defaultMetrics: opts.defaultMetrics })
    this.feed = new LiveFeed(host.ledger, host.core.clock, { ...opts.feed, onDrop: () => this.metrics.sseDropped.inc() })
    this.ui = loadUi()
    this.startedAt = host.core.clock.now()
    this.server = createServer((req, res) => this.handle(req, res))
    this.server.on('connection', (s: Socket) => this.conns.add(s))
    this.server.on('clientError', (_err, sock: Socket) => {
      if (sock.writable) sock.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      else sock.destroy()
    })
    this.server.headersTimeout = 10_000
    this.server.requestTimeout = 30_000
  }

  async listen(): Promise<ListenerInfo[]> {
    const { listen, token } = this.opts
    if (!isLoopbackHost(listen.host) && !token) {
      this.stopFeeds()
      throw new ViaductError(
        AdminErrors.VIADUCT_ERR_ADMIN_EXPOSED,
        `the admin server would listen on ${formatHostPort(listen.host, listen.port)} without a token; set admin.token (--admin-token, 16+ characters) or listen on loopback`,
      )
    }
    try {
      const a = await listenTcp(this.server, listen)
      this.bound = { ...a, listener: 'admin', transport: 'tcp', mode: 'admin' }
    } catch (err) {
      this.stopFeeds()
      throw err
    }
    return [this.bound]
  }

  /** The base URL of the dashboard ("http://127.0.0.1:8081/"), after listen. */
  url(): string | undefined {
    if (!this.bound) return undefined
    const wild = this.bound.address === '0.0.0.0' || this.bound.address === '::'
    return `http://${formatHostPort(wild ? '127.0.0.1' : this.bound.address, this.bound.port)}/`
  }

  close = once(async (): Promise<void> => {
    this.closing = true
    this.stopFeeds()
    await stopAccepting(this.server)
    this.conns.destroyAll()
    await this.conns.idle()
  })

  private stopFeeds(): void {
    this.feed.stop()
    this.metrics.stop()
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    let url: URL
    try {
      url = new URL(req.url ?? '/', 'http://admin.invalid')
    } catch {
      return this.error(res, new ViaductError(AdminErrors.VIADUCT_ERR_ADMIN_BAD_REQUEST, 'bad request target'))
    }
    res.setHeader('cache-control', 'no-store')
    res.setHeader('x-content-type-options', 'nosniff')
    const path = url.pathname
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD')
      return this.json(res, 405, { error: { code: 'method_not_allowed', message: `${req.method} is not allowed; the admin API is read-only` } })
    }
    // Liveness stays open (documented): it tells nothing but "the process answers".
    if (path === '/healthz') return this.text(res, 200, 'ok\n')
    const token = this.opts.token
    if (token) {
      if (!tokenMatches(presentedToken(req, url), token)) {
        res.setHeader('www-authenticate', 'Bearer realm="viaduct-admin"')
        return this.error(res, new ViaductError(AdminErrors.VIADUCT_ERR_ADMIN_UNAUTHORIZED))
      }
    } else if (!loopbackHostHeader(req.headers.host)) {
      return this.error(res, new ViaductError(AdminErrors.VIADUCT_ERR_ADMIN_HOST, `Host "${req.headers.host}" is not a loopback name; use http://127.0.0.1:PORT/ or set admin.token`))
    }
    try {
      this.route(req, res, url)
    } catch (err) {
      this.error(res, err)
    }
  }

  private route(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const path = url.pathname
    if (path === '/readyz') {
      const ready = !this.closing && (this.host.phase === undefined || this.host.phase === 'listening')
      return this.text(res, ready ? 200 : 503, ready ? 'ready\n' : 'not ready\n')
    }
    if (path === '/metrics') {
      void this.metrics.render().then(
        (body) => this.send(res, 200, this.metrics.registry.contentType, body),
        (err) => this.error(res, err),
      )
      return
    }
    if (path === '/api/stats') return this.json(res, 200, this.stats())
    if (path === '/api/sessions') return this.json(res, 200, this.sessions(url))
    if (path.startsWith('/api/sessions/')) {
      const r = this.host.ledger.get(decodeURIComponent(path.slice('/api/sessions/'.length)))
      if (!r) throw new ViaductError(AdminErrors.VIADUCT_ERR_ADMIN_NOT_FOUND, 'no such session (it may have left the history)')
      return this.json(res, 200, r)
    }
    if (path === '/api/events') {
      if (req.method === 'HEAD') return this.send(res, 200, 'text/event-stream; charset=utf-8', '')
      this.feed.attach(res)
      return
    }
    if (path === '/proxy.pac') {
      return this.send(res, 200, 'application/x-ns-proxy-autoconfig', buildPac(this.pacInput(req.headers.host)))
    }
    const file = this.ui.get(path)
    if (file) {
      // A page loaded with ?token= hands the token to its own CSS, script and API calls as a cookie.
      if (this.opts.token && url.searchParams.has('token')) res.setHeader('set-cookie', tokenCookie(this.opts.token))
      res.setHeader('content-security-policy', "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
      return this.send(res, 200, file.type, file.body)
    }
    if (path === '/' && this.ui.size === 0) return this.text(res, 500, 'the dashboard files (src/admin/ui/) are missing from this installation; the API works\n')
    throw new ViaductError(AdminErrors.VIADUCT_ERR_ADMIN_NOT_FOUND, `no endpoint ${path}`)
  }

  /** GET /api/stats */
  stats() {
    const listeners = this.host.addresses().map((l) => ({ mode: l.mode, listener: l.listener, transport: l.transport, address: l.address, port: l.port }))
    return {
      now: this.host.core.clock.now(),
      startedAt: this.startedAt,
      modes: this.host.definitions.map((d) => d.name),
      listeners,
      ...this.feed.stats(),
      throughput: this.feed.throughput(),
    }
  }

  /** GET /api/sessions?mode=&state=live|recent|all&limit= */
  sessions(url: URL): { sessions: SessionRecord[] } {
    const mode = url.searchParams.get('mode') || undefined
    const state = url.searchParams.get('state') ?? 'all'
    if (!['live', 'recent', 'all'].includes(state)) {
      throw new ViaductError(AdminErrors.VIADUCT_ERR_ADMIN_BAD_REQUEST, 'state must be live, recent or all')
    }
    const limitStr = url.searchParams.get('limit')
    const limit = limitStr === null ? DEFAULT_SESSIONS_LIMIT : Number(limitStr)
    if (!Number.isInteger(limit) || limit < 0 || limit > MAX_SESSIONS_LIMIT) {
      throw new ViaductError(AdminErrors.VIADUCT_ERR_ADMIN_BAD_REQUEST, `limit must be an integer from 0 to ${MAX_SESSIONS_LIMIT}`)
    }
    const out: SessionRecord[] = []
    if (state !== 'recent') out.push(...this.host.ledger.live(mode).slice(0, limit))
    if (state !== 'live') out.push(...this.host.ledger.recent(mode, limit))
    return { sessions: out }
  }

  /**
   * What the PAC file says, from the config (plain data) and the actual listeners. A wildcard listen
   * address is replaced by the host name the browser used to fetch the PAC file.
   */
  pacInput(hostHeader: string | undefined): PacInput {
    const fwd = obj(this.host.config.forward)
    const access = obj(fwd.access)
    const browserHost = hostHeader ? hostOfHeader(hostHeader) : '127.0.0.1'
    const pick = (label: string) => {
      const l = this.host.addresses().find((x) => x.listener === label && x.transport === 'tcp')
      if (!l) return undefined
      const wild = l.address === '0.0.0.0' || l.address === '::'
      return { host: wild ? browserHost : l.address, port: l.port }
    }
    const mixed = pick('mixed')
    return {
      http: pick('http') ?? mixed,
      socks: pick('socks') ?? mixed,
      allowHosts: strings(access.allowHosts),
      denyHosts: strings(access.denyHosts),
      allowPrivate: strings(access.allowPrivate),
    }
  }

  private send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
    if (res.headersSent) return void res.end()
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) })
    res.end(res.req.method === 'HEAD' ? undefined : body)
  }

  private text(res: ServerResponse, status: number, body: string): void {
    this.send(res, status, 'text/plain; charset=utf-8', body)
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    this.send(res, status, 'application/json; charset=utf-8', JSON.stringify(body))
  }

  private error(res: ServerResponse, err: unknown): void {
    if (isViaductError(err)) {
      return this.json(res, err.wire.http ?? 500, { error: { code: err.code, message: err.message } })
    }
    this.host.core.log.error({ event: 'error', err }, 'admin request failed')
    this.json(res, 500, { error: { code: 'internal', message: 'internal error' } })
  }
}
