// Deployments after handover: customer views, SSH key changes, cancellation, and destroying ended VMs until it sticks.
import type { Logger } from 'pino';
import { errorMessage } from '../../identity/error-message.js';
import { clockName, type Clock } from '../../protocol/clock.js';
import { formatAmount } from '../../protocol/money.js';
import { parseSshKeysWithin } from '../orders/ssh-key-limit.js';
import { expectObject, expectOnlyKeys } from '../../protocol/validate.js';
import type { EventSink } from '../events/event-log.js';
import type { EventName } from '../events/event-catalogue.js';
import { PublicError, errors } from '../http/public-error.js';
import { ProvisionError, type Provisioner, type VmHandle } from '../provision/provisioner.js';
import type { Table } from '../store/store.js';
import type { AccessHow, AccessState, DeploymentRecord, EndReason } from '../store/records.js';
import type { FundsDueView } from '../billing/grace-due.js';

/** Billing totals of a deployment (from the receipts). */
export interface DeploymentTotals {
  readonly upSeconds: number;
  readonly chargedMicros: bigint;
  readonly arrearsMicros: bigint;
  /** Charges held by access escrow, not billed yet (absent: none). */
  readonly heldMicros?: bigint;
  /** Held charges returned after a complaint (absent: none). */
  readonly returnedMicros?: bigint;
}

/** What the deployment service needs. */
export interface DeploymentDeps {
  readonly clock: Clock;
  readonly deployments: Table<DeploymentRecord>;
  readonly provisioner: Provisioner;
  readonly events: EventSink;
  readonly log: Logger;
  totals(deploymentId: string): DeploymentTotals;
  /** The set of VMs agents probe changed on these nodes. */
  onPlacementChanged(nodes: readonly string[]): void;
  /** Bytes of SSH key lines one VM may carry (config orders.maxSshKeyBytes), as for an order. */
  readonly maxSshKeyBytes: number;
}

/** The VM handle of a deployment (its current VM: after a redeploy the provisioner knows it by `vmId`). */
export function handleOf(d: DeploymentRecord): VmHandle {
  return { deploymentId: d.vmId ?? d.id, node: d.node, myceliumIp: d.myceliumIp, ref: d.vmRef };
}

/** A deployment as the API (GET /v1/deployments) and the customer page show it. */
export interface DeploymentView {
  readonly id: string;
  readonly state: DeploymentRecord['state'];
  readonly offer: string;
  readonly name: string;
  readonly node: string;
  readonly myceliumIp: string;
  /** The command that reaches the VM; absent once it ended. */
  readonly ssh?: string;
  readonly pricePerHour: string;
  readonly unit: string;
  readonly createdAt: string;
  /** Seconds up in the periods billed so far. */
  readonly upSeconds: number;
  readonly charged: string;
  readonly arrears: string;
  readonly paused: boolean;
  readonly graceUntil?: string;
  readonly endedAt?: string;
  readonly endReason?: EndReason;
  readonly toPay?: FundsDueView;
  /** Access escrow: pending until a login, a confirmation or the window; what is held and returned. */
  readonly access?: AccessView;
  /** The clock the times are on (`system` or the lab's scaled clock). */
  readonly clock?: string;
  /** Redeploy is on: how often the VM moved, and until when it waits once the day's attempts are used up. */
  /** `refused`: why the VM cannot be moved at all (its secrets are sealed to no other node). */
  readonly redeploy?: { readonly moves: number; readonly waitingUntil?: string; readonly refused?: string };
  /** The farmer's bid the deployment is billed at (absent for a catalog offer). */
  readonly bid?: { readonly request: string; readonly node: string; readonly farmer: string; readonly pricePerHour: string };
}

/** A deployment's access escrow as the API shows it. */
export interface AccessView {
  readonly state: AccessState;
  readonly windowEndsAt: string;
  readonly settledAt?: string;
  readonly how?: AccessHow;
  readonly loginKey?: string;
  readonly held: string;
  readonly returned: string;
}

