// Capacity request routes: customers post requests, list the bids and accept one; admins list every request.
import type { Router } from './router.js';
import type { MarketService, RequestListing, RequestRecord } from '../market/market-service.js';
import type { OrderRecord } from '../store/records.js';
import type { OrderView } from './customer-views.js';
import { requireAdmin, requireCustomer } from './guards.js';
import { pageRequest, paginate } from './page.js';

/** What the market routes need. */
export interface MarketRouteDeps {
  readonly gatewayUrl: string;
  readonly market: MarketService;
  orderView(o: OrderRecord): OrderView;
}

/** POST/GET /v1/requests, GET /v1/requests/{id}, POST /v1/requests/{id}/accept, GET /admin/api/requests. */
export function registerMarketRoutes(router: Router, deps: MarketRouteDeps): void {
  const full = (r: RequestRecord): RequestListing => deps.market.listing(r);

  router.post('/v1/requests', async (ctx) => {
    const me = requireCustomer(ctx, deps.gatewayUrl);
    const r = await deps.market.create(me.agent, ctx.state.body, me.subnet);
    ctx.status = 201;
    ctx.body = full(r);
  });

  router.get('/v1/requests', (ctx) => {
    const me = requireCustomer(ctx, deps.gatewayUrl);
    const page = paginate(deps.market.list(me.agent), (r) => r.id, pageRequest(ctx, '/v1/requests'));
    ctx.body = { requests: page.items.map((r) => deps.market.view(r)), next: page.next };
  });

  router.get('/v1/requests/:id', (ctx) => {
    const me = requireCustomer(ctx, deps.gatewayUrl);
    ctx.body = full(deps.market.get(me.agent, ctx.params.id as string));
  });

  router.post('/v1/requests/:id/accept', async (ctx) => {
    const me = requireCustomer(ctx, deps.gatewayUrl);
    const order = await deps.market.accept(me.agent, ctx.params.id as string, ctx.state.body, me.subnet);
    ctx.status = 201;
    ctx.body = { order: deps.orderView(order) };
  });

  router.get('/admin/api/requests', (ctx) => {
    requireAdmin(ctx, deps.gatewayUrl);
    const page = paginate(deps.market.all(), (r) => r.id, pageRequest(ctx, '/admin/api/requests'));
    ctx.body = { requests: page.items.map((r) => ({ customer: r.customer, ...full(r) })), next: page.next };
  });
}
