// Routes for linked customers: balance, orders, deployments, receipts (anything else from an unlinked /64: 401).
import type { Router } from '@koa/router';
import type { Table } from '../store/store.js';
import type { DeploymentRecord } from '../store/records.js';
import { requireCustomer } from './guards.js';

/** What the customer routes need. */
export interface CustomerDeps {
  readonly gatewayUrl: string;
  readonly deployments: Table<DeploymentRecord>;
}

/** The customer routes. */
export function registerCustomerRoutes(router: Router, deps: CustomerDeps): void {
  router.get('/v1/deployments', (ctx) => {
    const me = requireCustomer(ctx, deps.gatewayUrl);
    ctx.body = { deployments: deps.deployments.values().filter((d) => d.customer === me.agent).map((d) => ({ id: d.id, state: d.state, offer: d.offer })) };
  });
}
