/**
 * Codes shared by every forward listener (HTTP, SOCKS, mixed): access, authentication and reaching
 * the target. Each carries its HTTP status and SOCKS replies (RFC 1928 §6; SOCKS4 0x5B-0x5D).
 */
import { defineErrors } from '../../src/core/errors.js'

export const ForwardErrors = defineErrors({
  VIADUCT_ERR_ACCESS_CLIENT: { message: 'the client address is not allowed to use this proxy', http: 403, socks5: 0x02, socks4: 0x5b },
  VIADUCT_ERR_ACCESS_DESTINATION: { message: 'the destination is denied by the proxy rules', http: 403, socks5: 0x02, socks4: 0x5b },
  VIADUCT_ERR_ACCESS_PRIVATE: { message: 'the destination is a loopback, private or link-local address', http: 403, socks5: 0x02, socks4: 0x5b },
  VIADUCT_ERR_ACCESS_PORT: { message: 'tunnels to this port are not allowed', http: 403, socks5: 0x02, socks4: 0x5b },
  VIADUCT_ERR_ACCESS_LOOP: { message: 'the request would loop back into the proxy', http: 508, socks5: 0x02, socks4: 0x5b },
  VIADUCT_ERR_AUTH_REQUIRED: { message: 'proxy authentication required', http: 407, socks5: 0x01, socks4: 0x5d },
  VIADUCT_ERR_AUTH_FAILED: { message: 'wrong proxy user name or password', http: 407, socks5: 0x01, socks4: 0x5d },
  VIADUCT_ERR_TARGET_DNS: { message: 'the destination host name does not resolve', http: 502, socks5: 0x04, socks4: 0x5b, kind: 'failure' },
  VIADUCT_ERR_TARGET_REFUSED: { message: 'the destination refused the connection', http: 502, socks5: 0x05, socks4: 0x5b, kind: 'failure' },
  VIADUCT_ERR_TARGET_UNREACHABLE: { message: 'the destination host is unreachable', http: 502, socks5: 0x04, socks4: 0x5b, kind: 'failure' },
  VIADUCT_ERR_TARGET_NETWORK: { message: 'the destination network is unreachable', http: 502, socks5: 0x03, socks4: 0x5b, kind: 'failure' },
  VIADUCT_ERR_TARGET_TIMEOUT: { message: 'the destination did not answer in time', http: 504, socks5: 0x04, socks4: 0x5b, kind: 'failure' },
  VIADUCT_ERR_TARGET_RESET: { message: 'the destination reset the connection', http: 502, socks5: 0x01, socks4: 0x5b, kind: 'failure' },
  VIADUCT_ERR_TARGET_FAILED: { message: 'the destination could not be reached', http: 502, socks5: 0x01, socks4: 0x5b, kind: 'failure' },
  VIADUCT_ERR_UPSTREAM_FAILED: { message: 'the upstream proxy refused or failed the request', http: 502, socks5: 0x01, socks4: 0x5b, kind: 'failure' },
  VIADUCT_ERR_UPSTREAM_AUTH: { message: 'the upstream proxy rejected our credentials', http: 502, socks5: 0x01, socks4: 0x5b, kind: 'failure' },
})
