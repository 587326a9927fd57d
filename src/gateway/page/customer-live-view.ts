// The customer page's live part (balance, orders, deployments) as one consistent read: what GET / and its in-place refresh render.
import type { OrderService } from '../orders/order-service.js';
import type { DeploymentService } from '../deployments/deployment-service.js';
import type { CustomerViews } from '../http/customer-views.js';
import type { CustomerLiveView } from './customer-page-render.js';

/** How many orders and deployments the page lists (newest first); the JSON API pages through all. */
export const LIVE_LIST_LIMIT = 50;

/** What the live part reads: the customer's orders and deployments, and the views of their funds. */
export interface LiveViewSources {
  readonly views: Pick<CustomerViews, 'balance' | 'toPayFor' | 'order' | 'deployment'>;
  readonly orders: Pick<OrderService, 'list'>;
  readonly deployments: Pick<DeploymentService, 'list'>;
}

/**
 * The live part of `agent`'s page. The orders and the deployments are read together, in one
 * synchronous step before the first await (the ledger's balance is a network call): an order is
 * handed over while other work runs (its deployment is written, then the order marked active), so
 * lists read on either side of an await could show the order active, with its ssh line, and no
 * deployment listed. An active order's deployment is taken from the same read.
 */
export async function customerLiveView(sources: LiveViewSources, agent: string): Promise<CustomerLiveView> {
  const orders = sources.orders.list(agent);
  const deployments = sources.deployments.list(agent);
  const byId = new Map(deployments.map((d) => [d.id, d]));
  const v = sources.views;
  const toPay = await v.toPayFor(agent, deployments);
  const balance = await v.balance(agent);
  const newest = <T extends { readonly createdAtMs: number }>(xs: readonly T[]): T[] => [...xs].sort((a, b) => b.createdAtMs - a.createdAtMs).slice(0, LIVE_LIST_LIMIT);
  return {
    balance,
    orders: newest(orders).map((o) => v.order(o, toPay, byId)),
    deployments: newest(deployments).map((d) => v.deployment(d, toPay)),
  };
}
