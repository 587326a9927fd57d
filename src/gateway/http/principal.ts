// Who is calling: derived only from the TCP peer address (socket.remoteAddress) and its /64, never from a header.
import type { Socket } from 'node:net';
import type { Context, Next } from 'koa';
import { isMyceliumBytes, formatIpv6, parseIpv6, subnet64Of } from '../../identity/index.js';
import type { LinkRecord } from '../store/records.js';
import { PublicError } from './public-error.js';

/** A role a caller may hold. */
export type Role = 'customer' | 'admin' | 'farmer';

/** The caller of one request. */
export interface Principal {
  /** Normalised source address. */
  readonly address: string;
  /** The /64 of the source address: Mycelium authenticates the /64, so identity is per /64. */
  readonly subnet: string;
  readonly link?: LinkRecord;
  /** The linked Unyt identity, if any. */
  readonly agent?: string;
  readonly roles: readonly Role[];
}

/** What the principal lookup needs. */
export interface PrincipalSource {
  linkOf(subnet: string): LinkRecord | undefined;
  isAdmin(agent: string | undefined, subnet: string): boolean;
  isFarmer(agent: string): boolean;
}

/**
 * Resolves the caller from the connection's peer address. A peer outside 400::/7 (an
 * IPv4-mapped or LAN address reaching the port some other way) is refused outright: its
 * address proves nothing about a Mycelium identity.
 */
export function resolvePrincipal(remoteAddress: string | undefined, source: PrincipalSource): Principal {
  return principalAt(peerOf(remoteAddress), source);
}

/** A connection's peer: its normalised address and /64, or why it is refused. */
type Peer = { readonly address: string; readonly subnet: string } | PublicError;

/** Parses and checks a peer address (once per connection: the peer of a TCP connection never changes). */
function peerOf(remoteAddress: string | undefined): Peer {
  let bytes: Uint8Array;
  try {
    bytes = parseIpv6(remoteAddress ?? '');
  } catch {
    return new PublicError('forbidden', 'the connection does not come from a Mycelium address', 'connect over Mycelium (400::/7)');
  }
  if (!isMyceliumBytes(bytes)) {
    return new PublicError('forbidden', `${formatIpv6(bytes)} is not a Mycelium address`, 'connect over Mycelium (400::/7); this gateway identifies callers by their Mycelium address');
  }
  return { address: formatIpv6(bytes), subnet: subnet64Of(bytes) };
}

/** The principal of a checked peer; links and roles are looked up on every request, so an unlink takes effect at once. */
function principalAt(peer: Peer, source: PrincipalSource): Principal {
  if (peer instanceof PublicError) throw peer;
  const link = source.linkOf(peer.subnet);
  const agent = link?.agent;
  const roles: Role[] = [];
  if (link) roles.push('customer');
  if (source.isAdmin(agent, peer.subnet)) roles.push('admin');
  if (agent !== undefined && source.isFarmer(agent)) roles.push('farmer');
  return { address: peer.address, subnet: peer.subnet, link, agent, roles };
}

/** Koa middleware: puts the caller in ctx.state.principal. */
export function principalMiddleware(source: PrincipalSource) {
  const identify = principalResolver(source);
  return async (ctx: Context, next: Next): Promise<void> => {
    identify(ctx);
    await next();
  };
}

/** Puts the caller in ctx.state.principal (principalMiddleware's work); the peer is parsed once per connection. */
export function principalResolver(source: PrincipalSource): (ctx: Context) => void {
  const peers = new WeakMap<Socket, Peer>();
  return (ctx) => {
    const socket = ctx.req.socket;
    let peer = peers.get(socket);
    if (peer === undefined) {
      peer = peerOf(socket.remoteAddress);
      peers.set(socket, peer);
    }
    ctx.state.principal = principalAt(peer, source);
  };
}

/** The caller of this request (set by principalMiddleware). */
export function principalOf(ctx: Context): Principal {
  return ctx.state.principal as Principal;
}
