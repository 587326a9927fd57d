// Where the gateway's HTTP layer learns who a caller is: the store's links and farmer approvals, and the configured admins.
import type { PrincipalSource } from '../http/principal.js';
import type { Store } from '../store/store.js';

/**
 * The principal source the gateway wires in (http-part.ts): the link of a /64 and a farmer's
 * approval are read from the store on every request (an unlink or a revocation counts at once);
 * an admin is a configured /64, or a configured AgentPubKey the caller's /64 is linked to.
 */
export function storePrincipals(store: Pick<Store, 'links' | 'agents'>, admins: ReadonlySet<string>): PrincipalSource {
  return {
    linkOf: (subnet) => store.links.get(subnet),
    isAdmin: (agent, subnet) => admins.has(subnet) || (agent !== undefined && admins.has(agent)),
    isFarmer: (agent) => store.agents.get(agent)?.state === 'approved',
  };
}
