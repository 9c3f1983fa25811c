/**
 * Pooled keep-alive connections to origins (and to an HTTP upstream proxy), for plain requests.
 *
 * Two pools side by side (see dispatch.ts for why): undici Agents for bodiless requests, and node:http
 * Agents for requests with a body or `Expect`. Both are keyed by host:port, and both open every connection
 * through the forward Dialer, so every new upstream connection is resolved, checked against the access
 * policy (private ranges, our own listeners) and mapped to a forward error code. A reused connection was
 * checked when it was opened, for the same host:port.
 */
import { Agent, type AgentOptions } from 'node:http'
import type { Socket } from 'node:net'
import { createRequire } from 'node:module'
import type { Agent as UndiciAgent, buildConnector } from 'undici'
import { ViaductError } from '../../../src/core/errors.js'
import { connectOnce, mapDialError, type Dialer, type HttpUpstream } from '../dial.js'
import { ForwardErrors } from '../errors.js'

/** Upstream servers whose HTTP version (other than 1.1) is remembered for Via. */
export const MAX_VERSION_ENTRIES = 1024
/** Idle upstream connections kept per host:port. */
export const MAX_FREE_SOCKETS_PER_HOST = 64
/** An idle pooled connection is closed after this long (unless the origin's Keep-Alive hint is shorter). */
export const FREE_SOCKET_TIMEOUT_MS = 15_000

type CreateConnection = (opts: { host?: string | null; port?: number | string | null }, cb: (err: Error | null, socket?: Socket) => void) => Socket | undefined

class DialingAgent extends Agent {
  constructor(
    opts: AgentOptions,
    private readonly open: (host: string, port: number) => Promise<Socket>,
  ) {
    super(opts)
    // node's Agent accepts an asynchronous createConnection: return nothing, call back with the socket
    ;(this as unknown as { createConnection: CreateConnection }).createConnection = (o, cb) => {
      const host = String(o.host ?? '')
      const port = Number(o.port)
      this.open(host, port).then(
        (s) => {
          // what net.createConnection does with the Agent's `timeout` option (ours dials itself): the socket
          // starts with the pool timeout, so a request whose own `timeout` equals it is still timed
          if (opts.timeout) s.setTimeout(opts.timeout)
          cb(null, s)
        },
        (e) => cb(e as Error),
      )
      return undefined
    }
  }
}

const AGENT_OPTIONS: AgentOptions = {
  keepAlive: true,
  maxFreeSockets: MAX_FREE_SOCKETS_PER_HOST,
  scheduling: 'lifo',
  timeout: FREE_SOCKET_TIMEOUT_MS,
}

/**
 * The HTTP version of the first response on a connection ("HTTP/1.0 200 OK" gives "1.0"), or undefined when
 * the bytes do not start with a status line.
 */
export function statusLineVersion(chunk: Buffer): string | undefined {
  if (chunk.length < 8 || chunk.toString('latin1', 0, 5) !== 'HTTP/') return undefined
  const v = chunk.toString('latin1', 5, 8)
  return /^[0-9]\.[0-9]$/.test(v) ? v : undefined
}

/**
 * Remember the HTTP version `key` ("host:port") answered in, when it is not 1.1 (forget it when it is).
 * Bounded: beyond MAX_VERSION_ENTRIES the oldest entry goes first.
 */
export function noteVersion(versions: Map<string, string>, key: string, firstChunk: Buffer): void {
  const v = statusLineVersion(firstChunk)
  if (v && v !== '1.1') {
    if (versions.size >= MAX_VERSION_ENTRIES && !versions.has(key)) versions.delete(versions.keys().next().value as string)
    versions.set(key, v)
  } else if (versions.size > 0) versions.delete(key)
}

/**
 * undici's connector over our own dial function (the callback gets a plain TCP socket, or the dial error).
 * undici does not tell a response's HTTP version, which Via must name (RFC 9110 §7.6.3); the first bytes a
 * connection receives do, and an origin keeps its version. Only versions other than 1.1 are remembered, so
 * the map stays empty for today's origins.
 */
function connector(open: (host: string, port: number) => Promise<Socket>, versions: Map<string, string>): buildConnector.connector {
  return (o, cb) => {
    const port = Number(o.port) || 80
    open(o.hostname, port).then(
      (s) => {
        const key = `${o.hostname}:${port}`
        cb(null, s)
        // Once undici's 'readable' listener is in place (it attaches after this callback, in a promise job),
        // each of its read() calls also emits 'data': this listener sees the first chunk without taking it.
        // Attached earlier, it would switch the socket to flowing mode and could take bytes from undici.
        setImmediate(() => {
          if (s.destroyed) return
          s.once('data', (chunk: Buffer) => noteVersion(versions, key, chunk))
        })
      },
      (e: Error) => cb(e, null),
    )
  }
}

