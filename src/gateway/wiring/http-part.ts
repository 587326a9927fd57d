// Start-up step: the admin views, metrics, links, and the HTTP server (customer, admin and agent routes) listening on the gateway's address.
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { SystemClock } from '../../protocol/clock.js';
import type { Closers } from '../../protocol/closers.js';
import type { TypedEmitter } from '../../protocol/typed-emitter.js';
import { UNIT } from '../../protocol/money.js';
import { RateLimiter } from '../limits/rate-limiter.js';
import { createApp } from '../http/app.js';
import { ConnectionLimiter } from '../http/connection-limits.js';
import { registerPublicRoutes } from '../http/public-routes.js';
import { registerLinkRoutes } from '../http/link-routes.js';
import { registerCustomerRoutes, type CustomerDeps } from '../http/customer-routes.js';
import { CustomerViews } from '../http/customer-views.js';
import { customerHomeHandler, registerCustomerPageRoutes, type CustomerPageDeps } from '../page/customer-page-routes.js';
import { registerTreeHeadRoutes } from '../http/tree-head-routes.js';
import { registerNodeRoutes } from '../http/node-routes.js';
import { registerMarketRoutes } from '../http/market-routes.js';
import { registerTrustAdminRoute } from '../http/trust-routes.js';
import { registerAdminAgentRoutes, registerAdminLedgerRoutes, registerAdminViewRoutes } from '../http/admin-routes.js';
import type { AdminSources } from '../admin/admin-views.js';
import { registerAdminPageRoutes } from '../admin/status-page.js';
import { adviceOf } from '../billing/grace-due.js';
import type { Ledger } from '../ledger/ledger.js';
import { GatewayMetrics, registerMetricsRoute } from '../metrics.js';
import type { HaMetricsView } from '../ha/ha-metrics.js';
import { LinkService } from '../link/link-service.js';
import { OFFER_SLOTS_TTL_MS, OfferSlots } from '../provision/offer-slots.js';
import type { Storage } from '../store/open-storage.js';
import type { GatewayConfig } from '../config.js';
import type { AgentParts, GatewayEvents, StateParts } from './agents-part.js';
import type { BillingParts } from './billing-part.js';
import { listen, type HostParts } from './host.js';
import { storePrincipals } from './store-principals.js';

/** The gateway's HTTP face. */
export interface HttpParts {
  readonly server: Server;
  readonly metrics: GatewayMetrics;
  readonly sources: AdminSources;
}

/** What the HTTP face is built from. */
export interface HttpPartsInputs {
  readonly config: GatewayConfig;
  readonly host: HostParts;
  readonly storage: Storage;
  readonly state: StateParts;
  readonly agents: AgentParts;
  readonly money: BillingParts;
  readonly ledger: Ledger;
  readonly signals: TypedEmitter<GatewayEvents>;
  readonly log: Logger;
  readonly closers: Closers;
  /** The lease's view for the HA gauges on /metrics. */
  readonly ha: HaMetricsView;
  /** Told when the server stops accepting connections (its closer began), so a standby server can take the address at once. */
  readonly onStopListening?: () => void;
}

