/**
 * The small page the proxy answers when it is asked for "/" as if it were a web server (a browser pointed
 * at the proxy's address). It says what this is and how to use it, and reveals nothing of the config.
 */
export function infoPage(proxyAddress: string, authRequired: boolean): string {
  const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Viaduct HTTP proxy</title></head>
<body>
<h1>Viaduct HTTP proxy</h1>
<p>This address is an HTTP forward proxy, not a web site. Configure your browser or client to use
<code>http://${esc(proxyAddress)}</code> as its HTTP and HTTPS proxy, for example
<code>curl -x http://${esc(proxyAddress)} http://example.com/</code>.</p>
${authRequired ? '<p>This proxy requires a user name and password (HTTP Basic, <code>Proxy-Authorization</code>).</p>\n' : ''}</body></html>
`
}
