// The gateway's lifecycle: start (open storage, build the agent, billing and HTTP parts, start the loops), status, and close.
import type { Logger } from 'pino';
import type { Identity } from '../identity/index.js';
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
import { prepareHost } from './wiring/host.js';
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
      const host = await prepareHost(config, log);
      const storage = await openStorage(config, log);
      closers.add(() => storage.close());
      const state = await prepareState(config, storage, host.clock);
      const ledger = await createLedger(config, host.clock);
      closers.add(() => ledger.close());
      const signals = new TypedEmitter<GatewayEvents>((name, err) => log.error({ err, event: name }, 'gateway: a listener failed'));
      // Deployments show billing's totals, and billing is built after the deployments it bills.
      const built: { billing?: BillingService } = {};
      const agents = await buildAgentParts({ config, host, storage, state, signals, log, closers, totals: (id) => built.billing?.totals(id) ?? { upSeconds: 0, chargedMicros: 0n, arrearsMicros: 0n } });
      const money = buildBillingParts({ config, host, storage, state, agents, ledger, signals, log, closers });
      built.billing = money.billing;
      await buildHttpParts({ config, host, storage, state, agents, money, ledger, signals, log, closers });
      startActiveWork(config, agents, money, closers);
      log.info({ address: host.address, source: host.source, port: config.port, agent: host.identity.agent, dataDir: config.dataDir, ledger: ledger.kind, provisioner: agents.provisioner.kind }, 'gateway listening on %s', host.url);
      const parts: GatewayParts = { store: state.store, events: storage.events, receipts: storage.receipts, ledger, hub: agents.hub, billing: money.billing, orders: money.orders, deployments: agents.deployments, closer: money.closer };
      return new Gateway(config, host.identity, host.address, host.clock, parts, closers, log);
    } catch (err) {
      await closers.run((e) => log.warn({ err: e }, 'gateway.close: a step failed'));
      throw err;
    }
  }

  status(): GatewayStatus {
    return { agent: this.identity.agent, address: this.address, port: this.config.port, url: `http://[${this.address}]:${this.config.port}`, pid: process.pid };
  }

  /** Stops accepting, finishes in-flight work, and closes every part in reverse order. */
  async close(): Promise<void> {
    this.log.info('gateway shutting down');
    await this.closers.run((err) => this.log.warn({ err }, 'gateway.close: a step failed'));
    this.log.info('gateway stopped');
  }
}

/**
 * Starts the loops that change state on their own (period closes, order checks, deployment checks,
 * probes, settling); their stop steps go last on the undo list, so a close stops them first.
 */
function startActiveWork(config: GatewayConfig, agents: AgentParts, money: BillingParts, closers: Closers): void {
  money.closer.start();
  money.orders.start(config.orders.checkIntervalRealMs);
  agents.deployments.start(Math.max(1000, config.billing.tickRealMs * 10));
  if (config.probes.enabled) agents.probes.start();
  money.billing.requestMissingCountersigns();
  money.billing.start(config.billing.tickRealMs, () => money.funds.refresh(1000));
  closers.add(() => money.billing.close());
}
