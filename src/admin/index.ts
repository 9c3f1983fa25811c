/**
 * The admin server as a gateway extension: `extensions: [adminExtension()]` in runCli / new Gateway.
 * Returns null (no server) when admin.listen is "off".
 */
import type { ExtensionFactory } from '../gateway.js'
import type { FeedOptions } from './feed.js'
import { AdminServer } from './server.js'
import './errors.js'

export { AdminServer } from './server.js'
export { AdminErrors } from './errors.js'
export { buildPac } from './pac.js'

export interface AdminExtensionOptions {
  defaultMetrics?: boolean
  feed?: FeedOptions
  /** Called with the server once created (the demo reads its URL). */
  onCreate?(server: AdminServer): void
}

export function adminExtension(opts: AdminExtensionOptions = {}): ExtensionFactory {
  return (gw) => {
    const { listen, token } = gw.config.admin
    if (!listen) return null
    const server = new AdminServer(gw, { listen, token, defaultMetrics: opts.defaultMetrics, feed: opts.feed })
    opts.onCreate?.(server)
    return server
  }
}
