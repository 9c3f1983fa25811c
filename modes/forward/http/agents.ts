/**
 * Pooled keep-alive connections to origins (and to an HTTP upstream proxy), for plain requests.
 *
 * A node:http Agent keyed by host:port whose createConnection goes through the forward Dialer, so every new
 * upstream connection is resolved, checked against the access policy (private ranges, our own listeners)
 * and mapped to a forward error code. A reused connection was checked when it was opened, for the same
 * host:port.
 */
import { Agent, type AgentOptions } from 'node:http'
import type { Socket } from 'node:net'
import { ViaductError } from '../../../src/core/errors.js'
import { connectOnce, mapDialError, type Dialer, type HttpUpstream } from '../dial.js'
import { ForwardErrors } from '../errors.js'

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

export class UpstreamPools {
  readonly direct: Agent
  private readonly proxies = new Map<string, Agent>()

  constructor(
    private readonly dialer: Dialer,
    private readonly connectTimeoutMs: number,
  ) {
    this.direct = new DialingAgent(AGENT_OPTIONS, async (host, port) => (await dialer.dial({ host, port })).socket)
  }

  /** The pool of connections to an HTTP upstream proxy (absolute-form requests go there). */
  forProxy(up: HttpUpstream): Agent {
    const key = `${up.host}:${up.port}`
    let a = this.proxies.get(key)
    if (!a) {
      a = new DialingAgent(AGENT_OPTIONS, async (host, port) => {
        try {
          return await connectOnce(host, port, this.connectTimeoutMs)
        } catch (err) {
          const mapped = mapDialError(err, `upstream proxy ${host}:${port}`)
          throw new ViaductError(ForwardErrors.VIADUCT_ERR_UPSTREAM_FAILED, mapped.message, { cause: err })
        }
      })
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
  }
}
