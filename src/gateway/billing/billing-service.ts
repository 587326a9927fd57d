// The billing run: closes a period and runs the settle loop, handing each job to its part (issuing, customer settling, farmer payouts, countersignatures, grace).
import type { AnyReceipt } from '../../protocol/receipt.js';
import type { SignedTreeHead } from '../../protocol/tree-head.js';
import { LedgerRejectedError, LedgerUnavailableError } from '../ledger/ledger.js';
import type { DeploymentTotals } from '../deployments/deployment-service.js';
import type { BillingDeps } from './billing-deps.js';
import { CustomerSettler } from './customer-settler.js';
import { FarmerCountersigns, type BatchCountersignResult } from './farmer-countersigns.js';
import { FarmerPayouts } from './farmer-payouts.js';
import { GraceTransitions } from './grace-transitions.js';
import type { PeriodWork } from './period-closer.js';
import { PeriodIssuer, type CloseRun } from './period-issuer.js';

/** A customer's arrears and VMs in grace just before their agreement was funded (BillingService.beforeFunding). */
export interface FundingSnapshot {
  readonly arrearsMicros: bigint;
  readonly inGrace: readonly string[];
}

/** What funding an agreement did right away (BillingService.settleFor). */
export interface FundedOutcome {
  /** Arrears paid from the new funds. */
  readonly arrearsPaidMicros: bigint;
  /** Deployments that were in grace and are active again (their VMs resumed). */
  readonly resumed: readonly string[];
  /** Deployments still in grace (their arrears are not all paid). */
  readonly stillInGrace: readonly string[];
  /** Deployments that were in grace and whose grace ended before the funds were counted (deprovisioned). */
  readonly ended: readonly string[];
}

/**
 * Closing a period writes every deployment's receipt first (one fsynced batch), and only then
 * talks to the ledger; each billing event carries the key (deployment, period start), so a
 * run repeated after a crash charges nothing twice. A refusal for lack of funds makes the
 * charge arrears and puts the deployment in grace; an unreachable ledger changes nothing and
 * is retried: nobody enters grace because the ledger was down.
 */
export class BillingService implements PeriodWork {
  private settling: Promise<void> | null = null;
  private again = false;
  private ledgerDown: string | null = null;
  private lastRun: { atMs: number; durationMs: number; error: string | null } | null = null;
  private settleTimer: NodeJS.Timeout | undefined;

  private readonly issuer: PeriodIssuer;
  private readonly settler: CustomerSettler;
  private readonly payouts: FarmerPayouts;
  private readonly countersigns: FarmerCountersigns;
  private readonly grace: GraceTransitions;

  constructor(private readonly deps: BillingDeps) {
    this.issuer = new PeriodIssuer(deps);
    this.settler = new CustomerSettler(deps);
    this.payouts = new FarmerPayouts(deps);
    this.countersigns = new FarmerCountersigns(deps);
    this.grace = new GraceTransitions(deps);
  }

  /**
   * Starts the settle loop: every `tickRealMs` (at least 100 ms) posts what is unposted, then runs
   * `afterSettle` (the funds watch's refresh). A failed round is logged and the next one retries.
   */
  start(tickRealMs: number, afterSettle: () => Promise<void> | void = () => undefined): void {
    if (this.settleTimer !== undefined) return;
    this.settleTimer = setInterval(
      () =>
        void this.settle()
          .then(afterSettle)
          .catch((err: unknown) => this.deps.log.error({ err }, 'billing.settle failed')),
      Math.max(tickRealMs, 100),
    );
  }

  /** Stops the settle loop; a round in flight finishes (it is awaited). */
  async close(): Promise<void> {
    clearInterval(this.settleTimer);
    this.settleTimer = undefined;
    await this.settling?.catch(() => undefined);
  }

  /**
   * Issues the period's receipts as one Merkle tree whose head the gateway signs once, stores
   * them (the head last: it commits the close), asks each farmer for one countersignature, then
   * settles. A period that already has a tree head issues nothing again.
   */
  async closePeriod(startMs: number, endMs: number): Promise<void> {
    if (this.deps.receipts.treeHead(startMs) === undefined) {
      const close = this.issuer.begin(startMs, endMs);
      const issued = close.receipts;
      let head: SignedTreeHead | undefined;
      try {
        // Issued through the public issue() so there is one entry point to wrap (bench/billing times it).
        head = await this.issuer.issueAndStore(close, (run, max) => this.issue(run, max));
      } finally {
        this.issuer.giveBack(close);
      }
      if (head) {
        this.countersigns.requestBatchCountersigns(head, issued.map((i) => i.receipt));
        await this.issuer.recordDisputes(issued);
        await this.deps.events.record({ atMs: this.deps.clock.nowMs(), event: 'billing.period_closed', detail: `${issued.length} receipt(s) issued for the period starting ${new Date(startMs).toISOString()} under tree head ${head.root.slice(0, 16)}…` });
      }
    }
    await this.settle();
  }

  /** Issues up to `max` more receipts of a close being issued, hashed, not yet stored (PeriodIssuer.issueMore); answers how many. */
  issue(run: CloseRun, max: number): number {
    return this.issuer.issueMore(run, max);
  }

  /**
   * Retries arrears the customer can now cover (oldest first, before any new charge), posts what
   * is unposted, pays farmers, and moves
   * deployments in and out of grace. Runs one at a time; a call during a run makes it run again.
   */
  settle(): Promise<void> {
    if (this.settling) {
      this.again = true;
      return this.settling;
    }
    this.settling = (async () => {
      do {
        this.again = false;
        await this.settleOnce();
      } while (this.again);
    })().finally(() => (this.settling = null));
    return this.settling;
  }

