/**
 * What every forward listener (HTTP, SOCKS, mixed) shares: the core, the config section, access rules,
 * users, the dialer (direct or through an upstream), and one connection limit over all of them.
 */
import type { Socket } from 'node:net'
import type { Core } from '../../src/mode.js'
import type { ListenerInfo } from '../../src/core/service.js'
import type { AccessPolicy } from './access.js'
import type { ProxyAuth } from './auth.js'
import type { ForwardConfig } from './config.js'
import type { Dialer } from './dial.js'

export const MODE_NAME = 'forward'

export interface ForwardContext {
  core: Core
  config: ForwardConfig
  policy: AccessPolicy
  auth: ProxyAuth
  dialer: Dialer
  limiter: ConnectionLimiter
}

/** One forward listener (or a protocol handler the mixed port hands sockets to). */
export interface ForwardService {
  listen(): Promise<ListenerInfo[]>
  /** Stop accepting, wait for its connections to end. Safe twice. */
  close(): Promise<void>
  /** End its connections now with reason "shutdown". Safe twice. */
  destroy(err?: Error): Promise<void>
}

/** A protocol handler that can take over an accepted socket (used by the mixed port). */
export interface SocketAcceptor {
  /** `listener` labels the ledger record ("mixed"). The socket has not been read from yet (bytes were unshifted). */
  accept(socket: Socket, listener: string): void
}

/** Counts client connections over every forward listener against forward.limits.maxConnections. */
export class ConnectionLimiter {
  private n = 0

  constructor(private readonly max: number) {}

  /** Count a socket in; returns false (and counts nothing) when the limit is reached. */
  tryAcquire(socket: Socket): boolean {
    if (this.max > 0 && this.n >= this.max) return false
    this.n++
    socket.once('close', () => this.n--)
    return true
  }

  get active(): number {
    return this.n
  }
}
