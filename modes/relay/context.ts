/** What the relay's services (pairing relay, STUN/TURN) share. */
import type { Core } from '../../src/mode.js'
import type { ListenerInfo } from '../../src/core/service.js'
import type { RelayConfig } from './config.js'

export const MODE_NAME = 'relay'

export interface RelayContext {
  core: Core
  config: RelayConfig
}

/** One relay service with its own listeners. */
export interface RelayService {
  listen(): Promise<ListenerInfo[]>
  /** Stop accepting, wait for its sessions to end. Safe twice. */
  close(): Promise<void>
  /** End its sessions now with reason "shutdown". Safe twice. */
  destroy(err?: Error): Promise<void>
}
