// PLACEHOLDER: replaced by the HTTP proxy implementation.
import type { Socket } from 'node:net'
import type { ListenerInfo } from '../../../src/core/service.js'
import type { ForwardContext, ForwardService, SocketAcceptor } from '../context.js'

export class HttpProxy implements ForwardService, SocketAcceptor {
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
