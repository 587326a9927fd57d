// Routes for linked customers: balance, orders, deployments, receipts (anything else from an unlinked /64: 401).
import type { Router } from './router.js';
import { clockName, type Clock } from '../../protocol/clock.js';
import type { FundsSources } from '../billing/funds.js';
import type { FundsDueView } from '../billing/grace-due.js';
import type { DeploymentService } from '../deployments/deployment-service.js';
import type { EscrowService } from '../escrow/escrow-service.js';
import type { TrustService } from '../trust/trust-service.js';
import type { Ledger } from '../ledger/ledger.js';
import type { OrderService } from '../orders/order-service.js';
import type { DeploymentRecord, OrderRecord } from '../store/records.js';
import type { ReceiptEntry } from '../billing/receipt-types.js';
import { PublicError } from './public-error.js';
import { requireCustomer } from './guards.js';
import { pageRequest, paginate } from './page.js';
import { CustomerViews, type OrderView } from './customer-views.js';
import type { AnyReceipt } from '../../protocol/receipt.js';

/** What the customer routes need. */
export interface CustomerDeps {
  readonly gatewayUrl: string;
  readonly clock: Clock;
  readonly ledger: Ledger;
  readonly orders: OrderService;
  readonly deployments: DeploymentService;
  /** Access escrow: the customer's word on whether they got in. */
  readonly escrow: Pick<EscrowService, 'report'>;
  /** Trust tiers: the customer's tier on GET /v1/balance. */
  readonly trust?: Pick<TrustService, 'view'>;
  /** Balances, arrears and the funds rule (runway, what is due). */
  readonly funds: FundsSources;
  /** Receipts of a deployment as stored, oldest first (the receipt's id is the page cursor); older ones are read back from receipts.log. */
  receiptsOf(deploymentId: string): Promise<readonly ReceiptEntry[]>;
  /** A stored receipt as the customer gets it (with its proof and the farmer's countersignature). */
  receiptView(entry: ReceiptEntry): Promise<AnyReceipt>;
}

/** What a customer is told about a failed deploy attempt: the provisioner's own message stays in the log and the admin's timeline. */
export const ATTEMPT_FAILED = 'the node could not start the VM';

/**
 * An order's failure and attempts as the customer sees them. A provisioner's error text can hold
 * internals (a grid contract error, an agent's local path, a proxy's answer), so attempts show one
 * stable reason and a failure after attempts says how many were made; a failure with no attempt
 * (no room, the offer withdrawn) is the gateway's own wording and shown as it is.
 */
export function customerFailure(o: Pick<OrderRecord, 'failure' | 'attempts'>): { failure?: string; attempts?: { node: string; at: string; error: string }[] } {
  const attempts = o.attempts.map((a) => ({ node: a.node, at: new Date(a.atMs).toISOString(), error: ATTEMPT_FAILED }));
  const failure = o.failure === undefined ? undefined : attempts.length === 0 ? o.failure : `could not deploy after ${attempts.length} attempt(s): ${ATTEMPT_FAILED}; nothing was charged`;
  return { ...(failure !== undefined ? { failure } : {}), ...(attempts.length > 0 ? { attempts } : {}) };
}