/**
 * undici, loaded on the first bodiless request rather than at start: it adds about 20 MiB to the process
 * (its HTTP parser is WebAssembly), which a gateway that only tunnels, relays or serves TURN never needs.
 * It is a CommonJS package, so `require` loads it synchronously.
 */
let undici: typeof import('undici') | undefined
function loadUndici(): typeof import('undici') {
  undici ??= createRequire(import.meta.url)('undici') as typeof import('undici')
  return undici
}

function undiciAgent(open: (host: string, port: number) => Promise<Socket>, versions: Map<string, string>): UndiciAgent {
  return new (loadUndici().Agent)({
    connect: connector(open, versions),
    keepAliveTimeout: FREE_SOCKET_TIMEOUT_MS,
    keepAliveMaxTimeout: FREE_SOCKET_TIMEOUT_MS,
    // the request's own timeouts are set per dispatch (dispatch.ts)
    headersTimeout: 0,
    bodyTimeout: 0,
  })
}

export class UpstreamPools {
  readonly direct: Agent
  /** undici's pools for bodiless requests straight to origins. */
  private directDispatcher: UndiciAgent | undefined
  private readonly dialOrigin: (host: string, port: number) => Promise<Socket>
  private readonly proxies = new Map<string, Agent>()
  private readonly proxyDispatchers = new Map<string, UndiciAgent>()
  /** "host:port" of upstream servers that answered in another HTTP version than 1.1, and that version. */
  private readonly versions = new Map<string, string>()

  constructor(
    private readonly dialer: Dialer,
    private readonly connectTimeoutMs: number,
  ) {
    const dialOrigin = async (host: string, port: number) => (await dialer.dial({ host, port })).socket
    this.direct = new DialingAgent(AGENT_OPTIONS, dialOrigin)
    this.dialOrigin = dialOrigin
  }

  private dialProxy = async (host: string, port: number): Promise<Socket> => {
    try {
      return await connectOnce(host, port, this.connectTimeoutMs)
    } catch (err) {
      const mapped = mapDialError(err, `upstream proxy ${host}:${port}`)
      throw new ViaductError(ForwardErrors.VIADUCT_ERR_UPSTREAM_FAILED, mapped.message, { cause: err })
    }
  }

  /** The HTTP version `host:port` answers in (for Via). */
  responseVersion(host: string, port: number): string {
    return this.versions.size === 0 ? '1.1' : (this.versions.get(`${host}:${port}`) ?? '1.1')
  }

  /** undici's pools for bodiless requests in absolute form to an HTTP upstream proxy. */
  /** undici's pools for bodiless requests straight to origins (made, and undici loaded, on first use). */
  get dispatcher(): UndiciAgent {
    this.directDispatcher ??= undiciAgent(this.dialOrigin, this.versions)
    return this.directDispatcher
  }

  dispatcherForProxy(up: HttpUpstream): UndiciAgent {
    const key = `${up.host}:${up.port}`
    let a = this.proxyDispatchers.get(key)
    if (!a) {
      a = undiciAgent(this.dialProxy, this.versions)
      this.proxyDispatchers.set(key, a)
    }
    return a
  }

  /** The pool of connections to an HTTP upstream proxy (absolute-form requests go there). */
  forProxy(up: HttpUpstream): Agent {
    const key = `${up.host}:${up.port}`
    let a = this.proxies.get(key)
    if (!a) {
      a = new DialingAgent(AGENT_OPTIONS, this.dialProxy)
      this.proxies.set(key, a)
    }
    return a
  }

  httpUpstreamFor(host: string, port: number): HttpUpstream | undefined {
    return this.dialer.httpUpstreamFor?.(host, port)
  }

  destroy(): void {
    this.direct.destroy()
    for (const a of this.proxies.values()) a.destroy()
    this.proxies.clear()
    // undici's destroy returns a promise that settles when its sockets are closed; nothing waits on it
    const all = [...this.proxyDispatchers.values()]
    if (this.directDispatcher) all.push(this.directDispatcher)
    for (const a of all) a.destroy().catch(() => undefined)
    this.proxyDispatchers.clear()
  }
}
