// Watches VMs whose customers asked for redeploy: when their node is dead by both witnesses for long enough, deploys the same VM elsewhere, and destroys the old one when its node returns.
import type { Logger } from 'pino';
import { errorMessage } from '../../identity/error-message.js';
import { randomBytes, toHex } from '../../identity/index.js';
import type { Clock } from '../../protocol/clock.js';
import type { Offer } from '../../protocol/offer.js';
import type { Sample } from '../../protocol/uptime.js';
import type { EventSink } from '../events/event-log.js';
import { MARKET_EVENTS, type MarketEvent } from '../events/market-events.js';
import type { Provisioner } from '../provision/provisioner.js';
import { secretNodes, secretsFor } from '../orders/order-secrets.js';
import { MAX_PREVIOUS_VMS, type DeploymentRecord, type OrderSecret, type PreviousVm } from '../store/records.js';
import type { Table } from '../store/store.js';
import { DAY_MS, decideRedeploy, type RedeployDecision, type RedeployPolicy } from './redeploy-decision.js';

/** What the redeploy watcher needs. */
export interface RedeployDeps {
  readonly clock: Clock;
  readonly deployments: Table<DeploymentRecord>;
  readonly provisioner: Provisioner;
  readonly events: EventSink;
  readonly log: Logger;
  readonly policy: RedeployPolicy;
  /** Whether the gateway probes running VMs (config probes.enabled): without probes there is no second witness. */
  readonly probesEnabled: boolean;
  /** The up-time evidence (uptime/uptime-book.ts): `vm:ID` is the agent's (or, for grid VMs, the probes'), `probe:ID` the gateway's cross-check. */
  readonly uptime: { isUp(subject: `vm:${string}` | `probe:${string}`, nowMs: number): boolean; last(subject: `vm:${string}` | `probe:${string}`): Sample | undefined };
  /** Whether an agent reports on the deployment's node. */
  hasAgent(d: DeploymentRecord): boolean;
  /** The offer the deployment was sold as (catalog or bid). */
  offerOf(d: DeploymentRecord): Offer | undefined;
  /** The sealed secrets of the deployment's order, if it has any (each box sealed to one node's key). */
  secretsOf(d: DeploymentRecord): readonly OrderSecret[] | undefined;
  /** The VMs agents probe changed on these nodes. */
  onPlacementChanged(nodes: readonly string[]): void;
}

/** A grid-safe name for the n-th placement of a deployment named `name` (letters and digits only). */
export function placementName(name: string, suffix: string): string {
  return `${name.replace(/[^a-z0-9]/g, '').slice(0, 24)}r${suffix}`;
}

/**
 * Once per interval: for every active deployment with `redeploy`, folds in the evidence and
 * asks decideRedeploy; a move deploys the same offer with the same keys on another node under a
 * new VM id, and the deployment record follows it (same id, so billing simply continues on the
 * new VM; the gap had no up-time, so nothing is billed for it). Every VM left on a dead node is
 * destroyed once its node answers again. The last "up" of each witness is kept in memory.
 *
 * An order's sealed secrets go with the move only to a node they are sealed to: the gateway never
 * sees them, so it cannot seal them to another node. A VM whose secrets are sealed to no node but
 * the dead one is not moved; the customer is told once why, and the deployment waits for its node.
 */
export class RedeployService {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private running: Promise<void> = Promise.resolve();
  private readonly lastAgentUp = new Map<string, number>();
  private readonly lastProbeUp = new Map<string, number>();

  constructor(private readonly deps: RedeployDeps) {}

