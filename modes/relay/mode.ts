/**
 * The relay mode: the pairing relay (our own peers, TCP/UDP/WebSocket) and the STUN/TURN server
 * (browsers' WebRTC), side by side over one ledger.
 */
import type { Core, Mode } from '../../src/mode.js'
import type { ListenerInfo } from '../../src/core/service.js'
import { once } from '../../src/core/service.js'
import type { RelayConfig } from './config.js'
import { MODE_NAME, type RelayContext, type RelayService } from './context.js'
import { PairingRelay } from './pairing/server.js'
import { TurnServer } from './turn/server.js'

export class RelayMode implements Mode {
  readonly name = MODE_NAME
  readonly ctx: RelayContext
  private readonly services: RelayService[] = []

  constructor(core: Core, config: RelayConfig) {
    this.ctx = { core, config }
    if (config.pairing.listen) this.services.push(new PairingRelay(this.ctx))
    if (config.turn.listen || config.turn.tls.listen) this.services.push(new TurnServer(this.ctx))
  }

  async listen(): Promise<ListenerInfo[]> {
    // Safe defaults refuse everyone; say so once at start instead of leaving a user to wonder why.
    const { pairing, turn } = this.ctx.config
    if (pairing.listen && pairing.secrets.length === 0) {
      this.ctx.core.log.warn({ event: 'config.warning', key: 'relay.pairing.secrets' }, 'pairing relay has no secret: every registration is refused until --relay-secret is set')
    }
    if ((turn.listen || turn.tls.listen) && turn.users.length === 0 && turn.secrets.length === 0) {
      this.ctx.core.log.warn({ event: 'config.warning', key: 'relay.turn.users' }, 'TURN has no users or secrets: Binding works, every Allocate gets 401 until --turn-user or --turn-secret is set')
    }
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
