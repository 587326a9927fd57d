// The gateway's lifecycle: start (wire every part, listen on the Mycelium address), status, and close.
import { RateLimiter } from './limits/rate-limiter.js';
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { existsSync, mkdirSync } from 'node:fs';
import type { Logger } from 'pino';
import { createSigner, loadKeyFile, newIdentity, saveKeyFile, type Identity } from '../identity/index.js';
import { ScaledClock, SystemClock, type Clock } from '../protocol/clock.js';
import type { Offer } from '../protocol/offer.js';
import type { VmAssignment } from '../protocol/agent-messages.js';
import { ValidationError } from '../protocol/validate.js';
import { createApp } from './http/app.js';
import { OriginPolicy } from './http/origin-guard.js';
import { ConnectionLimiter } from './http/connection-limits.js';
import { registerPublicRoutes } from './http/public-routes.js';
import { registerLinkRoutes } from './http/link-routes.js';
import { registerCustomerRoutes, type CustomerDeps } from './http/customer-routes.js';
import { CustomerViews } from './http/customer-views.js';
import { customerHomeHandler, registerCustomerPageRoutes, type CustomerPageDeps } from './page/customer-page-routes.js';
import { registerTreeHeadRoutes } from './http/tree-head-routes.js';
import { registerAdminAgentRoutes, registerAdminLedgerRoutes, registerAdminViewRoutes } from './http/admin-routes.js';
import type { AdminSources } from './admin/admin-views.js';
import { registerAdminPageRoutes } from './admin/status-page.js';
import { FundsWatch, readPosition, type FundsSources } from './billing/funds.js';
import { adviceOf } from './billing/grace-due.js';
import { LedgerUnavailableError } from './ledger/ledger.js';
import { UNIT } from '../protocol/money.js';
import { GatewayMetrics, registerMetricsRoute } from './metrics.js';
import { ProbeService } from './uptime/probe-service.js';
import { probeTcp } from '../protocol/probe.js';
import { LinkService } from './link/link-service.js';
import { openStorage } from './store/open-storage.js';
import type { Store } from './store/store.js';
import type { AgentApproval, DeploymentRecord } from './store/records.js';
import type { GatewayConfig } from './config.js';
import { resolveListenAddress, ListenAddressError } from './listen-address.js';
import { loadOffers } from './offers.js';
import { EventLog } from './events/event-log.js';
import { UptimeBook } from './uptime/uptime-book.js';
import { NodeUptimeRecorder } from './uptime/node-uptime.js';
import { AgentHub, verifyCountersignature } from './agents/agent-hub.js';
import { PeriodCloser } from './billing/period-closer.js';
import { ReceiptLog } from './billing/receipt-log.js';
import { BillingService } from './billing/billing-service.js';
import { createLedger } from './ledger/create-ledger.js';
import type { Ledger } from './ledger/ledger.js';
import { createProvisioner } from './provision/create-provisioner.js';
import { CapacityIndex, storeWithCapacityIndex } from './provision/capacity-index.js';
import { OFFER_SLOTS_TTL_MS, OfferSlots } from './provision/offer-slots.js';
import { OrderService } from './orders/order-service.js';
import { DeploymentService } from './deployments/deployment-service.js';

/** What `status()` reports. */
export interface GatewayStatus {
  readonly agent: string;
  readonly address: string;
  readonly port: number;
  readonly url: string;
  readonly pid: number;
}

/** Undo steps of a start-up, run in reverse when start fails or the gateway closes. */
class Closers {
  private readonly steps: (() => Promise<void> | void)[] = [];
  add(step: () => Promise<void> | void): void {
    this.steps.push(step);
  }
  async run(log: Logger): Promise<void> {
    while (this.steps.length > 0) {
      const step = this.steps.pop() as () => Promise<void> | void;
      try {
        await step();
      } catch (err) {
        log.warn({ err }, 'gateway.close: a step failed');
      }
    }
  }
}

/** The running gateway's parts, for tests and the admin views. */
export interface GatewayParts {
  readonly store: Store;
  readonly events: EventLog;
  readonly receipts: ReceiptLog;
  readonly ledger: Ledger;
  readonly hub: AgentHub;
  readonly billing: BillingService;
  readonly orders: OrderService;
  readonly deployments: DeploymentService;
  readonly closer: PeriodCloser;
}

