/**
 * The TURN driver for the shared compliance suite (compliance.test.ts): one allocation over TCP with a
 * channel bound to the suite's UDP echo. The ledger counts relayed payload (to and from peers), which is
 * what the client sent and got back as ChannelData. Register it in compliance-relay.ts's `drivers`.
 */
import { once } from 'node:events'
import type { Driver } from './compliance-session.js'
import { addr } from '../helpers/gateway.js'
import { TurnClient } from '../../modes/relay/turn/client.js'

const CHUNK = 1200

export const turnDriver: Driver = {
  name: 'relay turn (TCP client, UDP relay, ChannelData)',
  mode: 'relay',
  config: { relay: { turn: { listen: '127.0.0.1:0', users: ['comp:liance'], allowPeers: ['127.0.0.0/8'] } } },
  normalReasons: ['deleted', 'client_closed'],
  async open(gw, echo) {
    const c = await TurnClient.connect({ host: '127.0.0.1', port: addr(gw, 'turn-tcp').port, transport: 'tcp', username: 'comp', password: 'liance' })
    const closed = once(c, 'close').catch(() => undefined)
    c.on('error', () => undefined)
    await c.allocate()
    const peer = { family: 4 as const, address: '127.0.0.1', port: echo.udpPort }
    await c.channelBind(0x4000, peer)
    let up = 0
    let down = 0
    return {
      async roundTrip(data) {
        const parts: Buffer[] = []
        let n = 0
        const got = new Promise<Buffer>((resolve) => {
          const onData = (d: Buffer) => {
            parts.push(d)
            n += d.length
            down += d.length
            if (n >= data.length) {
              c.off('data', onData)
              resolve(Buffer.concat(parts))
            }
          }
          c.on('data', onData)
        })
        for (let off = 0; off < data.length; off += CHUNK) {
          const piece = data.subarray(off, off + CHUNK)
          c.sendChannel(0x4000, piece)
          up += piece.length
        }
        return got
      },
      counts: () => ({ up, down }),
      async end() {
        await c.refresh(0)
        await c.close()
      },
      closed,
    }
  },
}
