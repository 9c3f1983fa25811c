/** ChannelBind (RFC 8656 §12.2): bind a channel number to a peer transport address. */
import { ViaductError } from '../../../../src/core/errors.js'
import { isChannelNumber } from '../channel-data.js'
import { TurnErrors } from '../errors.js'
import { Attr, decodeChannelNumber, decodeXorAddress } from '../stun/index.js'
import { attr, badRequest, requireAllocation, type Handler } from './context.js'

export const handleChannelBind: Handler = (ctx) => {
  const a = requireAllocation(ctx)
  const cn = attr(ctx, Attr.CHANNEL_NUMBER)
  const pa = attr(ctx, Attr.XOR_PEER_ADDRESS)
  // "The request contains both a CHANNEL-NUMBER and an XOR-PEER-ADDRESS attribute; the channel number is
  // in the range 0x4000 through 0x4FFF (inclusive); the channel number is not currently bound to a
  // different transport address (same transport address is OK); the transport address is not currently
  // bound to a different channel number. If any of these tests fail, the server replies with a 400."
  if (!cn || !pa) throw badRequest('ChannelBind needs CHANNEL-NUMBER and XOR-PEER-ADDRESS')
  const n = decodeChannelNumber(cn.value)
  // (0x5000-0x7FFF: RFC 5766's range, still used by its clients; see channel-data.ts)
  if (!isChannelNumber(n)) throw badRequest(`channel number 0x${n.toString(16)} is outside 0x4000-0x7FFF`)
  const raw = decodeXorAddress(pa.value, ctx.msg.transactionId)
  const peer = ctx.state.checkPeer(raw, a.relayed, raw.port)
  const bound = a.channel(n)
  if (bound && (bound.peer.address !== peer.address || bound.peer.port !== peer.port)) throw badRequest(`channel 0x${n.toString(16)} is bound to another peer`)
  const other = a.channelForPeer(peer.address, peer.port)
  if (other !== undefined && other !== n) throw badRequest(`the peer is bound to channel 0x${other.toString(16)}`)
  if (peer.port === 0) throw new ViaductError(TurnErrors.VIADUCT_ERR_TURN_BAD_REQUEST, 'peer port 0')
  // "If the request is valid ... the server ... creates or refreshes the channel binding ... In
  // addition, the server MUST install or refresh a permission for the IP address".
  a.bindChannel(n, peer)
  a.permit(peer.address)
  return []
}
