// Access escrow: settles each deployment's access from logins, the customer's word, complaints and the clock, and releases or returns its held charges.
import type { Logger } from 'pino';
import type { Clock } from '../../protocol/clock.js';
import { formatAmount } from '../../protocol/money.js';
import { parseSshPublicKey, sshKeyFingerprint } from '../../protocol/ssh-key.js';
import { expectBoolean, expectObject, expectOnlyKeys, expectString } from '../../protocol/validate.js';
import type { EscrowRecord } from '../billing/money-record.js';
import type { ReceiptEntry } from '../billing/receipt-types.js';
import type { EventSink } from '../events/event-log.js';
import { errors, PublicError } from '../http/public-error.js';
import { KeyedMutex } from '../orders/keyed-mutex.js';
import type { Table } from '../store/store.js';
import type { DeploymentRecord, EndReason } from '../store/records.js';
import { decideAccess, type AccessEvent } from './access-decision.js';
import { ESCROW_EVENTS } from './escrow-events.js';

/** What the escrow service needs. */
export interface EscrowDeps {
  readonly clock: Clock;
  readonly deployments: Table<DeploymentRecord>;
  /** The money log: held charges, and where their release or return is recorded. */
  readonly receipts: { held(): ReceiptEntry[]; append(records: EscrowRecord[]): Promise<void> };
  /** Up-seconds of a subject (`vm:ID` from the agent, `probe:ID` from the gateway's probe). */
  readonly uptime: { upSeconds(subject: string, fromMs: number, toMs: number): number };
  /** The gateway's own probe of the VM now: reachable, or null when it has none. */
  probe(d: DeploymentRecord): Promise<boolean | null>;
  readonly lifecycle: { end(d: DeploymentRecord, reason: EndReason, detail: string): Promise<DeploymentRecord> };
  readonly events: EventSink;
  readonly log: Logger;
  /** Called after access settled, so billing releases or returns the held charges now. */
  onSettled?(): void;
}

/** Longest reason a customer may give for no access. */
export const MAX_COMPLAINT_CHARS = 500;

/**
 * One deployment at a time (a login and a complaint racing must not both win), each decision
 * is the pure rule of access-decision.ts; the deployment record is written first, then the
 * money log follows it in `settleHeld`, which billing runs before posting anything, so a crash
 * between the two is caught up at the next settle.
 */
export class EscrowService {
  private readonly mutex = new KeyedMutex();

  constructor(private readonly deps: EscrowDeps) {}

  /** The farmer's agent saw a key with this fingerprint log in to the VM of `deploymentId`. */
  async onLogin(agent: string, deploymentId: string, keyFingerprint: string): Promise<void> {
    const d = this.deps.deployments.get(deploymentId);
    // Only the deployment's own farmer speaks for its VM, and only the customer's keys count.
    if (!d || d.farmer !== agent || d.access?.state !== 'pending') return;
    if (!d.sshKeys.some((line) => fingerprintOf(line) === keyFingerprint)) return;
    await this.apply(d.id, { kind: 'login', keyFingerprint });
  }

  /** POST /v1/deployments/{id}/access: the customer's {"ok": true} or {"ok": false, "reason": "…"}. */
  async report(customer: string, deploymentId: string, body: unknown): Promise<DeploymentRecord> {
    const d = this.deps.deployments.get(deploymentId);
    if (!d || d.customer !== customer) throw errors.notFound(`deployment ${deploymentId}`);
    const o = expectObject(body, 'body');
    expectOnlyKeys(o, ['ok', 'reason'], 'body');
    const ok = expectBoolean(o.ok, 'ok');
    if (d.access === undefined) throw new PublicError('conflict', 'this deployment has no access escrow (it was handed over before escrow, or escrow is off)', 'nothing is held for it');
    let event: AccessEvent;
    if (ok) event = { kind: 'confirm' };
    else {
      const reason = expectString(o.reason, 'reason', { maxLength: MAX_COMPLAINT_CHARS });
      if (reason.trim() === '') throw new PublicError('bad_request', 'reason must say what went wrong', 'e.g. {"ok": false, "reason": "ssh times out"}', { field: 'reason' });
      event = { kind: 'complain', reason, probeReachable: d.access.state === 'pending' ? await this.deps.probe(d) : null };
    }
    const outcome = await this.apply(d.id, event);
    if (outcome.kind === 'refuse') throw new PublicError('conflict', outcome.message, outcome.hint, { access: d.access.state });
    return this.deps.deployments.get(d.id) ?? d;
  }

