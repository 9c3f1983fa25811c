/** Small clients for the admin tests: GET with headers, and an SSE reader. Not a test file. */
import { request, type IncomingMessage } from 'node:http'

export interface Got {
  status: number
  headers: IncomingMessage['headers']
  body: string
}

export function get(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

export async function getJson<T = any>(url: string, headers: Record<string, string> = {}): Promise<T> {
  const r = await get(url, headers)
  if (r.status !== 200) throw new Error(`${url}: ${r.status} ${r.body}`)
  return JSON.parse(r.body) as T
}

export interface SseEvent {
  event: string
  data: any
}

/** Follow an event stream; `events` fills as frames arrive; waitFor resolves on the first match. */
export function sse(url: string, headers: Record<string, string> = {}) {
  const events: SseEvent[] = []
  const comments: string[] = []
  const waiters: Array<{ pred: (e: SseEvent) => boolean; resolve: (e: SseEvent) => void }> = []
  let res: IncomingMessage | undefined
  const ready = new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(url, { headers, agent: false }, (r) => {
      res = r
      let buf = ''
      r.setEncoding('utf8')
      r.on('data', (c: string) => {
        buf += c
        let i
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i)
          buf = buf.slice(i + 2)
          let event = 'message'
          let data = ''
          for (const line of frame.split('\n')) {
            if (line.startsWith(':')) comments.push(line)
            else if (line.startsWith('event: ')) event = line.slice(7)
            else if (line.startsWith('data: ')) data += line.slice(6)
          }
          if (!data) continue
          const ev = { event, data: JSON.parse(data) }
          events.push(ev)
          for (const w of [...waiters]) {
            if (w.pred(ev)) {
              waiters.splice(waiters.indexOf(w), 1)
              w.resolve(ev)
            }
          }
        }
      })
      r.on('error', () => undefined)
      resolve(r)
    })
    req.on('error', reject)
    req.end()
  })
  return {
    events,
    comments,
    ready,
    waitFor(pred: (e: SseEvent) => boolean, ms = 5000): Promise<SseEvent> {
      const found = events.find(pred)
      if (found) return Promise.resolve(found)
      return new Promise((resolve, reject) => {
        const w = { pred, resolve: (e: SseEvent) => (clearTimeout(timer), resolve(e)) }
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1)
          reject(new Error(`no matching event in ${ms} ms (got ${events.map((e) => e.event).join(', ')})`))
        }, ms)
        waiters.push(w)
      })
    },
    close() {
      res?.destroy()
    },
  }
}

/** Parse Prometheus text into "name{labels}" -> value. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue
    const i = line.lastIndexOf(' ')
    out.set(line.slice(0, i), Number(line.slice(i + 1)))
  }
  return out
}