/** The running gateway. */
export class Gateway {
  private constructor(
    readonly config: GatewayConfig,
    readonly identity: Identity,
    readonly address: string,
    readonly clock: Clock,
    readonly parts: GatewayParts,
    private readonly closers: Closers,
    private readonly log: Logger,
  ) {}

  /** Starts every part; on any failure closes what it had opened and rethrows. */
  static async start(config: GatewayConfig, log: Logger): Promise<Gateway> {
    const closers = new Closers();
    try {
      const { address, source } = await resolveListenAddress({ ...(config.listen !== undefined ? { explicit: config.listen } : {}), myceliumApiUrl: config.myceliumApiUrl });
      // Refuse an address this host does not have before writing anything: no key, no data folder.
      await probeAddress(address);
      const clock: Clock = config.lab ? new ScaledClock(config.lab.epochMs, config.lab.hourSeconds) : new SystemClock();
      if (config.lab) log.warn({ hourSeconds: config.lab.hourSeconds }, 'LAB MODE: one billed hour lasts %s real seconds', config.lab.hourSeconds);
      mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
      const identity = loadOrCreateKey(config.keyFile, log);
      const url = `http://[${address}]:${config.port}`;

      const storage = await openStorage(config, log);
      closers.add(() => storage.close());
      const { store: rawStore, events, receipts, archive } = storage;
      await syncConfiguredAgents(rawStore, config, clock);

      const offers: Offer[] = loadOffers(config.offersFile, config.prices);
      const offerById = new Map(offers.map((o) => [o.id, o]));
      // Every write to deployments and orders goes through the capacity index (one scan, here, at start).
      const capacity = new CapacityIndex(offerById, rawStore.deployments.values(), rawStore.orders.values());
      const store = storeWithCapacityIndex(rawStore, capacity);
      const ledger = await createLedger(config, clock, storage.ledgerJournal);
      closers.add(() => ledger.close());
      const uptime = new UptimeBook(config.heartbeatIntervalMs, config.billing.periodMs);

      let billing: BillingService | null = null;
      let closer: PeriodCloser | null = null;
      let metrics: GatewayMetrics | null = null;
      let prober: ProbeService | null = null;
      const originPolicy = new OriginPolicy([`[${address}]:${config.port}`, ...config.http.allowedHosts]);
      const wallMs = (): number => Date.now();
      const hub = new AgentHub({
        origin: originPolicy,
        upgrades: new RateLimiter(config.http.agentUpgradesPerMinute, config.http.agentUpgradesPerMinute, wallMs),
        store,
        clock,
        identity,
        heartbeatIntervalMs: config.heartbeatIntervalMs,
        periodMs: config.billing.periodMs,
        uptime,
        events,
        log,
        agentRequests: config.agentRequests,
        closedThroughMs: () => closer?.closedThroughMs() ?? 0,
        assignmentsFor: (nodes) => assignments(store.deployments.values(), nodes, config.probes.port),
        onCountersign: (id, agent, result) => void billing?.onCountersign(id, agent, result),
        onBatchCountersign: (head, agent, result) => void billing?.onBatchCountersign(head, agent, result),
        onHeartbeat: () => metrics?.heartbeats.inc(),
      });
      closers.add(() => hub.close());

      const provisioner = await createProvisioner(config, {
        nodes: () => hub.nodes(),
        usedOn: (node) => capacity.usedOn(node),
        command: (node, op, vm, timeoutMs) => hub.command(node, op, vm, timeoutMs),
      }, log);
      closers.add(() => provisioner.close?.());
      const deployments = new DeploymentService({
        clock,
        deployments: store.deployments,
        provisioner,
        events,
        log,
        totals: (id) => billing?.totals(id) ?? { upSeconds: 0, chargedMicros: 0n, arrearsMicros: 0n },
        onPlacementChanged: (nodes) => hub.refreshAssignments(nodes),
      });
      closers.add(() => deployments.close());
      const sign = createSigner(identity.secretKey);
      billing = new BillingService({
        clock,
        gateway: { agent: identity.agent, sign },
        receipts,
        deployments: store.deployments,
        uptime,
        ...(config.probes.enabled ? { disputes: { disputed: (id: string, fromMs: number, toMs: number) => prober?.disputed(id, fromMs, toMs) ?? false } } : {}),
        ledger,
        lifecycle: deployments,
        agents: { agentHead: (a, p) => hub.agentHead(a, p), requestCountersign: (r) => hub.requestCountersign(r), verifyCountersignature, requestBatchCountersign: (f, h, r) => hub.requestBatchCountersign(f, h, r) },
        events,
        log,
        policy: { farmerShareBps: config.billing.farmerShareBps, graceMs: config.billing.graceMs, pauseInGrace: config.billing.pauseInGrace, periodMs: config.billing.periodMs },
        onRun: (run) => metrics?.observeBillingRun(run),
      });
      const billingRef = billing;
      const orders = new OrderService({
        clock,
        store,
        archive,
        ledger,
        provisioner,
        events,
        log,
        policy: {
          depositMs: config.billing.depositMs,
          expireAfterMs: config.orders.expireAfterMs,
          maxProvisionAttempts: config.orders.maxProvisionAttempts,
          maxOpenOrders: config.orders.maxUnpaid,
          maxPerWindow: config.orders.maxPerWindow,
          windowMs: config.orders.windowMs,
          maxSshKeyBytes: config.orders.maxSshKeyBytes,
        },
        offer: (id) => offerById.get(id),
        offerIds: () => offers.map((o) => o.id),
        arrearsOf: (c) => billingRef.arrearsOf(c),
        onActive: (d) => hub.refreshAssignments([d.node]),
      });
      closers.add(() => orders.close());

      const fundsSources: FundsSources = {
        ledger,
        lowRunwayMs: config.billing.lowFundsRunwayMs,
        depositMs: config.billing.depositMs,
        deployments: () => store.deployments.values(),
        arrearsOf: (c) => billingRef.arrearsOf(c),
      };
      const funds = new FundsWatch({ ...fundsSources, clock, events, log, customersInArrears: () => receipts.customersInArrears() });
      /** The shortfall after a settle, or null when the ledger does not answer. */
      const dueNow = async (customer: string) => {
        try {
          return (await readPosition(fundsSources, customer)).due;
        } catch (err) {
          if (err instanceof LedgerUnavailableError) return null;
          throw err;
        }
      };
      const nodeUptime = new NodeUptimeRecorder(uptime, store.meta, () => hub.nodes().map((n) => n.id));
      closer = new PeriodCloser({
        clock,
        periodMs: config.billing.periodMs,
        settleMs: config.billing.settleMs,
        startupWaitRealMs: config.billing.startupWaitRealMs,
        tickRealMs: config.billing.tickRealMs,
        meta: store.meta,
        work: [nodeUptime, billing],
        // A connected agent's late heartbeats are waited for at most 10 intervals past the settle time (2.5 min at 15 s).
        evidence: { source: hub, maxWaitMs: 10 * config.heartbeatIntervalMs },
        persistEvidence: (ms) => hub.persist(ms),
        events,
        log,
      });
      const closerRef = closer;
      closers.add(() => closerRef.close());

      const admins = new Set(config.admins);
      const sources: AdminSources = {
        nowMs: () => clock.nowMs(),
        nodes: () => hub.nodes(),
        agents: () => hub.agents(),
        approvals: () => store.agents.values(),
        deployments: () => store.deployments.values(),
        orders: () => [...store.orders.values(), ...archive.values()],
        links: () => store.links.values(),
        totals: (id) => billingRef.totals(id),
        receipts: (id) => receipts.of(id),
        periodTotals: () => receipts.periodTotals(),
        arrearsOf: (c) => billingRef.arrearsOf(c),
        lowFunds: () => funds.lowFunds(),
        refreshFunds: () => funds.refresh(1000),
        // An admin by AgentPubKey, or the identity linked from an admin /64 (a lookup per listed /64, not a scan of links).
        isAdmin: (agent) => admins.has(agent) || config.admins.some((a) => a.includes('/') && store.links.get(a)?.agent === agent),
        billing: () => {
          const st = billingRef.status();
          return { lastRunAtMs: st.lastRun?.atMs ?? null, lastError: st.lastRun?.error ?? closerRef.lastRun().error, ledgerDown: st.ledgerDown, closedThroughMs: closerRef.closedThroughMs() };
        },
        eventsAbout: (kind, id) => events.about(kind, id),
        recentEvents: (prefix, n) => events.recent(prefix, n),
        countEvents: (prefix) => events.count(prefix),
        isVmUp: (id) => uptime.isUp(`vm:${id}`, clock.nowMs()),
      };

      const gatewayMetrics = new GatewayMetrics(sources);
      metrics = gatewayMetrics;
      const probes = new ProbeService({
        clock,
        uptime,
        events,
        log,
        intervalMs: config.heartbeatIntervalMs,
        port: config.probes.port,
        probe: probeTcp,
        deployments: () => store.deployments.values(),
        hasAgent: (d) => hub.farmerOf(d.node) !== undefined,
        onDisagreement: () => gatewayMetrics.probeDisagreements.inc(),
        // Disputes are read at period closes, which may lag (a ledger outage); keep them a few periods.
        keepDisputesMs: Math.max(2 * 86_400_000, 8 * config.billing.periodMs),
      });
      prober = probes;
      closers.add(() => probes.close());

      // Link challenges expire in real seconds: a security timeout, not an hour-stated policy the lab scales.
      const links = new LinkService(store.links, new SystemClock(), { agent: identity.agent, address }, config.link, (outcome, detail) => {
        gatewayMetrics.linkAttempts.inc({ outcome: outcome === 'rejected' ? `rejected_${String(detail.reason)}` : outcome });
        log.info({ outcome, ...detail }, 'link');
      });
      const offerSlots = new OfferSlots(provisioner, () => offers, new SystemClock(), OFFER_SLOTS_TTL_MS[provisioner.kind]);
      const customerDeps: CustomerDeps = {
        gatewayUrl: url,
        clock,
        ledger,
        orders,
        deployments,
        funds: fundsSources,
        receiptsOf: (id) => receipts.of(id),
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
      };
      const app = createApp({
        log,
        origin: originPolicy,
        rateLimits: {
          unlinked: new RateLimiter(config.http.unlinkedRequestsPerMinute, Math.max(20, Math.ceil(config.http.unlinkedRequestsPerMinute / 4)), wallMs),
          unlinkedPerMinute: config.http.unlinkedRequestsPerMinute,
          linked: new RateLimiter(config.http.linkedRequestsPerMinute, Math.max(20, Math.ceil(config.http.linkedRequestsPerMinute / 4)), wallMs),
          linkedPerMinute: config.http.linkedRequestsPerMinute,
        },
        observe: (route, method, status, ms) => gatewayMetrics.observeRequest(route, method, status, ms),
        principals: {
          linkOf: (subnet) => store.links.get(subnet),
          isAdmin: (agent, subnet) => admins.has(subnet) || (agent !== undefined && admins.has(agent)),
          isFarmer: (agent) => store.agents.get(agent)?.state === 'approved',
        },
        routes: [
          (r) =>
            registerPublicRoutes(r, {
              gateway: { agent: identity.agent, url },
              offers: () => offers,
              availableSlots: () => offerSlots.all(),
              htmlHome: customerHomeHandler(customerPage),
              fundsAdvice: async (agent) => {
                if (billingRef.arrearsOf(agent) === 0n && !store.deployments.values().some((d) => d.customer === agent && d.state === 'grace')) return undefined;
                const due = await dueNow(agent);
                return due ? adviceOf(due, UNIT) || undefined : 'charges are unpaid, and the ledger cannot be reached to say how much to pay right now; try again in a minute';
              },
            }),
          (r) => registerLinkRoutes(r, links),
          (r) => registerCustomerRoutes(r, customerDeps, customerViews),
          (r) => registerCustomerPageRoutes(r, customerPage),
          (r) => registerTreeHeadRoutes(r, { gatewayUrl: url, treeHead: (ms) => billingRef.treeHead(ms) }),
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
          (r) => registerMetricsRoute(r, { gatewayUrl: url, metrics: gatewayMetrics }),
          (r) => registerAdminPageRoutes(r, { gatewayUrl: url, sources, ledger }),
          (r) =>
            registerAdminLedgerRoutes(r, {
              gatewayUrl: url,
              ledger,
              clock,
              events,
              onFunded: async (customer) => {
                for (const o of orders.list(customer)) if (o.state === 'awaiting_payment') void orders.advance(o.id);
                const outcome = await billingRef.settleFor(customer);
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
            server.closeIdleConnections();
            setTimeout(() => {
              for (const s of sockets) s.destroy();
            }, 2000).unref();
          }),
      );

      closer.start();
      orders.start(config.orders.checkIntervalRealMs);
      deployments.start(Math.max(1000, config.billing.tickRealMs * 10));
      if (config.probes.enabled) probes.start();
      billing.requestMissingCountersigns();
      const settleTimer = setInterval(
        () =>
          void billingRef
            .settle()
            .then(() => funds.refresh(1000))
            .catch((err: unknown) => log.error({ err }, 'billing.settle failed')),
        Math.max(config.billing.tickRealMs, 100),
      );
      closers.add(() => clearInterval(settleTimer));
      log.info({ address, source, port: config.port, agent: identity.agent, dataDir: config.dataDir, ledger: ledger.kind, provisioner: provisioner.kind }, 'gateway listening on %s', url);
      return new Gateway(config, identity, address, clock, { store, events, receipts, ledger, hub, billing, orders, deployments, closer }, closers, log);
    } catch (err) {
      await closers.run(log);
      throw err;
    }
  }

  status(): GatewayStatus {
    return { agent: this.identity.agent, address: this.address, port: this.config.port, url: `http://[${this.address}]:${this.config.port}`, pid: process.pid };
  }

  /** Stops accepting, finishes in-flight work, and closes every part in reverse order. */
  async close(): Promise<void> {
    this.log.info('gateway shutting down');
    await this.closers.run(this.log);
    this.log.info('gateway stopped');
  }
}

/** Makes the store's agent approvals match the config's: config agents are approved. */
async function syncConfiguredAgents(store: Store, config: GatewayConfig, clock: Clock): Promise<void> {
  const owner = new Map<string, string>();
  const writes: Promise<void>[] = [];
  for (const a of config.agents) {
    for (const n of a.nodes) {
      const other = owner.get(n);
      if (other !== undefined && other !== a.agent) throw new ValidationError('config.agents', `node ${n} is listed for two agents (${other} and ${a.agent})`);
      owner.set(n, a.agent);
    }
    const existing = store.agents.get(a.agent);
    const record: AgentApproval = { agent: a.agent, state: 'approved', source: 'config', subnets: a.subnets, nodes: a.nodes, decidedAtMs: existing?.decidedAtMs ?? clock.nowMs() };
    // Not awaited one by one: writes made in one tick share one rewrite of db.json (thousands of agents start in a second).
    if (JSON.stringify(existing) !== JSON.stringify(record)) writes.push(store.agents.put(a.agent, record));
  }
  await Promise.all(writes);
}

/** The VMs on `nodes` that agents should probe: those running or in grace. */
export function assignments(deployments: readonly DeploymentRecord[], nodes: readonly string[], port: number): VmAssignment[] {
  const wanted = new Set(nodes);
  return deployments
    .filter((d) => wanted.has(d.node) && d.myceliumIp !== '' && (d.state === 'active' || d.state === 'grace'))
    .map((d) => ({ id: d.id, node: d.node, myceliumIp: d.myceliumIp, port }));
}

function loadOrCreateKey(path: string, log: Logger): Identity {
  if (!existsSync(path)) {
    const identity = newIdentity();
    saveKeyFile(path, identity);
    log.info({ agent: identity.agent, keyFile: path }, 'created the gateway key');
    return identity;
  }
  return loadKeyFile(path);
}

/**
 * Binds [address] on an ephemeral port once and lets go, so an address this host lacks is refused
 * with listen's own error before any file is written. Not the real port: clients (agents
 * reconnecting after a restart) must never reach a server that is about to vanish.
 */
async function probeAddress(address: string): Promise<void> {
  const probe = createServer((_req, res) => res.socket?.destroy());
  await listen(probe, address, 0);
  probe.closeAllConnections();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}

function listen(server: Server, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      if (err.code === 'EADDRNOTAVAIL') {
        reject(new ListenAddressError(`${address} is not an address of this host: is Mycelium running, and is this its address? (listen: ${err.message})`));
      } else if (err.code === 'EADDRINUSE') {
        reject(new ListenAddressError(`[${address}]:${port} is already in use: is another gateway running?`));
      } else reject(err);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host: address, port, ipv6Only: true });
  });
}
