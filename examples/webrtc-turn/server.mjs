#!/usr/bin/env node
/**
 * A tiny application server for the WebRTC-over-TURN example: serves index.html and, at /ice, an
 * iceServers list with fresh TURN REST credentials minted from the same secret the gateway was started
 * with (`viaduct start --turn-secret ...`). No dependencies.
 *
 *   node examples/webrtc-turn/server.mjs --secret SECRET [--turn 127.0.0.1:3478] [--listen 127.0.0.1:8090] [--ttl 3600]
 */
import { createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    secret: { type: 'string', default: process.env.VIADUCT_TURN_SECRET },
    turn: { type: 'string', default: '127.0.0.1:3478' },
    listen: { type: 'string', default: '127.0.0.1:8090' },
    ttl: { type: 'string', default: '3600' },
    user: { type: 'string', default: 'webrtc-demo' },
  },
})
if (!values.secret) {
  process.stderr.write('usage: node server.mjs --secret SECRET [--turn HOST:PORT] [--listen HOST:PORT]\n')
  process.exit(2)
}

/** TURN REST credentials: username "EXPIRY:USER", password base64(HMAC-SHA1(secret, username)). */
function credentials(user, ttlS) {
  const username = `${Math.floor(Date.now() / 1000) + ttlS}:${user}`
  const credential = createHmac('sha1', values.secret).update(username).digest('base64')
  return { username, credential }
}

const page = readFileSync(new URL('./index.html', import.meta.url))
const [host, port] = [values.listen.slice(0, values.listen.lastIndexOf(':')), Number(values.listen.slice(values.listen.lastIndexOf(':') + 1))]

createServer((req, res) => {
  if (req.url === '/ice') {
    const { username, credential } = credentials(values.user, Number(values.ttl))
    const iceServers = [
      {
        urls: [`turn:${values.turn}?transport=udp`, `turn:${values.turn}?transport=tcp`],
        username,
        credential,
      },
    ]
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    res.end(JSON.stringify({ iceServers }))
    return
  }
  if (req.url === '/' || req.url === '/index.html') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end(page)
    return
  }
  res.writeHead(404).end()
}).listen(port, host, () => process.stderr.write(`open http://${values.listen}/ (TURN at ${values.turn})\n`))
