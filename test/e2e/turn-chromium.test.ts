/**
 * Headless Chromium's WebRTC against Viaduct's TURN server: two RTCPeerConnections in one page with
 * iceTransportPolicy 'relay' and iceServers pointing at the gateway (turn:127.0.0.1:PORT?transport=udp,
 * then ?transport=tcp) open a data channel and exchange messages both ways; the selected candidate pair
 * is relay/relay, and every allocation Chromium made is one ledger session.
 * Kept on loopback as ../../shared/CHROMIUM.md says (test/helpers/chromium.ts).
 */
import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { startGateway, addr } from '../helpers/gateway.js'
import { launchChromium } from '../helpers/chromium.js'

interface PageResult {
  fromA: string
  fromB: string
  local: { candidateType: string; relayProtocol?: string; address?: string }
  remote: { candidateType: string; address?: string }
}

/** Runs in the page (plain JavaScript: the test's tsconfig has no DOM types). */
const PAGE_SCRIPT = `async ({ url, username, credential }) => {
  const cfg = { iceServers: [{ urls: url, username, credential }], iceTransportPolicy: 'relay' }
  const a = new RTCPeerConnection(cfg)
  const b = new RTCPeerConnection(cfg)
  a.onicecandidate = (e) => {
    if (e.candidate) void b.addIceCandidate(e.candidate)
  }
  b.onicecandidate = (e) => {
    if (e.candidate) void a.addIceCandidate(e.candidate)
  }
  const dc = a.createDataChannel('viaduct')
  const atB = new Promise((resolve) => {
    b.ondatachannel = (e) => {
      const ch = e.channel
      ch.onmessage = (m) => {
        resolve(String(m.data))
        ch.send(\`pong from B: \${String(m.data)}\`)
      }
    }
  })
  const atA = new Promise((resolve) => {
    dc.onmessage = (m) => resolve(String(m.data))
  })
  dc.onopen = () => dc.send('ping from A')
  await a.setLocalDescription(await a.createOffer())
  await b.setRemoteDescription(a.localDescription)
  await b.setLocalDescription(await b.createAnswer())
  await a.setRemoteDescription(b.localDescription)
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error(\`no data channel traffic; ICE state \${a.iceConnectionState}/\${b.iceConnectionState}\`)), 20_000))
  const [fromA, fromB] = await Promise.race([Promise.all([atB, atA]), timeout])
  const stats = await a.getStats()
  let pairId
  stats.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId
  })
  const pair = pairId ? stats.get(pairId) : undefined
  const local = pair ? stats.get(pair.localCandidateId) : undefined
  const remote = pair ? stats.get(pair.remoteCandidateId) : undefined
  a.close()
  b.close()
  return {
    fromA,
    fromB,
    local: { candidateType: local?.candidateType, relayProtocol: local?.relayProtocol, address: local?.address },
    remote: { candidateType: remote?.candidateType, address: remote?.address },
  }
}`

for (const transport of ['udp', 'tcp'] as const) {
  t.test(`Chromium data channel over Viaduct TURN (transport=${transport})`, async (t) => {
    const gw = await startGateway(t, {
      relay: { turn: { listen: '127.0.0.1:0', users: ['webrtc:browser-pass'], allowPeers: ['127.0.0.0/8'] } },
    })
    const turnPort = addr(gw, 'turn-udp').port
    const server = createServer((_req, res) => res.end('<!doctype html><title>turn</title>'))
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    t.teardown(() => new Promise<void>((r) => server.close(() => r())))
    const ctx = await launchChromium(t)
    if (!ctx) return
    const page = await ctx.newPage()
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)
    const args = { url: `turn:127.0.0.1:${turnPort}?transport=${transport}`, username: 'webrtc', credential: 'browser-pass' }
    const result = (await page.evaluate(`(${PAGE_SCRIPT})(${JSON.stringify(args)})`)) as PageResult
    t.equal(result.fromA, 'ping from A', 'B received A’s message')
    t.equal(result.fromB, 'pong from B: ping from A', 'A received B’s answer')
    t.equal(result.local.candidateType, 'relay', 'selected local candidate is relay')
    t.equal(result.remote.candidateType, 'relay', 'selected remote candidate is relay')
    t.equal(result.local.relayProtocol, transport, `Chromium reached the TURN server over ${transport}`)
    t.equal(result.local.address, '127.0.0.1', 'relayed address is the gateway’s')

    // Chromium deletes its allocations (Refresh LIFETIME 0) when the connections close
    await page.close()
    const deadline = Date.now() + 5000
    while (gw.ledger.live('relay').length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    const recs = gw.ledger.recent('relay').filter((r) => r.protocol === `turn-${transport}`)
    t.ok(recs.length >= 2, `each peer connection made an allocation (${recs.length} sessions)`)
    const carried = recs.filter((r) => r.bytesUp > 0 && r.bytesDown > 0)
    t.ok(carried.length >= 2, 'two allocations relayed bytes both ways')
    t.ok(carried.every((r) => r.user === 'webrtc' && r.peer === '127.0.0.1'), 'user and peer recorded')
  })
}