/** The admin views' read side: what the status page, the admin JSON and the metrics show. */
export function adminSources(inputs: Pick<HttpPartsInputs, 'config' | 'host' | 'storage' | 'state' | 'agents' | 'money'>): AdminSources {
  const { config, host, storage, state, agents, money } = inputs;
  const { store } = state;
  const { hub, uptime } = agents;
  const { billing, closer, funds } = money;
  const admins = new Set(config.admins);
  return {
    nowMs: () => host.clock.nowMs(),
    nodes: () => hub.nodes(),
    agents: () => hub.agents(),
    approvals: () => store.agents.values(),
    deployments: () => store.deployments.values(),
    orders: () => [...store.orders.values(), ...storage.archive.values()],
    links: () => store.links.values(),
    totals: (id) => billing.totals(id),
    receipts: (id) => storage.receipts.of(id),
    periodTotals: () => storage.receipts.periodTotals(),
    moneyCheckpointFailures: () => storage.receipts.checkpointHealth().failures,
    arrearsOf: (c) => billing.arrearsOf(c),
    lowFunds: () => funds.lowFunds(),
    refreshFunds: () => funds.refresh(1000),
    // An admin by AgentPubKey, or the identity linked from an admin /64 (a lookup per listed /64, not a scan of links).
    isAdmin: (agent) => admins.has(agent) || config.admins.some((a) => a.includes('/') && store.links.get(a)?.agent === agent),
    billing: () => {
      const st = billing.status();
      return { lastRunAtMs: st.lastRun?.atMs ?? null, lastError: st.lastRun?.error ?? closer.lastRun().error, ledgerDown: st.ledgerDown, closedThroughMs: closer.closedThroughMs() };
    },
    eventsAbout: (kind, id) => storage.events.about(kind, id),
    recentEvents: (prefix, n) => storage.events.recent(prefix, n),
    countEvents: (prefix) => storage.events.count(prefix),
    isVmUp: (id) => uptime.isUp(`vm:${id}`, host.clock.nowMs()),
    requests: () => money.market.all().slice(-50).reverse().map((r) => ({ customer: r.customer, ...money.market.listing(r) })),
  };
}

