/**
 * The forward proxy mode: an HTTP proxy, a SOCKS4/4a/5 server and an optional mixed port, over one
 * set of access rules, users, dialer and connection limit.
 */
import type { Core, Mode } from '../../src/mode.js'
import type { ListenerInfo } from '../../src/core/service.js'
import { once } from '../../src/core/service.js'
import { AccessPolicy } from './access.js'
import { ProxyAuth } from './auth.js'
import type { ForwardConfig } from './config.js'
import { ConnectionLimiter, MODE_NAME, type ForwardContext, type ForwardService } from './context.js'
import { DirectDialer } from './dial.js'
import { createDialer } from './upstream/index.js'
import { HttpProxy } from './http/proxy.js'
import { SocksServer } from './socks/server.js'
import { MixedListener } from './mixed.js'

export class ForwardMode implements Mode {
  readonly name = MODE_NAME
  readonly ctx: ForwardContext
  private readonly services: ForwardService[] = []

  constructor(core: Core, config: ForwardConfig) {
    const policy = new AccessPolicy(config.access, core.self)
    const direct = new DirectDialer({ policy, connectTimeoutMs: config.limits.connectTimeoutMs })
    this.ctx = {
      core,
      config,
      policy,
      auth: new ProxyAuth(config.users),
      dialer: createDialer(config, direct, policy),
      limiter: new ConnectionLimiter(config.limits.maxConnections),
    }
    const http = new HttpProxy(this.ctx)
    const socks = new SocksServer(this.ctx)
    // a handler also serves the mixed port's sockets, so it is closed with the mode even when its own
    // listener is off (its listen() then opens nothing)
    if (config.http.listen || config.mixed.listen) this.services.push(http)
    if (config.socks.listen || config.mixed.listen) this.services.push(socks)
    if (config.mixed.listen) this.services.push(new MixedListener(this.ctx, http, socks))
  }

  async listen(): Promise<ListenerInfo[]> {
    const out: ListenerInfo[] = []
    try {
      for (const s of this.services) out.push(...(await s.listen()))
    } catch (err) {
      await this.destroy(err as Error)
      throw err
    }
    return out
  }

  close = once(async () => {
    await Promise.all(this.services.map((s) => s.close()))
  })

  destroy = once(async (err?: Error) => {
    await Promise.all(this.services.map((s) => s.destroy(err)))
  })
}
