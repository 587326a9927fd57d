// The admin route that sets a customer's trust tier by hand (audited on the timeline).
import type { Router } from './router.js';
import { expectAgentPubKey } from '../../protocol/validate.js';
import type { TrustService } from '../trust/trust-service.js';
import { errors } from './public-error.js';
import { requireAdmin } from './guards.js';

/** What the trust admin route needs. */
export interface TrustAdminDeps {
  readonly gatewayUrl: string;
  readonly trust: Pick<TrustService, 'setOverride'>;
  /** Whether the gateway knows this customer (linked, or has ordered). */
  isCustomer(agent: string): boolean;
}

/** PUT /admin/api/customers/{agent}/trust {"tier": "NAME" | null, "reason": "…"}: 200 with the customer's trust view. */
export function registerTrustAdminRoute(router: Router, deps: TrustAdminDeps): void {
  router.put('/admin/api/customers/:agent/trust', async (ctx) => {
    const admin = requireAdmin(ctx, deps.gatewayUrl);
    const agent = expectAgentPubKey(ctx.params.agent, 'agent');
    if (!deps.isCustomer(agent)) throw errors.notFound(`customer ${agent}`);
    ctx.body = { agent, trust: await deps.trust.setOverride(admin.agent ?? admin.subnet, agent, ctx.state.body) };
  });
}
