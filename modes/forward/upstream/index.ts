// PLACEHOLDER: upstream chaining comes with the SOCKS issue; until then every request goes direct.
import type { AccessPolicy } from '../access.js'
import type { ForwardConfig } from '../config.js'
import type { Dialer } from '../dial.js'

export function createDialer(_config: ForwardConfig, direct: Dialer, _policy: AccessPolicy): Dialer {
  return direct
}
