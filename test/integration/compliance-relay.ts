/**
 * Relay drivers for the compliance suite: a TURN allocation, and one pairing over each pairing transport.
 * A pairing's record counts relayed payload: up = peer A to peer B, down = B to A. Peer B echoes, so
 * what A sent and got back is what the ledger must say.
 */
import { streamSession, type Driver, type OpenSession } from './compliance-session.js'
import { turnDriver } from './turn-compliance.js'
import { addr } from '../helpers/gateway.js'
import { connectPeer, mintToken } from '../../modes/index.js'
import type { Gateway } from '../../src/gateway.js'
import type { Duplex } from 'node:stream'

const SECRET = 'compliance-secret-0123'
let rooms = 0

function token(room: string): string {
  return mintToken({ secret: SECRET, room, ttlS: 300, nowMs: Date.now() })
}

function streamDriver(transport: 'tcp' | 'ws'): Driver {
  return {
    name: `relay pairing over ${transport}`,
    mode: 'relay',
    config: { relay: { pairing: { listen: '127.0.0.1:0', udp: false, secrets: [SECRET] } } },
    normalReasons: ['client_closed', 'target_closed'],
    async open(gw: Gateway): Promise<OpenSession> {
      const relay = { host: '127.0.0.1', port: addr(gw, 'pairing-tcp').port }
      const id = `compliance-${transport}-${++rooms}`
      const [a, b] = await Promise.all([
        connectPeer({ relay, id, token: token(id), transport, side: 'a' }),
        connectPeer({ relay, id, token: token(id), transport, side: 'b' }),
      ])
      b.on('error', () => undefined)
      a.on('error', () => undefined)
      b.pipe(b as Duplex) // B echoes, and ends when A ends
      return streamSession(a)
    },
  }
}

const udpDriver: Driver = {
  name: 'relay pairing over udp',
  mode: 'relay',
  // a UDP pairing has no close on the wire: it ends when both mappings fall silent
  config: { relay: { pairing: { listen: '127.0.0.1:0', secrets: [SECRET], udpIdleTimeoutMs: 300, idleTimeoutMs: 0 } } },
  normalReasons: ['VIADUCT_ERR_PAIR_MAPPING_EXPIRED'],
  async open(gw: Gateway): Promise<OpenSession> {
    const relay = { host: '127.0.0.1', port: addr(gw, 'pairing-udp').port }
    const id = `compliance-udp-${++rooms}`
    const [a, b] = await Promise.all([
      connectPeer({ relay, id, token: token(id), transport: 'udp', side: 'a', keepaliveMs: 100 }),
      connectPeer({ relay, id, token: token(id), transport: 'udp', side: 'b', keepaliveMs: 100 }),
    ])
    a.on('error', () => undefined)
    b.on('error', () => undefined)
    // the destroy check never ends these peers: they must not hold the test process open
    a.socket.unref()
    b.socket.unref()
    b.on('message', (m) => b.send(m))
    let up = 0
    let down = 0
    return {
      async roundTrip(data) {
        // one datagram per 1,000 bytes, each echoed; lost datagrams are resent (loopback rarely loses any)
        const parts: Buffer[] = []
        for (let off = 0; off < data.length; off += 1000) parts.push(data.subarray(off, off + 1000))
        const back: Buffer[] = []
        for (const p of parts) {
          for (let attempt = 0; ; attempt++) {
            const got = new Promise<Buffer | null>((resolve) => {
              const timer = setTimeout(() => resolve(null), 500)
              a.once('message', (m) => {
                clearTimeout(timer)
                resolve(m)
              })
            })
            a.send(p)
            up += p.length
            const m = await got
            if (m) {
              down += m.length
              back.push(m)
              break
            }
            if (attempt === 5) throw new Error('datagram lost 6 times')
          }
        }
        return Buffer.concat(back)
      },
      counts: () => ({ up, down }),
      async end() {
        a.close()
        b.close()
      },
      closed: Promise.resolve(),
    }
  },
}

export const drivers: Driver[] = [turnDriver, streamDriver('tcp'), streamDriver('ws'), udpDriver]
