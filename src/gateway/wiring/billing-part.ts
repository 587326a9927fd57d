// Start-up step: the money side (billing, orders, the funds watch, the period closer), listening to the hub's countersignatures.
import type { Logger } from 'pino';
import { createSigner } from '../../identity/index.js';
import type { Closers } from '../../protocol/closers.js';
import type { TypedEmitter } from '../../protocol/typed-emitter.js';
import { verifyCountersignature } from '../agents/agent-hub.js';
import { BillingService } from '../billing/billing-service.js';
import { FundsWatch, readPosition, type FundsSources } from '../billing/funds.js';
import type { FundsDue } from '../billing/grace-due.js';
import { PeriodCloser } from '../billing/period-closer.js';
import { LedgerUnavailableError, type Ledger } from '../ledger/ledger.js';
import { OrderService } from '../orders/order-service.js';
import type { Storage } from '../store/open-storage.js';
import { NodeUptimeRecorder } from '../uptime/node-uptime.js';
import { EscrowService } from '../escrow/escrow-service.js';
import { TrustService } from '../trust/trust-service.js';
import { tierOf } from '../trust/trust-tier.js';
import { MarketService } from '../market/market-service.js';
import { farmerRecordOf } from '../market/farmer-record.js';
import { probeTcp } from '../../protocol/probe.js';
import { UNIT } from '../../protocol/money.js';
import type { GatewayConfig } from '../config.js';
import type { AgentParts, GatewayEvents, StateParts } from './agents-part.js';
import type { HostParts } from './host.js';

/** The parts that bill, take orders and close periods. */
export interface BillingParts {
  readonly billing: BillingService;
  readonly orders: OrderService;
  readonly funds: FundsWatch;
  readonly fundsSources: FundsSources;
  readonly closer: PeriodCloser;
  readonly nodeUptime: NodeUptimeRecorder;
  /** A customer's shortfall after a settle, or null when the ledger does not answer. */
  readonly dueNow: (customer: string) => Promise<FundsDue | null>;
  /** Access escrow: holds a new deployment's charges until its access is verified. */
  readonly escrow: EscrowService;
  /** Trust tiers: what a customer's history here allows. */
  readonly trust: TrustService;
  /** Capacity requests and farmers' bids. */
  readonly market: MarketService;
}

/** What the billing parts are built from. */
export interface BillingPartsInputs {
  readonly config: GatewayConfig;
  readonly host: HostParts;
  readonly storage: Storage;
  readonly state: StateParts;
  readonly agents: AgentParts;
  readonly ledger: Ledger;
  readonly signals: TypedEmitter<GatewayEvents>;
  readonly log: Logger;
  readonly closers: Closers;
}

