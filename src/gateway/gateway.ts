// The gateway's lifecycle: start (open storage, build the agent, billing and HTTP parts, start the loops), status, and close.
import type { Logger } from 'pino';
import { loadLibsodium, type Identity } from '../identity/index.js';
import { errorMessage } from '../identity/error-message.js';
import type { Clock } from '../protocol/clock.js';
import { Closers } from '../protocol/closers.js';
import { TypedEmitter } from '../protocol/typed-emitter.js';
import type { EventLog } from './events/event-log.js';
import type { AgentHub } from './agents/agent-hub.js';
import type { BillingService } from './billing/billing-service.js';
import type { PeriodCloser } from './billing/period-closer.js';
import type { ReceiptLog } from './billing/receipt-log.js';
import type { DeploymentService } from './deployments/deployment-service.js';
import { createLedger } from './ledger/create-ledger.js';
import type { Ledger } from './ledger/ledger.js';
import type { OrderService } from './orders/order-service.js';
import { openStorage } from './store/open-storage.js';
import type { Store } from './store/store.js';
import type { GatewayConfig } from './config.js';
import { prepareHost, type HostParts } from './wiring/host.js';
import { createLease, type GatewayLease } from './ha/create-lease.js';
import type { GatewayRole } from './ha/lease.js';
import { runRoleHook } from './ha/role-hooks.js';
import { startStandbyServer } from './ha/standby-server.js';
import { buildAgentParts, prepareState, type AgentParts, type GatewayEvents } from './wiring/agents-part.js';
import { buildBillingParts, type BillingParts } from './wiring/billing-part.js';
import { buildHttpParts } from './wiring/http-part.js';

/** What `status()` reports. */
export interface GatewayStatus {
  readonly agent: string;
  readonly address: string;
  readonly port: number;
  readonly url: string;
  readonly pid: number;
  /** Whether this gateway holds the active lease (the embedded store's is always active). */
  readonly role: GatewayRole;
  /** The active gateway's URL as the lease names it. */
  readonly activeUrl?: string;
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

/** One active term: its parts, their undo list, its lease term, and when its HTTP server stopped listening. */
interface ActiveTerm {
  readonly parts: GatewayParts;
  readonly closers: Closers;
  readonly term: number | undefined;
  /** Settles once the term's server has closed its listening socket (the first step of stopping it). */
  readonly unlistened: Promise<void>;
}

/**
 * The running gateway: a standby (a small server answering 503 with the active URL) or active
 * (every part). Role changes follow the lease one at a time. On losing the lease every active part
 * is closed at once, in-process (the same undo list a clean stop runs), then the standby server
 * starts: nothing of the old term survives to act, and the next term reloads all state from the
 * database when it opens storage again. (Exiting for a supervisor to restart would do the same with
 * a slower, supervisor-dependent takeover back; the lease and the fence make either safe.)
 */
export class Gateway {
  private active: ActiveTerm | undefined;
  private standbyClose: (() => Promise<void>) | undefined;
  private switching: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    readonly config: GatewayConfig,
    private readonly host: HostParts,
    private readonly lease: GatewayLease['lease'],
    private readonly writes: GatewayLease,
    private readonly log: Logger,
  ) {}

  get identity(): Identity {
    return this.host.identity;
  }

  get address(): string {
    return this.host.address;
  }

  get clock(): Clock {
    return this.host.clock;
  }

  /** The active term's parts; a standby has none. */
  get parts(): GatewayParts {
    if (this.active === undefined) throw new Error('gateway.parts: this gateway is a standby');
    return this.active.parts;
  }