/** The customer routes; `views` builds what they answer with (shared with the customer page). */
export function registerCustomerRoutes(router: Router, deps: CustomerDeps, views: CustomerViews = new CustomerViews(deps)): void {
  const orderView = (o: OrderRecord, toPay?: FundsDueView): OrderView => views.order(o, toPay);
  const toPayFor = (customer: string, list: readonly DeploymentRecord[]): Promise<FundsDueView | undefined> => views.toPayFor(customer, list);
  const deploymentOf = (o: OrderRecord): DeploymentRecord | undefined => views.deploymentOf(o);

  router.get('/v1/balance', async (ctx) => {
    const me = requireCustomer(ctx, deps.gatewayUrl);
    const balance = await views.balance(me.agent);
    if (!balance) throw new PublicError('unavailable', 'the ledger cannot be reached right now', 'try again in a minute');
    ctx.body = balance;
  });

  router.post('/v1/orders', async (ctx) => {
    const me = requireCustomer(ctx, deps.gatewayUrl);
    const order = await deps.orders.create(me.agent, ctx.state.body, me.subnet);
    ctx.status = 201;
    ctx.body = { order: orderView(order) };
  });

  router.get('/v1/orders', async (ctx) => {
    const me = requireCustomer(ctx, deps.gatewayUrl);
    const toPay = await toPayFor(me.agent, deps.deployments.list(me.agent));
    const page = paginate(deps.orders.list(me.agent), (o) => o.id, pageRequest(ctx, '/v1/orders'));
    ctx.body = { orders: page.items.map((o) => orderView(o, toPay)), next: page.next };
  });

  router.get('/v1/orders/:id', async (ctx) => {
    const me = requireCustomer(ctx, deps.gatewayUrl);
    const id = ctx.params.id as string;
    deps.orders.get(me.agent, id);
    await deps.orders.advance(id);
    const o = deps.orders.get(me.agent, id);
    const d = deploymentOf(o);
    ctx.body = { order: orderView(o, d ? await toPayFor(me.agent, [d]) : undefined) };
  });

  router.get('/v1/deployments', async (ctx) => {
    const me = requireCustomer(ctx, deps.gatewayUrl);
    const page = paginate(deps.deployments.list(me.agent), (d) => d.id, pageRequest(ctx, '/v1/deployments'));
    const toPay = await toPayFor(me.agent, page.items);
    ctx.body = { deployments: page.items.map((d) => deps.deployments.view(d, toPay)), next: page.next };
  });

  router.get('/v1/deployments/:id', async (ctx) => {
    const me = requireCustomer(ctx, deps.gatewayUrl);
    const d = deps.deployments.get(me.agent, ctx.params.id as string);
    ctx.body = { deployment: deps.deployments.view(d, await toPayFor(me.agent, [d])) };
  });

  router.put('/v1/deployments/:id/ssh-keys', async (ctx) => {
    const me = requireCustomer(ctx, deps.gatewayUrl);
    const d = await deps.deployments.setSshKeys(me.agent, ctx.params.id as string, ctx.state.body);
    ctx.body = { deployment: deps.deployments.view(d) };
  });

  router.post('/v1/deployments/:id/access', async (ctx) => {
    const me = requireCustomer(ctx, deps.gatewayUrl);
    const d = await deps.escrow.report(me.agent, ctx.params.id as string, ctx.state.body);
    ctx.body = { deployment: deps.deployments.view(d) };
  });

  router.delete('/v1/deployments/:id', async (ctx) => {
    const me = requireCustomer(ctx, deps.gatewayUrl);
    const d = await deps.deployments.cancel(me.agent, ctx.params.id as string);
    ctx.status = 202;
    ctx.body = { deployment: deps.deployments.view(d) };
  });

  router.get('/v1/receipts', async (ctx) => {
    const me = requireCustomer(ctx, deps.gatewayUrl);
    const id = ctx.query.deployment;
    if (typeof id !== 'string' || id === '') throw new PublicError('bad_request', 'deployment is required', 'GET /v1/receipts?deployment=dep_…', { field: 'deployment' });
    const request = pageRequest(ctx, `/v1/receipts?deployment=${id}`);
    deps.deployments.get(me.agent, id);
    const page = paginate(await deps.receiptsOf(id), (e) => e.receipt.id, request);
    const receipts = await presentInOrder(page.items, (e) => deps.receiptView(e));
    ctx.body = { clock: clockName(deps.clock), receipts, next: page.next };
  });
}

/** Receipts of one page presented at once (presentInOrder). */
const PRESENT_AT_ONCE = 2;

/**
 * Receipts presented at most PRESENT_AT_ONCE at a time, answered in order. A receipt of an old
 * period reads that period's tree back from the store; on PostgreSQL each read is a round trip, and
 * one after the other they made the receipts page PostgreSQL's slowest request (bench/requests). Two
 * at a time keeps the other requests' share of the connection pool (4) and at most two trees being read.
 */
async function presentInOrder(entries: readonly ReceiptEntry[], view: (e: ReceiptEntry) => Promise<AnyReceipt>): Promise<AnyReceipt[]> {
  const out = new Array<AnyReceipt>(entries.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < entries.length) {
      const i = next++;
      out[i] = await view(entries[i] as ReceiptEntry);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PRESENT_AT_ONCE, entries.length) }, worker));
  return out;
}
