/** CreatePermission (RFC 8656 §10.2): install or refresh permissions for one or more peer IPs. */
import { Attr, decodeXorAddress } from '../stun/index.js'
import { attrs, badRequest, requireAllocation, type Handler } from './context.js'

export const handleCreatePermission: Handler = (ctx) => {
  const a = requireAllocation(ctx)
  // "The CreatePermission request MUST contain at least one XOR-PEER-ADDRESS attribute and MAY contain
  // multiple such attributes. If no such attribute exists, or if any of these attributes are invalid,
  // then a 400 (Bad Request) error is returned."
  const peers = attrs(ctx, Attr.XOR_PEER_ADDRESS)
  if (peers.length === 0) throw badRequest('CreatePermission without XOR-PEER-ADDRESS')
  // Every peer is checked before any permission is installed: one denied peer fails the whole request.
  const ips = peers.map((p) => ctx.state.checkPeer(decodeXorAddress(p.value, ctx.msg.transactionId), a.relayed).address)
  // "the server installs or refreshes a permission for the IP address contained in each
  // XOR-PEER-ADDRESS attribute ... The port portion of each attribute is ignored".
  for (const ip of ips) a.permit(ip)
  return []
}
