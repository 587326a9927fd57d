// Routes for linked customers: balance, orders, deployments, receipts (anything else from an unlinked /64: 401).
import type { Router } from './router.js';
import type { Clock } from '../../protocol/clock.js';
import { formatAmount, UNIT } from '../../protocol/money.js';
import { burnPerHourMicros, runwayOf } from '../billing/funds.js';
import type { DeploymentService } from '../deployments/deployment-service.js';
import { LedgerUnavailableError, type Ledger } from '../ledger/ledger.js';
import type { OrderService } from '../orders/order-service.js';
import type { OrderRecord } from '../store/records.js';
import { PublicError } from './public-error.js';
import { requireCustomer } from './guards.js';

/** What the customer routes need. */
export interface CustomerDeps {
  readonly gatewayUrl: string;
  readonly clock: Clock;
  readonly ledger: Ledger;
  readonly orders: OrderService;
  readonly deployments: DeploymentService;
  /** Unpaid charges of a customer. */
  arrearsOf(customer: string): bigint;
  /** The low-funds runway (clock ms). */
  readonly lowFundsRunwayMs: number;
  /** Receipts of a deployment, oldest first. */
  receiptsOf(deploymentId: string): readonly unknown[];
}

/** The customer routes. */
export function registerCustomerRoutes(router: Router, deps: CustomerDeps): void {
  const orderView = (o: OrderRecord): Record<string, unknown> => {
    const check = deps.orders.lastCheck(o.id);
    const deployment = o.deployment !== undefined && o.state === 'active' ? deps.deployments.get(o.customer, o.deployment) : undefined;
    return {
      id: o.id,
      state: o.state,
      offer: o.offer,
      name: o.name,
      pricePerHour: o.pricePerHour,
      deposit: o.deposit,
      unit: o.unit,
      createdAt: new Date(o.createdAtMs).toISOString(),
      ...(o.state === 'awaiting_payment' ? { expiresAt: new Date(o.expiresAtMs).toISOString() } : {}),
      payment: {
        unit: o.unit,
        deposit: o.deposit,
        agreement: o.customer,
        how: `fund your Unyt agreement with at least ${o.deposit} ${o.unit} (plus the deposits of VMs you already run and any arrears); this order is handed over once the ledger shows it. In the lab: POST ${deps.gatewayUrl}/admin/api/ledger/fund as the admin.`,
        ...(check
          ? {
              lastCheck: {
                at: new Date(check.atMs).toISOString(),
                status: check.status,
                required: formatAmount(check.requiredMicros),
                ...(check.availableMicros !== undefined ? { available: formatAmount(check.availableMicros) } : {}),
              },
            }
          : {}),
      },
      ...(o.failure ? { failure: o.failure } : {}),
      ...(o.attempts.length > 0 ? { attempts: o.attempts.map((a) => ({ node: a.node, at: new Date(a.atMs).toISOString(), error: a.error })) } : {}),
      ...(deployment ? { deployment: deps.deployments.view(deployment) } : o.deployment !== undefined ? { deploymentId: o.deployment } : {}),
    };
  };

  router.get('/v1/balance', async (ctx) => {
    const me = requireCustomer(ctx, deps.gatewayUrl);
    let available: bigint;
    try {
      available = (await deps.ledger.balance(me.agent)).availableMicros;
    } catch (err) {
      if (err instanceof LedgerUnavailableError) throw new PublicError('unavailable', 'the ledger cannot be reached right now', 'try again in a minute');
      throw err;
    }
    const arrears = deps.arrearsOf(me.agent);
    const runway = runwayOf(available, burnPerHourMicros(deps.deployments.list(me.agent), me.agent), arrears, deps.lowFundsRunwayMs);
    ctx.body = { agent: me.agent, unit: UNIT, available: formatAmount(available), arrears: formatAmount(arrears), ...runway };
  });

  router.post('/v1/orders', async (ctx) => {
    const me = requireCustomer(ctx, deps.gatewayUrl);
    const order = await deps.orders.create(me.agent, ctx.state.body, me.subnet);
    ctx.status = 201;
    ctx.body = { order: orderView(order) };
  });

  router.get('/v1/orders', (ctx) => {
    const me = requireCustomer(ctx, deps.gatewayUrl);
    ctx.body = { orders: deps.orders.list(me.agent).map(orderView) };
  });

  router.get('/v1/orders/:id', async (ctx) => {
    const me = requireCustomer(ctx, deps.gatewayUrl);
    const id = ctx.params.id as string;
    deps.orders.get(me.agent, id);
    await deps.orders.advance(id);
    ctx.body = { order: orderView(deps.orders.get(me.agent, id)) };
  });

  router.get('/v1/deployments', (ctx) => {
    const me = requireCustomer(ctx, deps.gatewayUrl);
    ctx.body = { deployments: deps.deployments.list(me.agent).map((d) => deps.deployments.view(d)) };
  });

  router.get('/v1/deployments/:id', (ctx) => {
    const me = requireCustomer(ctx, deps.gatewayUrl);
    ctx.body = { deployment: deps.deployments.view(deps.deployments.get(me.agent, ctx.params.id as string)) };
  });

  router.put('/v1/deployments/:id/ssh-keys', async (ctx) => {
    const me = requireCustomer(ctx, deps.gatewayUrl);
    const d = await deps.deployments.setSshKeys(me.agent, ctx.params.id as string, ctx.state.body);
    ctx.body = { deployment: deps.deployments.view(d) };
  });

  router.delete('/v1/deployments/:id', async (ctx) => {
    const me = requireCustomer(ctx, deps.gatewayUrl);
    const d = await deps.deployments.cancel(me.agent, ctx.params.id as string);
    ctx.status = 202;
    ctx.body = { deployment: deps.deployments.view(d) };
  });

  router.get('/v1/receipts', (ctx) => {
    const me = requireCustomer(ctx, deps.gatewayUrl);
    const id = ctx.query.deployment;
    if (typeof id !== 'string' || id === '') throw new PublicError('bad_request', 'deployment is required', 'GET /v1/receipts?deployment=dep_…', { field: 'deployment' });
    deps.deployments.get(me.agent, id);
    ctx.body = { receipts: deps.receiptsOf(id) };
  });
}
