// PLACEHOLDER: replaced by the mixed-port implementation.
import type { ListenerInfo } from '../../src/core/service.js'
import type { ForwardContext, ForwardService, SocketAcceptor } from './context.js'

export class MixedListener implements ForwardService {
  constructor(
    readonly ctx: ForwardContext,
    readonly http: SocketAcceptor,
    readonly socks: SocketAcceptor,
  ) {}
  async listen(): Promise<ListenerInfo[]> {
    return []
  }
  async close(): Promise<void> {}
  async destroy(): Promise<void> {}
}