  /**
   * Resolves the host, takes part in the lease, and starts in the role the first round gave (active,
   * or standby); a failure of that first start closes what it opened and rethrows.
   */
  static async start(config: GatewayConfig, log: Logger): Promise<Gateway> {
    // The gateway verifies many keys and hashes every receipt and log line: libsodium is faster there (bench/verify, bench/billing).
    await loadLibsodium();
    const host = await prepareHost(config, log);
    const created = createLease(config.ha, host.url, log);
    const { lease } = created;
    const gateway = new Gateway(config, host, lease, created, log);
    // Changes during the first start are caught up after it (follow reads the lease's role, so one call covers many).
    let started = false;
    lease.signals.on('active', () => void (started && gateway.follow()));
    lease.signals.on('standby', () => void (started && gateway.follow()));
    lease.signals.on('outage', (message) => log.error({ outage: message }, 'ha: the lease database is unreachable'));
    try {
      await lease.start();
      await gateway.follow(true);
      started = true;
      void gateway.follow();
    } catch (err) {
      gateway.closed = true;
      await lease.close();
      throw err;
    }
    return gateway;
  }

  status(): GatewayStatus {
    const activeUrl = this.lease.activeUrl();
    return { agent: this.identity.agent, address: this.address, port: this.config.port, url: this.host.url, pid: process.pid, role: this.active ? 'active' : 'standby', ...(activeUrl !== undefined ? { activeUrl } : {}) };
  }

  /** Stops accepting, finishes in-flight work, closes every part in reverse order, then gives the lease up. */
  async close(): Promise<void> {
    this.log.info('gateway shutting down');
    this.closed = true;
    await this.switching;
    await this.stopActive();
    await this.standbyClose?.();
    this.standbyClose = undefined;
    await this.lease.close();
    this.log.info('gateway stopped');
  }

  /** Moves to the lease's current role (queued: one change at a time); `rethrow` for the first start. */
  private follow(rethrow = false): Promise<void> {
    // The term this step tried to start: only its lease is given up if the start fails.
    let tried: number | undefined;
    const step = this.switching.then(async () => {
      if (this.closed) return;
      tried = this.lease.term();
      if (tried !== undefined) await this.becomeActive(tried);
      else await this.becomeStandby();
    });
    // The first start's failure is the caller's (start closes everything); a later one falls back to standby.
    this.switching = step.catch((err: unknown) => {
      if (rethrow) return;
      this.log.error({ err, term: tried }, tried !== undefined ? 'gateway: taking over failed; giving the lease up' : 'gateway: standing by failed');
      return this.becomeStandby()
        .then(() => (tried !== undefined ? this.lease.resign?.('the active parts failed to start', tried) : undefined))
        .catch((e: unknown) => this.log.error({ err: e }, 'gateway: the standby server failed to start'));
    });
    return rethrow ? step : this.switching;
  }

  private async becomeActive(term: number): Promise<void> {
    if (this.active !== undefined && this.active.term === term) return;
    // Active again under a new token without having been seen standing by (a stalled event loop): the old
    // term is over and another gateway may have written since, so its parts go and state is reloaded.
    if (this.active !== undefined) {
      await this.stopActive();
      this.log.warn('ha: lost the lease: every active part stopped');
    }
    await this.standbyClose?.();
    this.standbyClose = undefined;
    const closers = new Closers();
    let stoppedListening = (): void => undefined;
    const unlistened = new Promise<void>((resolve) => (stoppedListening = resolve));
    try {
      const parts = await startActiveParts(this.config, this.host, this.writes, term, closers, this.log, stoppedListening);
      this.active = { parts, closers, term, unlistened };
    } catch (err) {
      await closers.run((e) => this.log.warn({ err: e }, 'gateway.close: a step failed'));
      throw err;
    }
    if (this.lease.kind !== 'embedded') this.log.warn({ url: this.host.url }, 'ha: ACTIVE: this gateway holds the lease, state reloaded from the database');
    void runRoleHook(this.config.ha.onActiveCommand, 'active', this.host.url, this.log);
  }

