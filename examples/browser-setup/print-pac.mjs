#!/usr/bin/env node
// Print the PAC file a running Viaduct serves, and what it decides for a few URLs.
//
//   node examples/browser-setup/print-pac.mjs                       # http://127.0.0.1:8081/proxy.pac
//   node examples/browser-setup/print-pac.mjs --admin 127.0.0.1:9000 --token "$VIADUCT_ADMIN_TOKEN" \
//        https://example.com/ http://10.0.0.5/
//
// It evaluates the file with the helper functions a browser provides (the subset Viaduct's PAC uses),
// so you can check the routing before pointing a browser at it. Only talks to the admin address given.
import { runInNewContext } from 'node:vm'

const args = process.argv.slice(2)
let admin = '127.0.0.1:8081'
let token = process.env.VIADUCT_ADMIN_TOKEN
const urls = []
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--admin') admin = args[++i]
  else if (args[i] === '--token') token = args[++i]
  else urls.push(args[i])
}
if (urls.length === 0) urls.push('https://example.com/', 'http://intranet/', 'http://192.168.1.1/', 'http://127.0.0.1:3000/')

const pacUrl = `http://${admin}/proxy.pac`
const res = await fetch(pacUrl, { headers: token ? { authorization: `Bearer ${token}` } : {} }).catch((err) => {
  console.error(`cannot fetch ${pacUrl}: ${err.cause?.code ?? err.message} (is "viaduct start" running with the admin server on?)`)
  process.exit(1)
})
if (!res.ok) {
  console.error(`${pacUrl}: HTTP ${res.status} ${await res.text()}`)
  process.exit(1)
}
const pac = await res.text()
console.log(`# ${pacUrl}\n`)
console.log(pac)

const ip = (s) => s.split('.').reduce((a, x) => a * 256 + Number(x), 0)
const sandbox = {
  isPlainHostName: (h) => !h.includes('.'),
  dnsDomainIs: (h, d) => h.endsWith(d),
  isInNet: (h, net, mask) => ((ip(h) & ip(mask)) >>> 0) === ((ip(net) & ip(mask)) >>> 0),
  shExpMatch: (s, p) => new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`).test(s),
}
runInNewContext(pac, sandbox)
console.log('# decisions')
for (const u of urls) {
  const host = new URL(u).hostname
  console.log(`${u.padEnd(32)} -> ${sandbox.FindProxyForURL(u, host)}`)
}
