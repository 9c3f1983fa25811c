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