  private async becomeStandby(): Promise<void> {
    const active = this.active;
    const standingBy = this.standbyClose !== undefined;
    const stopping = this.stopActive();
    // The standby server listens as soon as the active one has stopped, not once every part has: the
    // rest wait for requests in flight (2 s) and may wait on the very database that cost the lease, and
    // until a server listens every connection is refused, where the standby's 503 would have said to
    // retry (a lab's lone gateway refused connections for 3 s of a 13 s PostgreSQL stall).
    if (active !== undefined) {
      await Promise.race([active.unlistened, stopping]);
      await this.startStandbyServer().catch((err: unknown) => this.log.warn({ err }, 'standby: could not listen while the active parts stop; trying again once they have'));
    }
    await stopping;
    if (active !== undefined) this.log.warn('ha: lost the lease: every active part stopped');
    await this.startStandbyServer();
    // The operator's hook runs once nothing of the active term is left (it may stop what those parts used).
    if (!standingBy && this.standbyClose !== undefined) void runRoleHook(this.config.ha.onStandbyCommand, 'standby', this.lease.activeUrl(), this.log);
  }

  private async startStandbyServer(): Promise<void> {
    if (this.standbyClose === undefined && !this.closed) this.standbyClose = await startStandbyServer(this.host.address, this.config.port, this.lease, this.config.admins, this.log);
  }

  private async stopActive(): Promise<void> {
    const active = this.active;
    this.active = undefined;
    await active?.closers.run((err) => this.log.warn({ err }, 'gateway.close: a step failed'));
  }
}

/** One active term: opens storage (reloading all state), builds every part, listens, and starts the loops. */
async function startActiveParts(config: GatewayConfig, host: HostParts, writes: GatewayLease, term: number, closers: Closers, log: Logger, onStopListening: () => void): Promise<GatewayParts> {
  // The store writes only under this term's token: an older term's parts still stopping write nothing.
  const storage = await openStorage(config, log, { ...(writes.fence !== undefined ? { fence: writes.fence.forTerm(term) } : {}), ...(writes.applicationName !== undefined ? { applicationName: writes.applicationName } : {}) });
  closers.add(() => storage.close());
  const state = await prepareState(config, storage, host.clock);
  const ledger = await createLedger(config, host.clock, storage.ledgerJournal);
  closers.add(() => ledger.close());
  const signals = new TypedEmitter<GatewayEvents>((name, err) => log.error({ err, event: name }, 'gateway: a listener failed'));
  // Deployments show billing's totals, and billing is built after the deployments it bills.
  const built: { billing?: BillingService } = {};
  const agents = await buildAgentParts({ config, host, storage, state, signals, log, closers, totals: (id) => built.billing?.totals(id) ?? { upSeconds: 0, chargedMicros: 0n, arrearsMicros: 0n } });
  const money = buildBillingParts({ config, host, storage, state, agents, ledger, signals, log, closers });
  built.billing = money.billing;
  const ha = { active: () => writes.lease.role() === 'active', outage: () => writes.lease.outage() };
  await buildHttpParts({ config, host, storage, state, agents, money, ledger, signals, log, closers, ha, onStopListening });
  startActiveWork(config, host, agents, money, closers, log);
  log.info({ address: host.address, source: host.source, port: config.port, agent: host.identity.agent, dataDir: config.dataDir, ledger: ledger.kind, provisioner: agents.provisioner.kind }, 'gateway listening on %s', host.url);
  return { store: state.store, events: storage.events, receipts: storage.receipts, ledger, hub: agents.hub, billing: money.billing, orders: money.orders, deployments: agents.deployments, closer: money.closer };
}

/**
 * Starts the loops that change state on their own (period closes, order checks, deployment checks,
 * probes, settling); their stop steps go last on the undo list, so a close stops them first.
 */
function startActiveWork(config: GatewayConfig, host: HostParts, agents: AgentParts, money: BillingParts, closers: Closers, log: Logger): void {
  money.closer.start();
  money.orders.start(config.orders.checkIntervalRealMs);
  agents.deployments.start(Math.max(1000, config.billing.tickRealMs * 10));
  if (config.probes.enabled) agents.probes.start();
  agents.redeploys.start(Math.max(100, host.clock.toRealMs(config.heartbeatIntervalMs)));
  // Reads the farmers' receipts back from the money log; a failure is logged, and they are asked again on the next start.
  money.billing.requestMissingCountersigns().catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'billing: could not re-ask farmers for countersignatures'));
  money.billing.start(config.billing.tickRealMs, () => money.funds.refresh(1000));
  closers.add(() => money.billing.close());
}