/** Builds billing (subscribed to the hub's countersignatures), orders, the funds watch and the period closer. */
export function buildBillingParts(inputs: BillingPartsInputs): BillingParts {
  const { config, host, storage, state, agents, ledger, signals, log, closers } = inputs;
  const { clock, identity } = host;
  const { store } = state;
  const { hub, deployments, probes, uptime, provisioner } = agents;
  // Billing settles what escrow releases; escrow is built first and asks billing to settle through `built`.
  const built: { billing?: BillingService } = {};
  const escrow = new EscrowService({
    clock,
    deployments: store.deployments,
    receipts: storage.receipts,
    uptime,
    probe: async (d) => (config.probes.enabled && d.myceliumIp !== '' ? (await probeTcp(d.myceliumIp, config.probes.port, 3000)).reachable : null),
    lifecycle: deployments,
    events: storage.events,
    log,
    onSettled: () => void built.billing?.settle().catch((err: unknown) => log.error({ err }, 'billing.settle failed')),
  });
  closers.add(signals.on('vmLogin', (agent, id, fingerprint) => void escrow.onLogin(agent, id, fingerprint).catch((err: unknown) => log.error({ err }, 'escrow.onLogin failed'))));
  const billing = new BillingService({
    clock,
    gateway: { agent: identity.agent, sign: createSigner(identity.secretKey) },
    receipts: storage.receipts,
    deployments: store.deployments,
    uptime,
    ...(config.probes.enabled ? { disputes: { disputed: (id: string, fromMs: number, toMs: number) => probes.disputed(id, fromMs, toMs) } } : {}),
    ledger,
    lifecycle: deployments,
    escrow,
    agents: { agentHead: (a, p) => hub.agentHead(a, p), requestCountersign: (r) => hub.requestCountersign(r), verifyCountersignature, requestBatchCountersign: (f, h, r) => hub.requestBatchCountersign(f, h, r) },
    events: storage.events,
    log,
    policy: { farmerShareBps: config.billing.farmerShareBps, graceMs: config.billing.graceMs, pauseInGrace: config.billing.pauseInGrace, periodMs: config.billing.periodMs },
    onRun: (run) => signals.emit('billingRun', run),
  });
  // A countersignature's record can be refused (a fenced or unreachable store): logged, never an unhandled rejection.
  closers.add(signals.on('countersign', (id, agent, result) => void billing.onCountersign(id, agent, result).catch((err: unknown) => log.error({ err }, 'billing.onCountersign failed'))));
  closers.add(signals.on('batchCountersign', (head, agent, result) => void billing.onBatchCountersign(head, agent, result).catch((err: unknown) => log.error({ err }, 'billing.onBatchCountersign failed'))));
  built.billing = billing;
  const trust = new TrustService({ clock, tiers: config.trust.tiers.map(tierOf), deployments: store.deployments, orders: store.orders, receipts: storage.receipts, meta: store.meta, events: storage.events });

  const orders = new OrderService({
    clock,
    store,
    archive: storage.archive,
    ledger,
    provisioner,
    events: storage.events,
    log,
    policy: {
      depositMs: config.billing.depositMs,
      expireAfterMs: config.orders.expireAfterMs,
      maxProvisionAttempts: config.orders.maxProvisionAttempts,
      roomWaitMs: config.orders.roomWaitMs,
      maxOpenOrders: config.orders.maxUnpaid,
      maxPerWindow: config.orders.maxPerWindow,
      windowMs: config.orders.windowMs,
      maxSshKeyBytes: config.orders.maxSshKeyBytes,
      accessWindowMs: config.escrow.windowMs,
    },
    offer: (id) => state.offerById.get(id),
    offerIds: () => state.offers.map((o) => o.id),
    arrearsOf: (c) => billing.arrearsOf(c),
    trust,
    onActive: (d) => hub.refreshAssignments([d.node]),
  });
  closers.add(() => orders.close());

  const fundsSources: FundsSources = {
    ledger,
    lowRunwayMs: config.billing.lowFundsRunwayMs,
    depositMs: config.billing.depositMs,
    deployments: () => store.deployments.values(),
    arrearsOf: (c) => billing.arrearsOf(c),
  };
  const funds = new FundsWatch({ ...fundsSources, clock, events: storage.events, log, customersInArrears: () => storage.receipts.customersInArrears() });
  const dueNow = async (customer: string): Promise<FundsDue | null> => {
    try {
      return (await readPosition(fundsSources, customer)).due;
    } catch (err) {
      if (err instanceof LedgerUnavailableError) return null;
      throw err;
    }
  };
  const nodeUptime = new NodeUptimeRecorder(uptime, store.meta, () => hub.nodes().map((n) => n.id));
  const market = new MarketService({
    clock,
    gateway: identity.agent,
    unit: UNIT,
    events: storage.events,
    log,
    policy: {
      maxOpen: config.orders.maxUnpaid,
      maxPerWindow: config.orders.maxPerWindow,
      windowMs: config.orders.windowMs,
      maxHeld: config.market.maxRequests,
      maxExpiresInMinutes: config.market.maxExpiresInMinutes,
      maxSshKeyBytes: config.orders.maxSshKeyBytes,
      provisioner: provisioner.kind,
    },
    table: store.requests,
    nodes: () => hub.nodes(),
    usedOn: (node) => state.capacity.usedOn(node),
    send: (farmer, request) => hub.sendCapacityRequest(farmer, request),
    recordOf: (farmer) =>
      farmerRecordOf(
        store.agents.get(farmer)?.nodes ?? [],
        nodeUptime.history(),
        storage.events.about('agent', farmer).filter((e) => e.event === 'agent.probe_disagreement').map((e) => e.atMs),
        clock.nowMs(),
      ),
    placeOrder: (customer, offer, terms, subnet) => orders.place(customer, offer, terms, subnet),
  });
  closers.add(signals.on('bid', (agent, nodes, bid) => void market.onBid(agent, nodes, bid).catch((err: unknown) => log.error({ err }, 'market.onBid failed'))));
  const closer = new PeriodCloser({
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
    events: storage.events,
    log,
  });
  closers.add(() => closer.close());
  return { billing, orders, funds, fundsSources, closer, nodeUptime, dueNow, escrow, trust, market };
}
