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
function principalAt(peer: Peer, source: PrincipalSource, known?: Known): Principal {
  if (peer instanceof PublicError) throw peer;
  const link = source.linkOf(peer.subnet);
  const agent = link?.agent;
  const admin = source.isAdmin(agent, peer.subnet);
  const farmer = agent !== undefined && source.isFarmer(agent);
  // The connection's previous answer, when every lookup above gave what it was built from: the
  // same link record (a relink or unlink stores another record or none), the same agent, the
  // same roles. Reusing it spares the objects, and lets whoami reuse its serialised answer.
  const last = known?.last;
  if (last !== undefined && last.link === link && last.agent === agent && known?.admin === admin && known.farmer === farmer) return last;
  const roles: Role[] = [];
  if (link) roles.push('customer');
  if (admin) roles.push('admin');
  if (farmer) roles.push('farmer');
  const p: Principal = { address: peer.address, subnet: peer.subnet, link, agent, roles };
  if (known !== undefined) {
    known.last = p;
    known.admin = admin;
    known.farmer = farmer;
  }
  return p;
}

/** Koa middleware: puts the caller in ctx.state.principal. */
export function principalMiddleware(source: PrincipalSource) {
  const identify = principalResolver(source);
  return async (ctx: Context, next: Next): Promise<void> => {
    identify(ctx);
    await next();
  };
}

/** What a connection's requests share: its checked peer, and the principal its last request had (with the roles it was built from). */
interface Known {
  readonly peer: Peer;
  last?: Principal;
  admin?: boolean;
  farmer?: boolean;
}

/**
 * Puts the caller in ctx.state.principal (principalMiddleware's work). The peer is parsed once per
 * connection (the peer of a TCP connection never changes); the link and roles are looked up on
 * every request, and the connection's last Principal object is handed out again only when those
 * lookups give what it was built from. Bounded: one entry per open socket, gone with the socket
 * (a WeakMap), and open sockets are capped (connection-limits.ts).
 */
export function principalResolver(source: PrincipalSource): (ctx: Context) => void {
  const known = new WeakMap<Socket, Known>();
  return (ctx) => {
    const socket = ctx.req.socket;
    let k = known.get(socket);
    if (k === undefined) {
      k = { peer: peerOf(socket.remoteAddress) };
      known.set(socket, k);
    }
    ctx.state.principal = principalAt(k.peer, source, k);
  };
}

/** The caller of this request (set by principalMiddleware). */
export function principalOf(ctx: Context): Principal {
  return ctx.state.principal as Principal;
}
