// Start-up step: the gateway's state with its capacity index, and the parts that talk to farmers (agent hub, provisioner, deployments, probes).
import type { Logger } from 'pino';
import type { Clock } from '../../protocol/clock.js';
import type { Offer } from '../../protocol/offer.js';
import type { VmAssignment } from '../../protocol/agent-messages.js';
import { probeTcp } from '../../protocol/probe.js';
import type { Closers } from '../../protocol/closers.js';
import type { Emits } from '../../protocol/typed-emitter.js';
import { ValidationError } from '../../protocol/validate.js';
import { RateLimiter } from '../limits/rate-limiter.js';
import { OriginPolicy } from '../http/origin-guard.js';
import { AgentHub, type HubEvents } from '../agents/agent-hub.js';
import { closedThroughOf } from '../billing/period-closer.js';
import { DeploymentService, type DeploymentTotals } from '../deployments/deployment-service.js';
import { createProvisioner } from '../provision/create-provisioner.js';
import { CapacityIndex, storeWithCapacityIndex } from '../provision/capacity-index.js';
import type { Provisioner } from '../provision/provisioner.js';
import { loadOffers } from '../offers.js';
import type { Storage } from '../store/open-storage.js';
import type { Store } from '../store/store.js';
import type { AgentApproval, DeploymentRecord } from '../store/records.js';
import { UptimeBook } from '../uptime/uptime-book.js';
import { ProbeService } from '../uptime/probe-service.js';
import { RedeployService } from '../redeploy/redeploy-service.js';
import { recordOffer } from '../market/record-offer.js';
import type { GatewayConfig } from '../config.js';
import type { HostParts } from './host.js';

/** Everything the gateway's parts announce to each other (the hub's news, the probes', billing's runs). */
export type GatewayEvents = HubEvents & {
  /** A gateway probe disagreed with a farmer agent's report. */
  readonly probeDisagreement: [farmer: string];
  /** A settle round ended (for metrics). */
  readonly billingRun: [run: { durationMs: number; receipts: number; error: string | null }];
};

/** The state as the rest of the gateway writes it (through the capacity index) and the offers. */
export interface StateParts {
  readonly store: Store;
  readonly capacity: CapacityIndex;
  readonly offers: readonly Offer[];
  readonly offerById: ReadonlyMap<string, Offer>;
}

/**
 * Approves the config's agents in the store, loads the offers, and indexes capacity: every write to
 * deployments and orders goes through the index (one scan, here, at start).
 */
export async function prepareState(config: GatewayConfig, storage: Storage, clock: Clock): Promise<StateParts> {
  await syncConfiguredAgents(storage.store, config, clock);
  const offers: Offer[] = loadOffers(config.offersFile, config.prices);
  const offerById = new Map(offers.map((o) => [o.id, o]));
  const capacity = new CapacityIndex(offerById, storage.store.deployments.values(), storage.store.orders.values());
  return { store: storeWithCapacityIndex(storage.store, capacity), capacity, offers, offerById };
}

/** The parts facing farmers and their nodes. */
export interface AgentParts {
  readonly uptime: UptimeBook;
  readonly originPolicy: OriginPolicy;
  readonly hub: AgentHub;
  readonly provisioner: Provisioner;
  readonly deployments: DeploymentService;
  readonly probes: ProbeService;
  /** Moves opt-in VMs off nodes that died. */
  readonly redeploys: RedeployService;
}

/** What the agent parts need that is built later (billing's totals) or shared (the event bus). */
export interface AgentPartsInputs {
  readonly config: GatewayConfig;
  readonly host: HostParts;
  readonly storage: Storage;
  readonly state: StateParts;
  readonly signals: Emits<GatewayEvents>;
  /** A deployment's billing totals; billing is built after the deployments it bills. */
  readonly totals: (deploymentId: string) => DeploymentTotals;
  readonly log: Logger;
  readonly closers: Closers;
}

/** Builds the agent hub, the provisioner that commands it, the deployment lifecycle and the gateway's own probes. */
export async function buildAgentParts(inputs: AgentPartsInputs): Promise<AgentParts> {
  const { config, host, storage, state, signals, log, closers } = inputs;
  const { store, capacity } = state;
  const { clock, identity, address } = host;
  const uptime = new UptimeBook(config.heartbeatIntervalMs, config.billing.periodMs);
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
    events: storage.events,
    log,
    agentRequests: config.agentRequests,
    closedThroughMs: () => closedThroughOf(store.meta),
    assignmentsFor: (nodes) => assignments(store.deployments.values(), nodes, config.probes.port),
    signals,
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
    events: storage.events,
    log,
    totals: inputs.totals,
    onPlacementChanged: (nodes) => hub.refreshAssignments(nodes),
    maxSshKeyBytes: config.orders.maxSshKeyBytes,
  });
  closers.add(() => deployments.close());

  const probes = new ProbeService({
    clock,
    uptime,
    events: storage.events,
    log,
    intervalMs: config.heartbeatIntervalMs,
    port: config.probes.port,
    probe: probeTcp,
    deployments: () => store.deployments.values(),
    hasAgent: (d) => hub.farmerOf(d.node) !== undefined,
    onDisagreement: (farmer) => signals.emit('probeDisagreement', farmer),
    // Disputes are read at period closes, which may lag (a ledger outage); keep them a few periods.
    keepDisputesMs: Math.max(2 * 86_400_000, 8 * config.billing.periodMs),
  });
  closers.add(() => probes.close());
  const redeploys = new RedeployService({
    clock,
    deployments: store.deployments,
    provisioner,
    events: storage.events,
    log,
    policy: { afterMs: config.redeploy.afterMs, maxPerDay: config.redeploy.maxPerDay },
    probesEnabled: config.probes.enabled,
    uptime,
    hasAgent: (d) => hub.farmerOf(d.node) !== undefined,
    offerOf: (d) => recordOffer(d, (id) => state.offerById.get(id)),
    // An active deployment's order stays in the hot table (only failed and expired orders are archived).
    secretsOf: (d) => store.orders.get(d.order)?.secrets,
    onPlacementChanged: (nodes) => hub.refreshAssignments(nodes),
  });
  closers.add(() => redeploys.close());
  return { uptime, originPolicy, hub, provisioner, deployments, probes, redeploys };
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
