/**
 * What the compliance suite (compliance.test.ts) and its drivers share: the driver contract and a
 * session over any byte stream. Kept out of the .test.ts file so drivers can import values from it.
 */
import { once } from 'node:events'
import type { Duplex } from 'node:stream'
import type { Gateway } from '../../src/gateway.js'

export interface Echo {
  tcpPort: number
  udpPort: number
}

export interface OpenSession {
  /** Send `data` and resolve once as many bytes came back. */
  roundTrip(data: Buffer): Promise<Buffer>
  /** Bytes the client side wrote and read so far (what the ledger must say). */
  counts(): { up: number; down: number }
  /** End the session normally. */
  end(): Promise<void>
  /** Resolves when the client side sees the session closed (after destroy). */
  closed: Promise<unknown>
}

export interface Driver {
  name: string
  mode: string
  config: Record<string, unknown>
  open(gw: Gateway, echo: Echo): Promise<OpenSession>
  /** Reasons a normal end may record. */
  normalReasons: string[]
}

/**
 * A session over a stream whose far end echoes. `counts` defaults to the payload this session wrote and
 * read; a TCP client passes its socket's own counters (handshake bytes included, as the ledger counts).
 */
export function streamSession(stream: Duplex, counts?: () => { up: number; down: number }): OpenSession {
  const closed = once(stream, 'close').catch(() => undefined)
  stream.on('error', () => undefined)
  let up = 0
  let down = 0
  return {
    async roundTrip(data) {
      const chunks: Buffer[] = []
      let n = 0
      const got = new Promise<Buffer>((resolve) => {
        const onData = (d: Buffer) => {
          chunks.push(d)
          n += d.length
          down += d.length
          if (n >= data.length) {
            stream.off('data', onData)
            resolve(Buffer.concat(chunks))
          }
        }
        stream.on('data', onData)
      })
      stream.write(data)
      up += data.length
      return got
    },
    counts: counts ?? (() => ({ up, down })),
    async end() {
      stream.end()
      stream.resume()
      await closed
    },
    closed,
  }
}
