/**
 * `viaduct peer --send FILE` / `--receive FILE`: a file over a paired stream with a hash check.
 *
 *   sender -> receiver:  "VDF1" | size u64 BE | size bytes of file | SHA-256 of the file (32 bytes)
 *   receiver -> sender:  ok u8 (1 = hash matches) | SHA-256 the receiver computed (32 bytes)
 *
 * Streamed both ways with backpressure; nothing is held beyond one chunk.
 */
import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { once } from 'node:events'
import type { Duplex } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { Transform } from 'node:stream'

const MAGIC = Buffer.from('VDF1')

export interface TransferResult {
  bytes: number
  sha256: string
  ok: boolean
}

export async function sendFile(stream: Duplex, file: string): Promise<TransferResult> {
  const size = (await stat(file)).size
  const head = Buffer.alloc(12)
  MAGIC.copy(head, 0)
  head.writeBigUInt64BE(BigInt(size), 4)
  const hash = createHash('sha256')
  const ackChunks: Buffer[] = []
  let ackLen = 0
  const ack = new Promise<Buffer>((resolve, reject) => {
    stream.on('data', (c: Buffer) => {
      ackChunks.push(c)
      ackLen += c.length
      if (ackLen >= 33) resolve(Buffer.concat(ackChunks).subarray(0, 33))
    })
    stream.once('end', () => reject(new Error('the receiver closed without confirming the hash')))
    stream.once('error', reject)
  })
  ack.catch(() => undefined)
  if (!stream.write(head)) await once(stream, 'drain')
  const hasher = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk)
      cb(null, chunk)
    },
  })
  await pipeline(createReadStream(file), hasher, async function* (src: AsyncIterable<Buffer>) {
    for await (const c of src) {
      if (!stream.write(c)) await once(stream, 'drain')
    }
  })
  const digest = hash.digest()
  stream.write(digest)
  const a = await ack
  const theirs = a.subarray(1, 33)
  return { bytes: size, sha256: digest.toString('hex'), ok: a[0] === 1 && theirs.equals(digest) }
}

export async function receiveFile(stream: Duplex, file: string): Promise<TransferResult> {
  const out = createWriteStream(file)
  const hash = createHash('sha256')
  let head = Buffer.alloc(0)
  let size = -1n
  let got = 0n
  let trailer = Buffer.alloc(0)
  await new Promise<void>((resolve, reject) => {
    const onData = (c: Buffer) => {
      if (size < 0n) {
        head = Buffer.concat([head, c])
        if (head.length < 12) return
        if (!head.subarray(0, 4).equals(MAGIC)) return reject(new Error('the sender does not speak the file transfer format (VDF1)'))
        size = head.readBigUInt64BE(4)
        c = head.subarray(12)
      }
      const left = size - got
      const body = BigInt(c.length) <= left ? c : c.subarray(0, Number(left))
      if (body.length) {
        got += BigInt(body.length)
        hash.update(body)
        if (!out.write(body)) {
          stream.pause()
          out.once('drain', () => stream.resume())
        }
      }
      if (body.length < c.length) trailer = Buffer.concat([trailer, c.subarray(body.length)])
      if (got === size && trailer.length >= 32) {
        stream.off('data', onData)
        resolve()
      }
    }
    stream.on('data', onData)
    stream.once('end', () => reject(new Error(`the sender closed after ${got} of ${size < 0n ? '?' : size} bytes`)))
    stream.once('error', reject)
  })
  out.end()
  await once(out, 'close')
  const digest = hash.digest()
  const ok = digest.equals(trailer.subarray(0, 32))
  const ack = Buffer.alloc(33)
  ack[0] = ok ? 1 : 0
  digest.copy(ack, 1)
  stream.end(ack)
  return { bytes: Number(got), sha256: digest.toString('hex'), ok }
}
