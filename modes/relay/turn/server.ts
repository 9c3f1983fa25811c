// PLACEHOLDER: replaced by the TurnServer implementation.
import type { ListenerInfo } from '../../../src/core/service.js'
import type { RelayContext, RelayService } from '../context.js'

export class TurnServer implements RelayService {
  constructor(readonly ctx: RelayContext) {}
  async listen(): Promise<ListenerInfo[]> {
    return []
  }
  async close(): Promise<void> {}
  async destroy(): Promise<void> {}
}
