/**
 * Viaduct as a library: the modes, the gateway and the peer client.
 * The entry point passes `modes` to the core; the core never imports this folder.
 */
import type { ModeDefinition } from '../src/mode.js'
import { forwardMode } from './forward/index.js'
import { relayMode } from './relay/index.js'

/** Every mode, in start order. */
export const modes: readonly ModeDefinition[] = [forwardMode, relayMode]

export { forwardMode, relayMode }
export { Gateway } from '../src/gateway.js'
export { Ledger } from '../src/core/ledger.js'
export { loadConfig } from '../src/config/load.js'
export { connectPeer, PeerDatagram, mintToken } from './relay/pairing/client.js'
export type { ConnectPeerOptions, PeerStream, PairingInfo, PeerAddress } from './relay/pairing/client.js'