  /**
   * A customer's arrears and VMs in grace, taken before their agreement is funded: the settle loop
   * may spend the new funds before settleFor runs, and the answer must still name what they did.
   */
  beforeFunding(customer: string): FundingSnapshot {
    return {
      arrearsMicros: this.arrearsOf(customer),
      inGrace: this.deps.deployments.values().filter((d) => d.customer === customer && d.state === 'grace').map((d) => d.id),
    };
  }

  /**
   * Settles now on behalf of one customer whose agreement was just funded, and says what the funds
   * did since `before` (beforeFunding, taken before they arrived): the arrears paid (oldest first)
   * and which of the customer's VMs left grace.
   */
  async settleFor(customer: string, before: FundingSnapshot): Promise<FundedOutcome> {
    await this.settle();
    const resumed: string[] = [];
    const stillInGrace: string[] = [];
    const ended: string[] = [];
    for (const id of before.inGrace) {
      const d = this.deps.deployments.get(id);
      if (d?.state === 'active') resumed.push(id);
      else if (d?.state === 'grace') stillInGrace.push(id);
      else ended.push(id);
    }
    const arrearsAfter = this.arrearsOf(customer);
    return { arrearsPaidMicros: before.arrearsMicros > arrearsAfter ? before.arrearsMicros - arrearsAfter : 0n, resumed, stillInGrace, ended };
  }

  /** A farmer's agent answered a batch countersign request (FarmerCountersigns.onBatchCountersign). */
  onBatchCountersign(headHash: string, agent: string, result: BatchCountersignResult): Promise<void> {
    return this.countersigns.onBatchCountersign(headHash, agent, result);
  }

  /** A farmer's agent answered a countersign request for a v1 receipt (FarmerCountersigns.onCountersign). */
  onCountersign(receiptId: string, agent: string, result: { signature: string } | { reason: string }): Promise<void> {
    return this.countersigns.onCountersign(receiptId, agent, result);
  }

  /** Re-asks farmers for countersignatures still missing from the last few periods (FarmerCountersigns.requestMissingCountersigns). */
  requestMissingCountersigns(): Promise<void> {
    return this.countersigns.requestMissingCountersigns();
  }

  /** A deployment's totals from its receipts (running totals: no receipt is read). */
  totals(deploymentId: string): DeploymentTotals {
    return this.deps.receipts.totalsOf(deploymentId);
  }

  /** A customer's unpaid charges, from the receipt log's running totals. */
  arrearsOf(customer: string): bigint {
    return this.deps.receipts.arrearsOf(customer);
  }

  /** A deployment's receipts as customers get them (with proofs and countersignatures), oldest first. */
  async receiptsOf(deploymentId: string): Promise<AnyReceipt[]> {
    const entries = await this.deps.receipts.of(deploymentId);
    const out: AnyReceipt[] = [];
    for (const e of entries) out.push(await this.deps.receipts.present(e));
    return out;
  }

  /** The signed tree head of the period starting at `periodStartMs`, if that period was closed with v2 receipts. */
  treeHead(periodStartMs: number): SignedTreeHead | undefined {
    return this.deps.receipts.treeHead(periodStartMs);
  }

  /** The last settle: when, how long, and its error. */
  status(): { lastRun: { atMs: number; durationMs: number; error: string | null } | null; ledgerDown: string | null } {
    return { lastRun: this.lastRun, ledgerDown: this.ledgerDown };
  }

  private async settleOnce(): Promise<void> {
    const started = Date.now();
    let error: string | null = null;
    let posted = 0;
    try {
      // Before this gateway writes its first `paid` record: receipts paid from here on are paid out in batches.
      if (!this.deps.receipts.payoutsBatched()) await this.deps.receipts.append([{ t: 'payout_mode', mode: 'batched', atMs: this.deps.clock.nowMs() }]);
      await this.settler.retryArrears();
      await this.deps.escrow?.settleHeld();
      posted = await this.settler.postIssued();
      await this.payouts.payFarmers();
      this.markLedgerUp();
    } catch (err) {
      if (!(err instanceof LedgerUnavailableError) && !(err instanceof LedgerRejectedError)) throw err;
      error = err.message;
      await this.markLedgerDown(err);
    }
    await this.grace.run();
    this.lastRun = { atMs: this.deps.clock.nowMs(), durationMs: Date.now() - started, error };
    this.deps.onRun?.({ durationMs: Date.now() - started, receipts: posted, error });
  }

  private markLedgerUp(): void {
    if (this.ledgerDown === null) return;
    this.ledgerDown = null;
    // Not awaited; a database outage at this moment must not become an unhandled rejection that ends the gateway.
    this.deps.events.record({ atMs: this.deps.clock.nowMs(), event: 'billing.ledger_back', detail: 'the ledger answers again; billing caught up' }).catch((err: Error) => this.deps.log.warn({ err: err.message }, 'events: billing.ledger_back not stored'));
  }

  private async markLedgerDown(err: Error): Promise<void> {
    this.deps.log.warn({ err: err.message }, 'billing: ledger unreachable; will retry (no one enters grace for this)');
    if (this.ledgerDown !== null) return;
    this.ledgerDown = err.message;
    await this.deps.events.record({ atMs: this.deps.clock.nowMs(), event: 'billing.error', detail: `the ledger could not be reached (${err.message}); receipts are kept and billing retries; nobody enters grace for this` });
  }
}