/** The access view of a deployment, or undefined when it has no escrow. */
export function accessView(d: DeploymentRecord, totals: DeploymentTotals): AccessView | undefined {
  const a = d.access;
  if (a === undefined) return undefined;
  return {
    state: a.state,
    windowEndsAt: new Date(a.windowEndsAtMs).toISOString(),
    ...(a.settledAtMs !== undefined ? { settledAt: new Date(a.settledAtMs).toISOString() } : {}),
    ...(a.how !== undefined ? { how: a.how } : {}),
    ...(a.loginKey !== undefined ? { loginKey: a.loginKey } : {}),
    held: formatAmount(totals.heldMicros ?? 0n),
    returned: formatAmount(totals.returnedMicros ?? 0n),
  };
}

/**
 * A deployment as the API shows it (docs/api.md). An ended deployment has no `ssh` command (its
 * VM is gone); one in grace carries `toPay`, the customer's shortfall, when the caller knows it.
 */
export function deploymentView(d: DeploymentRecord, totals: DeploymentTotals, toPay?: FundsDueView): DeploymentView {
  return {
    id: d.id,
    state: d.state,
    offer: d.offer,
    name: d.name,
    node: d.node,
    myceliumIp: d.myceliumIp,
    ...(d.state !== 'deprovisioned' ? { ssh: `ssh root@${d.myceliumIp}` } : {}),
    pricePerHour: d.pricePerHour,
    unit: d.unit,
    createdAt: new Date(d.createdAtMs).toISOString(),
    upSeconds: totals.upSeconds,
    charged: formatAmount(totals.chargedMicros),
    arrears: formatAmount(totals.arrearsMicros),
    paused: d.paused === true,
    ...(d.graceUntilMs !== undefined && d.state === 'grace' ? { graceUntil: new Date(d.graceUntilMs).toISOString() } : {}),
    ...(d.endedAtMs !== undefined ? { endedAt: new Date(d.endedAtMs).toISOString() } : {}),
    ...(d.endReason !== undefined ? { endReason: d.endReason } : {}),
    ...(d.state === 'grace' && toPay !== undefined ? { toPay } : {}),
    ...(d.access !== undefined ? { access: accessView(d, totals) } : {}),
    ...(d.redeploy ? { redeploy: { moves: d.previousVms?.length ?? 0, ...(d.redeployBlockedUntilMs !== undefined ? { waitingUntil: new Date(d.redeployBlockedUntilMs).toISOString() } : {}), ...(d.redeployRefused !== undefined ? { refused: d.redeployRefused } : {}) } } : {}),
    ...(d.bid ? { bid: { request: d.bid.request, node: d.bid.node, farmer: d.bid.farmer, pricePerHour: d.bid.pricePerHour } } : {}),
  };
}

/**
 * Owns what happens to a deployment after handover that is not billing: a customer changing
 * keys or cancelling, and the VM being destroyed once a deployment ended (retried until the
 * provisioner confirms, because an agent may be offline when it ends).
 */
export class DeploymentService {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private reaping: Promise<void> = Promise.resolve();

  constructor(private readonly deps: DeploymentDeps) {}

  /** The customer's deployment, or 404. */
  get(customer: string, id: string): DeploymentRecord {
    const d = this.deps.deployments.get(id);
    if (!d || d.customer !== customer) throw errors.notFound(`deployment ${id}`);
    return d;
  }

  list(customer: string): DeploymentRecord[] {
    return this.deps.deployments.values().filter((d) => d.customer === customer).sort((a, b) => a.createdAtMs - b.createdAtMs);
  }

  /** The API view; `toPay` is the customer's shortfall, shown on a deployment in grace. */
  view(d: DeploymentRecord, toPay?: FundsDueView): DeploymentView {
    return { ...deploymentView(d, this.deps.totals(d.id), toPay), clock: clockName(this.deps.clock) };
  }

