// Who is calling: derived only from the TCP peer address (socket.remoteAddress) and its /64, never from a header.
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
  let bytes: Uint8Array;
  try {
    bytes = parseIpv6(remoteAddress ?? '');
  } catch {
    throw new PublicError('forbidden', 'the connection does not come from a Mycelium address', 'connect over Mycelium (400::/7)');
  }
  if (!isMyceliumBytes(bytes)) {
    throw new PublicError('forbidden', `${formatIpv6(bytes)} is not a Mycelium address`, 'connect over Mycelium (400::/7); this gateway identifies callers by their Mycelium address');
  }
  const address = formatIpv6(bytes);
  const subnet = subnet64Of(bytes);
  const link = source.linkOf(subnet);
  const agent = link?.agent;
  const roles: Role[] = [];
  if (link) roles.push('customer');
  if (source.isAdmin(agent, subnet)) roles.push('admin');
  if (agent && source.isFarmer(agent)) roles.push('farmer');
  return { address, subnet, ...(link ? { link, agent } : {}), roles };
}

/** Koa middleware: puts the caller in ctx.state.principal. */
export function principalMiddleware(source: PrincipalSource) {
  return async (ctx: Context, next: Next): Promise<void> => {
    ctx.state.principal = resolvePrincipal(ctx.req.socket.remoteAddress, source);
    await next();
  };
}

/** The caller of this request (set by principalMiddleware). */
export function principalOf(ctx: Context): Principal {
  return ctx.state.principal as Principal;
}
