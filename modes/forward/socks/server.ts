// PLACEHOLDER: replaced by the SOCKS server implementation.
import type { Socket } from 'node:net'
import type { ListenerInfo } from '../../../src/core/service.js'
import type { ForwardContext, ForwardService, SocketAcceptor } from '../context.js'

export class SocksServer implements ForwardService, SocketAcceptor {
  constructor(readonly ctx: ForwardContext) {}
  async listen(): Promise<ListenerInfo[]> {
    return []
  }
  accept(socket: Socket, _listener: string): void {
    socket.destroy()
  }
  async close(): Promise<void> {}
  async destroy(): Promise<void> {}
}