  /** Replaces the VM's authorized keys (the old ones stop working). */
  async setSshKeys(customer: string, id: string, body: unknown): Promise<DeploymentRecord> {
    const d = this.get(customer, id);
    const o = expectObject(body, 'body');
    expectOnlyKeys(o, ['sshKeys'], '');
    const keys = parseSshKeysWithin(o.sshKeys, this.deps.maxSshKeyBytes);
    if (d.state === 'deprovisioned') throw new PublicError('conflict', `deployment ${id} has ended`, 'order a new VM');
    try {
      await this.deps.provisioner.setSshKeys(handleOf(d), keys);
    } catch (err) {
      if (err instanceof ProvisionError) throw new PublicError('unavailable', `the VM's keys could not be changed: ${err.message}`, err.retryable ? 'try again in a minute' : undefined);
      throw err;
    }
    const next: DeploymentRecord = { ...d, sshKeys: keys };
    await this.deps.deployments.put(id, next);
    await this.event(next, 'deployment.ssh_keys', `SSH keys replaced by the customer (${keys.length} key(s))`);
    return next;
  }

  /** Ends a deployment at the customer's request; the VM is destroyed and the last partial period billed at its close. */
  async cancel(customer: string, id: string): Promise<DeploymentRecord> {
    const d = this.get(customer, id);
    if (d.state === 'deprovisioned') return d;
    const ended = await this.end(d, 'cancelled', 'cancelled by the customer');
    await this.reapNow();
    return this.deps.deployments.get(id) ?? ended;
  }

  /** Marks a deployment ended (billing stops at this time) and queues its VM for destruction. */
  async end(d: DeploymentRecord, reason: EndReason, detail: string): Promise<DeploymentRecord> {
    const next: DeploymentRecord = { ...d, state: 'deprovisioned', endedAtMs: this.deps.clock.nowMs(), endReason: reason, destroyed: false };
    await this.deps.deployments.put(d.id, next);
    await this.event(next, 'deployment.deprovisioned', `${detail} (endReason ${reason})`);
    this.deps.onPlacementChanged([d.node]);
    return next;
  }

  /** Pauses or resumes the VM (grace); false when the provisioner cannot (the VM keeps running). */
  async setPaused(d: DeploymentRecord, paused: boolean, why: string): Promise<boolean> {
    try {
      if (paused) await this.deps.provisioner.pause(handleOf(d));
      else await this.deps.provisioner.resume(handleOf(d));
    } catch (err) {
      await this.event(d, paused ? 'deployment.pause_failed' : 'deployment.resume_failed', `${why}: ${errorMessage(err)}`);
      return false;
    }
    await this.deps.deployments.put(d.id, { ...(this.deps.deployments.get(d.id) ?? d), paused });
    await this.event(d, paused ? 'deployment.paused' : 'deployment.resumed', why);
    return true;
  }

  /** Retries destroying ended VMs every `intervalRealMs`. */
  start(intervalRealMs: number): void {
    const tick = (): void => {
      if (this.stopped) return;
      // A refused write (a fenced or unreachable store) is logged: unhandled, it would end a gateway that should stand by.
      void this.reapNow()
        .catch((err: unknown) => this.deps.log.warn({ err: errorMessage(err) }, 'reaping ended VMs failed; will retry'))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, intervalRealMs);
        });
    };
    this.timer = setTimeout(tick, intervalRealMs);
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.reaping;
  }

  /** Destroys every ended VM not yet destroyed. */
  reapNow(): Promise<void> {
    this.reaping = this.reaping.catch(() => undefined).then(async () => {
      for (const d of this.deps.deployments.values()) {
        if (d.state !== 'deprovisioned' || d.destroyed !== false) continue;
        try {
          await this.deps.provisioner.destroy(handleOf(d));
        } catch (err) {
          this.deps.log.warn({ deployment: d.id, err: errorMessage(err) }, 'destroy failed; will retry');
          continue;
        }
        await this.deps.deployments.put(d.id, { ...(this.deps.deployments.get(d.id) ?? d), destroyed: true });
        await this.event(d, 'deployment.destroyed', `the VM on ${d.node} was destroyed`);
      }
    });
    return this.reaping;
  }

  private event(d: DeploymentRecord, event: EventName, detail: string): Promise<void> {
    return this.deps.events.record({ atMs: this.deps.clock.nowMs(), event, detail, deployment: d.id, order: d.order, customer: d.customer, node: d.node, ...(d.farmer ? { agent: d.farmer } : {}) });
  }
}
