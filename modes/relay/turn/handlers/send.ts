/**
 * Client-to-peer data: Send indications (RFC 8656 §11.2) and ChannelData messages (§12.6). Neither has a
 * response: anything wrong drops the data silently.
 */
import { isViaductError } from '../../../../src/core/errors.js'
import type { ChannelData } from '../channel-data.js'
import type { TurnState } from '../state.js'
import { Attr, decodeXorAddress, type DecodedAttribute, type DecodedMessage } from '../stun/index.js'
import type { ClientTransport } from '../transport.js'

/** Returns a short reason when dropped (for debug logs and tests), null when relayed. */
export function handleSend(state: TurnState, t: ClientTransport, msg: DecodedMessage, attrs: DecodedAttribute[]): string | null {
  const a = state.allocationOf(t)
  if (!a) return 'no allocation'
  // "The Send indication MUST contain both an XOR-PEER-ADDRESS attribute and a DATA attribute. If one of
  // these attributes is missing or invalid, then the message is discarded."
  const pa = attrs.find((x) => x.type === Attr.XOR_PEER_ADDRESS)
  const data = attrs.find((x) => x.type === Attr.DATA)
  if (!pa || !data) return 'missing XOR-PEER-ADDRESS or DATA'
  // "If the Send indication contains a DONT-FRAGMENT attribute" that the server cannot honour it is an
  // unknown comprehension-required attribute: the indication is discarded.
  if (attrs.some((x) => x.type === Attr.DONT_FRAGMENT)) return 'DONT-FRAGMENT is not supported'
  let peer
  try {
    const raw = decodeXorAddress(pa.value, msg.transactionId)
    peer = state.checkPeer(raw, a.relayed, raw.port)
  } catch (err) {
    if (isViaductError(err)) return err.message
    throw err
  }
  // "The server also checks that there is a permission installed for the IP address contained in the
  // XOR-PEER-ADDRESS attribute. If no such permission exists, the message is discarded."
  if (!a.hasPermission(peer.address)) return 'no permission'
  a.toPeer(peer, data.value)
  return null
}

/**
 * RFC 8656 §12.6: "If the ChannelData message is received on a channel that is not bound to any peer,
 * then the message is silently discarded." Otherwise the data goes to the bound peer, if its permission
 * still stands.
 */
export function handleChannelData(state: TurnState, t: ClientTransport, cd: ChannelData): string | null {
  const a = state.allocationOf(t)
  if (!a) return 'no allocation'
  const b = a.channel(cd.channel)
  if (!b) return 'channel not bound'
  if (!a.hasPermission(b.peer.address)) return 'no permission'
  a.toPeer(b.peer, cd.data)
  return null
}
