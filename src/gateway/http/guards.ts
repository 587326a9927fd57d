// Route guards: a linked customer for /v1 customer routes, an admin for /admin and /metrics.
import type { Context } from 'koa';
import { PublicError, errors } from './public-error.js';
import { principalOf, type Principal } from './principal.js';

/** A principal known to be linked. */
export type CustomerPrincipal = Principal & { readonly agent: string };

/** The caller, who must be linked; 401 not_linked (with how to link) otherwise. */
export function requireCustomer(ctx: Context, gatewayUrl: string): CustomerPrincipal {
  const p = principalOf(ctx);
  if (p.agent === undefined) throw errors.notLinked(gatewayUrl);
  return p as CustomerPrincipal;
}

/**
 * The caller, who must be an admin (an AgentPubKey or /64 named in the config). Unlinked and
 * not admin by /64: 401 not_linked; linked but not an admin: 403 forbidden.
 */
export function requireAdmin(ctx: Context, gatewayUrl: string): Principal {
  const p = principalOf(ctx);
  if (p.roles.includes('admin')) return p;
  if (p.agent === undefined) throw errors.notLinked(gatewayUrl);
  throw new PublicError('forbidden', `${p.agent} is not an admin of this gateway`, 'admins are the AgentPubKeys or /64s listed in the gateway config "admins"');
}