  start(intervalRealMs: number): void {
    const tick = (): void => {
      if (this.stopped) return;
      this.running = this.round().catch((err: unknown) => this.deps.log.error({ err }, 'redeploy round failed'));
      void this.running.finally(() => {
        if (!this.stopped) this.timer = setTimeout(tick, intervalRealMs);
      });
    };
    this.timer = setTimeout(tick, intervalRealMs);
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** One pass over every deployment. */
  async round(): Promise<void> {
    const watched = new Set<string>();
    for (const d of this.deps.deployments.values()) {
      if (d.previousVms?.some((p) => !p.destroyed)) await this.destroyPrevious(d);
      if (!d.redeploy || d.state !== 'active') continue;
      watched.add(d.id);
      const decision = this.decide(d);
      if (decision.kind === 'redeploy') {
        if (d.redeployRefused === undefined) await this.move(d, decision.downForMs);
      } else if (decision.kind === 'exhausted') await this.block(d, decision.nextAttemptAtMs);
      else if (decision.kind === 'healthy' && (d.redeployBlockedUntilMs !== undefined || d.redeployRefused !== undefined)) await this.put(withoutBlock(d));
    }
    for (const id of this.lastAgentUp.keys()) if (!watched.has(id)) this.lastAgentUp.delete(id);
    for (const id of this.lastProbeUp.keys()) if (!watched.has(id)) this.lastProbeUp.delete(id);
  }

  /** The decision for one deployment now, from the evidence folded in so far. */
  decide(d: DeploymentRecord): RedeployDecision {
    const now = this.deps.clock.nowMs();
    const placedAtMs = d.placedAtMs ?? d.activatedAtMs ?? d.createdAtMs;
    const agentSample = this.deps.uptime.last(`vm:${d.id}`);
    const probeSubject = this.deps.hasAgent(d) ? (`probe:${d.id}` as const) : (`vm:${d.id}` as const);
    const probeSample = this.deps.uptime.last(probeSubject);
    if (agentSample?.up) this.lastAgentUp.set(d.id, Math.max(agentSample.atMs, this.lastAgentUp.get(d.id) ?? 0));
    if (probeSample?.up) this.lastProbeUp.set(d.id, Math.max(probeSample.atMs, this.lastProbeUp.get(d.id) ?? 0));
    const lastAgentUpMs = this.lastAgentUp.get(d.id);
    const lastProbeUpMs = this.lastProbeUp.get(d.id);
    return decideRedeploy(
      {
        nowMs: now,
        placedAtMs,
        agentUp: this.deps.uptime.isUp(`vm:${d.id}`, now),
        ...(lastAgentUpMs !== undefined ? { lastAgentUpMs } : {}),
        probeUp: this.deps.probesEnabled && this.deps.uptime.isUp(probeSubject, now),
        probed: this.deps.probesEnabled && probeSample !== undefined && probeSample.atMs >= placedAtMs,
        ...(lastProbeUpMs !== undefined ? { lastProbeUpMs } : {}),
        attemptsMs: d.redeployAttemptsMs ?? [],
      },
      this.deps.policy,
    );
  }

  private async move(d: DeploymentRecord, downForMs: number): Promise<void> {
    const now = this.deps.clock.nowMs();
    const attempts = [...(d.redeployAttemptsMs ?? []).filter((t) => t > now - DAY_MS), now];
    const offer = this.deps.offerOf(d);
    const failed = async (why: string): Promise<void> => {
      const current = this.deps.deployments.get(d.id) ?? d;
      await this.put({ ...current, redeployAttemptsMs: attempts });
      await this.event(current, MARKET_EVENTS.redeployFailed, `node ${d.node} has been down for ${minutes(downForMs)} min; redeploying failed: ${why} (attempt ${attempts.length} of ${this.deps.policy.maxPerDay} today)`);
    };
    if (!offer) return failed(`the offer ${d.offer} is no longer sold`);
    const secrets = this.deps.secretsOf(d);
    const sealedTo = secrets ? secretNodes(secrets).filter((n) => n !== d.node) : null;
    if (sealedTo !== null && sealedTo.length === 0) return this.refuse(d, downForMs);
    const candidates = (await this.deps.provisioner.candidateNodes(offer)).filter((c) => c.node !== d.node && (sealedTo === null || sealedTo.includes(c.node)));
    const pick = candidates[0];
    if (!pick) return failed(sealedTo ? `none of the other nodes your secrets are sealed to (${sealedTo.join(', ')}) has room for ${offer.id}` : `no other node has room for ${offer.id}`);
    const suffix = toHex(randomBytes(3));
    const vmId = `${d.id}-r${suffix}`;
    let vm;
    try {
      vm = await this.deps.provisioner.deploy({ deploymentId: vmId, name: placementName(d.name, suffix), offer, sshKeys: d.sshKeys, node: pick.node, ...(secrets ? { secrets: secretsFor(secrets, pick.node) } : {}) });
    } catch (err) {
      this.deps.log.warn({ deployment: d.id, node: pick.node, err: errorMessage(err) }, 'redeploy failed');
      await this.deps.provisioner.destroy({ deploymentId: vmId, node: pick.node, myceliumIp: '', ref: {} }).catch(() => undefined);
      return failed(`the node ${pick.node} could not start the VM`);
    }
    const current = this.deps.deployments.get(d.id);
    if (!current || current.state !== 'active') {
      // Cancelled or out of funds while the new VM was being made: it must not outlive the deployment.
      await this.deps.provisioner.destroy(vm).catch((err: unknown) => this.deps.log.warn({ deployment: d.id, err: errorMessage(err) }, 'destroying an unneeded redeployed VM failed'));
      return;
    }
    const previous: PreviousVm = { vmId: current.vmId ?? current.id, node: current.node, farmer: current.farmer, myceliumIp: current.myceliumIp, vmRef: current.vmRef, movedAtMs: now, destroyed: false };
    const next: DeploymentRecord = {
      ...withoutBlock(current),
      node: pick.node,
      farmer: pick.farmer,
      myceliumIp: vm.myceliumIp,
      vmRef: vm.ref,
      vmId,
      placedAtMs: now,
      paused: false,
      previousVms: [...(current.previousVms ?? []), previous].slice(-MAX_PREVIOUS_VMS),
      redeployAttemptsMs: attempts,
    };
    await this.put(next);
    this.lastAgentUp.delete(d.id);
    this.lastProbeUp.delete(d.id);
    await this.event(
      next,
      MARKET_EVENTS.redeployed,
      `node ${previous.node} was down for ${minutes(downForMs)} min (no word from its agent, the gateway's probes failing): the VM was deployed again on ${pick.node}, ssh root@${vm.myceliumIp} with the same ${next.sshKeys.length} key(s)${secrets ? ` and the ${secrets.length} secret(s) you sealed to ${pick.node}` : ''}; the disk was not carried over, and the gap is not billed`,
    );
    this.deps.onPlacementChanged([previous.node, pick.node]);
  }

  /** Marks a VM that cannot move (its secrets open only on the dead node) and tells the customer why, once. */
  private async refuse(d: DeploymentRecord, downForMs: number): Promise<void> {
    const why = `the order's secrets are sealed only to ${d.node}, and the gateway cannot seal them to another node (it never sees them)`;
    await this.put({ ...d, redeployRefused: why });
    await this.event(
      d,
      MARKET_EVENTS.redeployRefused,
      `node ${d.node} has been down for ${minutes(downForMs)} min, but the VM was not deployed again: ${why}; it waits for its node. To be movable, order with every secret sealed to several nodes (GET /v1/nodes/NODE gives each sealTo)`,
    );
  }

  private async block(d: DeploymentRecord, untilMs: number): Promise<void> {
    if (d.redeployBlockedUntilMs === untilMs) return;
    await this.put({ ...d, redeployBlockedUntilMs: untilMs });
    await this.event(d, MARKET_EVENTS.redeployExhausted, `the VM is still down after ${this.deps.policy.maxPerDay} redeploy attempt(s) within a day; it waits for its node, or for the next attempt at ${new Date(untilMs).toISOString()}`);
  }

  /** Destroys the VMs a deployment left on nodes that died, where those nodes answer again. */
  private async destroyPrevious(d: DeploymentRecord): Promise<void> {
    for (const p of d.previousVms ?? []) {
      if (p.destroyed) continue;
      try {
        await this.deps.provisioner.destroy({ deploymentId: p.vmId, node: p.node, myceliumIp: p.myceliumIp, ref: p.vmRef });
      } catch (err) {
        this.deps.log.debug({ deployment: d.id, node: p.node, err: errorMessage(err) }, 'the old VM cannot be destroyed yet');
        continue;
      }
      const current = this.deps.deployments.get(d.id) ?? d;
      await this.put({ ...current, previousVms: (current.previousVms ?? []).map((x) => (x.vmId === p.vmId ? { ...x, destroyed: true } : x)) });
      await this.event(current, MARKET_EVENTS.previousVmDestroyed, `node ${p.node} answers again: the VM left there when it was down (${p.myceliumIp}) was destroyed`);
    }
  }

  private put(d: DeploymentRecord): Promise<void> {
    return this.deps.deployments.put(d.id, d);
  }

  private event(d: DeploymentRecord, event: MarketEvent, detail: string): Promise<void> {
    return this.deps.events.record({ atMs: this.deps.clock.nowMs(), event, detail, deployment: d.id, order: d.order, customer: d.customer, node: d.node, ...(d.farmer ? { agent: d.farmer } : {}) });
  }
}

/** The deployment without a wait or a refusal: its VM is up again, so the next death is judged afresh. */
function withoutBlock(d: DeploymentRecord): DeploymentRecord {
  const { redeployBlockedUntilMs: _blocked, redeployRefused: _refused, ...rest } = d;
  return rest;
}

function minutes(ms: number): number {
  return Math.round(ms / 60_000);
}