/** Builds the routes and the server, attaches the agent hub's upgrade, and listens; closing drains, then cuts, connections. */
export async function buildHttpParts(inputs: HttpPartsInputs): Promise<HttpParts> {
  const { config, host, storage, state, agents, money, ledger, signals, log, closers, ha } = inputs;
  const { store, offers } = state;
  const { hub, provisioner, deployments, originPolicy } = agents;
  const { billing, orders, fundsSources, nodeUptime, dueNow, escrow, trust, market } = money;
  const { clock, identity, url, address } = host;
  const events = storage.events;
  const receipts = storage.receipts;
  const admins = new Set(config.admins);
  const sources = adminSources(inputs);
  const metrics = new GatewayMetrics(sources, ha);
  closers.add(signals.on('heartbeat', () => metrics.heartbeats.inc()));
  closers.add(signals.on('probeDisagreement', () => metrics.probeDisagreements.inc()));
  closers.add(signals.on('billingRun', (run) => metrics.observeBillingRun(run)));

  // Link challenges expire in real seconds: a security timeout, not an hour-stated policy the lab scales.
  const links = new LinkService(store.links, new SystemClock(), { agent: identity.agent, address }, config.link, (outcome, detail) => {
    metrics.linkAttempts.inc({ outcome: outcome === 'rejected' ? `rejected_${String(detail.reason)}` : outcome });
    log.info({ outcome, ...detail }, 'link');
  });
  const offerSlots = new OfferSlots(provisioner, () => offers, new SystemClock(), OFFER_SLOTS_TTL_MS[provisioner.kind]);
  const customerDeps: CustomerDeps = {
    gatewayUrl: url,
    clock,
    ledger,
    orders,
    deployments,
    escrow,
    trust,
    funds: fundsSources,
    // Customers see receipts through `present`, which reads the batch standing itself: no tree read per receipt listed.
    receiptsOf: (id) => receipts.listed(id),
    receiptView: (e) => receipts.present(e),
  };
  // One set of views for the JSON API and the customer page: both show the same thing.
  const customerViews = new CustomerViews(customerDeps);
  const customerPage: CustomerPageDeps = {
    gateway: { url, agent: identity.agent },
    views: customerViews,
    orders,
    deployments,
    offers: () => offers,
    availableSlots: () => offerSlots.all(),
    depositMs: config.billing.depositMs,
    eventsAbout: (kind, id) => events.about(kind, id),
    requestsOf: (customer) => market.list(customer).slice(-20).reverse().map((r) => market.listing(r)),
  };
  const wallMs = (): number => Date.now();
  const app = createApp({
    log,
    origin: originPolicy,
    rateLimits: {
      unlinked: new RateLimiter(config.http.unlinkedRequestsPerMinute, Math.max(20, Math.ceil(config.http.unlinkedRequestsPerMinute / 4)), wallMs),
      unlinkedPerMinute: config.http.unlinkedRequestsPerMinute,
      linked: new RateLimiter(config.http.linkedRequestsPerMinute, Math.max(20, Math.ceil(config.http.linkedRequestsPerMinute / 4)), wallMs),
      linkedPerMinute: config.http.linkedRequestsPerMinute,
      hold: (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000)),
    },
    observe: (route, method, status, ms) => metrics.observeRequest(route, method, status, ms),
    principals: storePrincipals(store, admins),
    routes: [
      (r) =>
        registerPublicRoutes(r, {
          gateway: { agent: identity.agent, url },
          offers: () => offers,
          availableSlots: () => offerSlots.all(),
          htmlHome: customerHomeHandler(customerPage),
          fundsAdvice: async (agent) => {
            if (billing.arrearsOf(agent) === 0n && !store.deployments.values().some((d) => d.customer === agent && d.state === 'grace')) return undefined;
            const due = await dueNow(agent);
            return due ? adviceOf(due, UNIT) || undefined : 'charges are unpaid, and the ledger cannot be reached to say how much to pay right now; try again in a minute';
          },
        }),
      (r) => registerLinkRoutes(r, links),
      (r) => registerNodeRoutes(r, { nodes: () => hub.nodes() }),
      (r) => registerCustomerRoutes(r, customerDeps, customerViews),
      (r) => registerMarketRoutes(r, { gatewayUrl: url, market, orderView: (o) => customerViews.order(o) }),
      (r) => registerCustomerPageRoutes(r, customerPage),
      (r) => registerTreeHeadRoutes(r, { gatewayUrl: url, treeHead: (ms) => billing.treeHead(ms) }),
      (r) =>
        registerAdminAgentRoutes(r, {
          gatewayUrl: url,
          clock,
          agents: store.agents,
          events,
          connected: () => hub.agents(),
          disconnect: (agent, reason) => hub.disconnect(agent, reason),
          nodes: () => hub.nodes(),
          nodeUptime: () => nodeUptime.history(),
          eventsAbout: (kind, id) => events.about(kind, id),
        }),
      (r) => registerAdminViewRoutes(r, { gatewayUrl: url, sources, ledger }),
      (r) => registerTrustAdminRoute(r, { gatewayUrl: url, trust, isCustomer: (agent) => store.links.values().some((l) => l.agent === agent) || store.orders.values().some((o) => o.customer === agent) }),
      (r) => registerMetricsRoute(r, { gatewayUrl: url, metrics }),
      (r) => registerAdminPageRoutes(r, { gatewayUrl: url, sources, ledger }),
      (r) =>
        registerAdminLedgerRoutes(r, {
          gatewayUrl: url,
          ledger,
          clock,
          events,
          beforeFunding: (customer) => billing.beforeFunding(customer),
          onFunded: async (customer, before) => {
            for (const o of orders.list(customer)) if (o.state === 'awaiting_payment') void orders.advance(o.id).catch((err: unknown) => log.error({ err, order: o.id }, 'order.advance failed'));
            const outcome = await billing.settleFor(customer, before);
            return { ...outcome, due: await dueNow(customer) };
          },
        }),
    ],
  });

  const server = createServer(app.callback());
  server.headersTimeout = 20_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 10_000;
  new ConnectionLimiter(config.http).attach(server);
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  hub.attach(server);
  await listen(server, address, config.port);
  closers.add(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // The listening socket is closed now (in-flight requests still finish): the address is free.
        inputs.onStopListening?.();
        server.closeIdleConnections();
        setTimeout(() => {
          for (const s of sockets) s.destroy();
        }, 2000).unref();
      }),
  );
  return { server, metrics, sources };
}
