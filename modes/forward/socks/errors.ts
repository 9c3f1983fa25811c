/**
 * Codes only the SOCKS server (and the mixed port) can produce: malformed handshakes, unsupported
 * commands and address types, a handshake that never finishes. Access, authentication and target
 * failures use the shared forward codes in ../errors.ts.
 */
import { defineErrors } from '../../../src/core/errors.js'

export const SocksErrors = defineErrors({
  VIADUCT_ERR_SOCKS_VERSION: { message: 'the client spoke neither SOCKS4 nor SOCKS5', socks5: 0x01, socks4: 0x5b },
  VIADUCT_ERR_SOCKS_MALFORMED: { message: 'the SOCKS handshake is malformed', socks5: 0x01, socks4: 0x5b },
  VIADUCT_ERR_SOCKS_COMMAND: { message: 'the SOCKS command is not supported', socks5: 0x07, socks4: 0x5b },
  VIADUCT_ERR_SOCKS_ADDRESS_TYPE: { message: 'the SOCKS address type is not supported', socks5: 0x08, socks4: 0x5b },
  VIADUCT_ERR_SOCKS_NO_METHOD: { message: 'none of the client\'s SOCKS5 authentication methods is acceptable' },
  VIADUCT_ERR_SOCKS_HANDSHAKE_TIMEOUT: { message: 'the client did not finish its SOCKS handshake in time' },
  VIADUCT_ERR_SOCKS_DISABLED: { message: 'this SOCKS version is disabled (forward.socks.socks4)', socks4: 0x5b },
})