  /** Releases held charges of pending deployments whose window ended with the VM up. */
  async tick(): Promise<void> {
    const now = this.deps.clock.nowMs();
    for (const d of this.deps.deployments.values()) {
      if (d.access?.state !== 'pending' || now < d.access.windowEndsAtMs || d.activatedAtMs === undefined) continue;
      const vmWasUp = this.deps.uptime.upSeconds(`vm:${d.id}`, d.activatedAtMs, now) > 0 || this.deps.uptime.upSeconds(`probe:${d.id}`, d.activatedAtMs, now) > 0;
      await this.apply(d.id, { kind: 'tick', vmWasUp });
    }
  }

  /**
   * Records, in the money log, the release or return of every held charge whose deployment's
   * access is settled (idempotent: the log ignores a second record for a settled charge).
   */
  async settleHeld(): Promise<void> {
    await this.tick();
    const now = this.deps.clock.nowMs();
    const records: EscrowRecord[] = [];
    const byDeployment = new Map<string, { d: DeploymentRecord; micros: bigint; n: number }>();
    for (const e of this.deps.receipts.held()) {
      const d = this.deps.deployments.get(e.receipt.deployment);
      const a = d?.access;
      if (!d || a === undefined || a.state === 'pending') continue;
      const how = a.how ?? a.state;
      records.push({ t: a.state === 'verified' ? 'escrow_release' : 'escrow_return', id: e.receipt.id, how, atMs: now });
      const sum = byDeployment.get(d.id) ?? { d, micros: 0n, n: 0 };
      sum.micros += e.amountMicros;
      sum.n++;
      byDeployment.set(d.id, sum);
    }
    if (records.length === 0) return;
    await this.deps.receipts.append(records);
    for (const { d, micros, n } of byDeployment.values()) {
      const released = d.access?.state === 'verified';
      await this.deps.events.record({
        atMs: now,
        event: released ? ESCROW_EVENTS.escrowReleased : ESCROW_EVENTS.escrowReturned,
        detail: released
          ? `${n} held charge(s), ${formatAmount(micros)} ${d.unit}, released (${d.access?.how ?? 'verified'}): billed, and the farmer is paid its share`
          : `${n} held charge(s), ${formatAmount(micros)} ${d.unit}, returned to the customer (no access): never billed, the farmer gets nothing for them`,
        deployment: d.id,
        customer: d.customer,
        order: d.order,
        node: d.node,
        ...(d.farmer ? { agent: d.farmer } : {}),
        data: { receipts: n, amount: formatAmount(micros) },
      });
    }
  }

  /** Decides `event` for one deployment under its lock, writes the outcome, and ends it on a complaint. */
  private apply(id: string, event: AccessEvent): Promise<ReturnType<typeof decideAccess>> {
    return this.mutex.run(id, async () => {
      const d = this.deps.deployments.get(id);
      if (!d || d.access === undefined) return { kind: 'none' as const };
      const now = this.deps.clock.nowMs();
      const decision = decideAccess(d.access, event, now);
      if (decision.kind !== 'settle') return decision;
      const next: DeploymentRecord = { ...d, access: decision.access };
      await this.deps.deployments.put(id, next);
      const verified = decision.access.state === 'verified';
      await this.deps.events.record({ atMs: now, event: verified ? ESCROW_EVENTS.accessVerified : ESCROW_EVENTS.accessFailed, detail: decision.detail, deployment: id, customer: d.customer, order: d.order, node: d.node, ...(d.farmer ? { agent: d.farmer } : {}) });
      if (!verified && next.state !== 'deprovisioned') await this.deps.lifecycle.end(next, 'no_access', `no access: ${decision.access.complaint ?? ''}`);
      this.deps.onSettled?.();
      return decision;
    });
  }
}

/** The fingerprint of an OpenSSH key line, or undefined when it does not parse. */
function fingerprintOf(line: string): string | undefined {
  try {
    return sshKeyFingerprint(Buffer.from(parseSshPublicKey(line, 'sshKeys').blobBase64, 'base64'));
  } catch {
    return undefined;
  }
}
