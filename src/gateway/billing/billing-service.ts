// The billing run: a signed receipt per deployment per period, its billing event on the customer's agreement, farmer payouts, grace and its end.
import { blake2b, toHex, utf8 } from '../../identity/index.js';
import { farmerBatchBytes } from '../../protocol/farmer-batch.js';
import { MerkleTree } from '../../protocol/merkle.js';
import { formatAmount } from '../../protocol/money.js';
import { receiptLeafHash, type AnyReceipt, type ReceiptBodyV2 } from '../../protocol/receipt.js';
import { signatureHolds, type SignedTreeHead } from '../../protocol/tree-head.js';
import type { EventName } from '../events/event-catalogue.js';
import { BILLING_EVENTS_PER_CALL, LedgerRejectedError, LedgerUnavailableError, type BatchPostResult, type BillingEvent } from '../ledger/ledger.js';
import type { DeploymentTotals } from '../deployments/deployment-service.js';
import type { DeploymentRecord } from '../store/records.js';
import type { BillingDeps } from './billing-deps.js';
import type { PeriodWork } from './period-closer.js';
import { PeriodIssuer, type IssuedClose } from './period-issuer.js';
import type { MoneyRecord, OpenPayoutBatch, ReceiptEntry } from './receipt-log.js';

/** A farmer's answer to a batch countersign request. */
export type BatchCountersignResult =
  | { readonly size: number; readonly root: string; readonly signature: string; readonly refused: ReadonlyArray<{ readonly receiptId: string; readonly reason: string }> }
  | { readonly reason: string };


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
 * Records appended per fsync while settling (a crash just re-posts the unrecorded ones,
 * idempotently). bench/billing: at 256, a 100k close spent most of its settle in ~800 fdatasyncs.
 */
const BATCH = 8192;
/**
 * Receipts paid out to one farmer in one ledger call. Bounded because the call names every
 * receipt (the embedded ledger journals the ids; Unyt's payFarmer looks up each one's bill).
 */
export const PAYOUT_BATCH = 1000;

/**
 * A payout batch for receipts of one farmer and unit. Its key is derived from the receipt ids,
 * and a receipt is put in one batch only (ReceiptLog refuses a second), so a key names one payout.
 */
export function payoutBatchOf(entries: readonly ReceiptEntry[]): OpenPayoutBatch {
  const first = entries[0];
  if (!first) throw new RangeError('payoutBatchOf: a batch needs at least one receipt');
  const ids = entries.map((e) => e.receipt.id);
  return {
    key: `payout:b:${toHex(blake2b(utf8(ids.join('\n')), 16))}`,
    farmer: first.receipt.farmer,
    unit: first.receipt.unit,
    amountMicros: entries.reduce((sum, e) => sum + e.farmerShareMicros, 0n),
    ids,
  };
}

/** Receipts paid in one settle batch, gathered into one `paid_batch` record (bench/billing: a `paid` line per receipt was a tenth of a close). */
class PaidBatch {
  private ids: string[] = [];
  private entryIds: Array<string | null> = [];
  private atMs = 0;

  get size(): number {
    return this.ids.length;
  }

  add(r: MoneyRecord & { t: 'paid' }): void {
    this.ids.push(r.id);
    this.entryIds.push(r.entryId);
    this.atMs = r.atMs;
  }

  /** The batch's record (none when empty), and a fresh batch. */
  take(): MoneyRecord[] {
    if (this.ids.length === 0) return [];
    const record: MoneyRecord = { t: 'paid_batch', ids: this.ids, entryIds: this.entryIds, atMs: this.atMs };
    this.ids = [];
    this.entryIds = [];
    return [record];
  }
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
  /**
   * Receipts whose last post failed without an answer (LedgerUnavailableError): the charge may have
   * run. Bounded by the receipts not yet paid; an answer removes the id.
   */
  private readonly outcomeUnknown = new Set<string>();
  private settleTimer: NodeJS.Timeout | undefined;

  private readonly issuer: PeriodIssuer;

  constructor(private readonly deps: BillingDeps) {
    this.issuer = new PeriodIssuer(deps);
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
      const close = this.issuer.issue(startMs, endMs);
      const issued = close.receipts;
      let head: SignedTreeHead | undefined;
      try {
        if (issued.length > 0) {
          head = this.issuer.buildTreeHead(close, startMs, endMs);
          await this.issuer.store(close, head, startMs);
        }
      } finally {
        this.issuer.giveBack(close);
      }
      if (head) {
        this.requestBatchCountersigns(head, issued.map((i) => i.receipt));
        await this.issuer.recordDisputes(issued);
        await this.deps.events.record({ atMs: this.deps.clock.nowMs(), event: 'billing.period_closed', detail: `${issued.length} receipt(s) issued for the period starting ${new Date(startMs).toISOString()} under tree head ${head.root.slice(0, 16)}…` });
      }
    }
    await this.settle();
  }

  /** One request per farmer, with that farmer's receipts in tree order. */
  private requestBatchCountersigns(head: SignedTreeHead, receipts: readonly ReceiptBodyV2[]): void {
    const byFarmer = new Map<string, ReceiptBodyV2[]>();
    for (const r of receipts) {
      const list = byFarmer.get(r.farmer);
      if (list) list.push(r);
      else byFarmer.set(r.farmer, [r]);
    }
    for (const [farmer, list] of byFarmer) this.deps.agents.requestBatchCountersign(farmer, head, list);
  }

  /** The receipt bodies of a period, hashed, not yet stored (PeriodIssuer.issue). */
  issue(startMs: number, endMs: number): IssuedClose {
    return this.issuer.issue(startMs, endMs);
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
   * Settles now on behalf of one customer whose agreement was just funded, and says what that
   * did: the arrears it paid (oldest first) and which of the customer's VMs left grace.
   */
  async settleFor(customer: string): Promise<FundedOutcome> {
    const arrearsBefore = this.arrearsOf(customer);
    const graceBefore = this.deps.deployments.values().filter((d) => d.customer === customer && d.state === 'grace').map((d) => d.id);
    await this.settle();
    const resumed: string[] = [];
    const stillInGrace: string[] = [];
    const ended: string[] = [];
    for (const id of graceBefore) {
      const d = this.deps.deployments.get(id);
      if (d?.state === 'active') resumed.push(id);
      else if (d?.state === 'grace') stillInGrace.push(id);
      else ended.push(id);
    }
    const arrearsAfter = this.arrearsOf(customer);
    return { arrearsPaidMicros: arrearsBefore > arrearsAfter ? arrearsBefore - arrearsAfter : 0n, resumed, stillInGrace, ended };
  }

  /**
   * A farmer's agent answered a batch countersign request: a signature over the tree head and
   * the root of the receipts it agrees with (all of its receipts in the tree but those it
   * refused, in tree order), or a refusal of the whole batch. Kept only if the root and the
   * signature check out against what the gateway issued.
   */
  async onBatchCountersign(headHash: string, agent: string, result: BatchCountersignResult): Promise<void> {
    const receipts = this.deps.receipts;
    const tree = receipts.treeByHeadHash(headHash);
    if (!tree || tree.batches.has(agent) || tree.refusedBy.has(agent)) return;
    const mine = receipts.farmerLeaves(tree, agent);
    if (mine.length === 0) return;
    const periodStartMs = tree.periodStartMs;
    const now = this.deps.clock.nowMs();
    const period = tree.head.periodStart;
    if ('reason' in result) {
      await this.deps.receipts.append([{ t: 'batch_countersign_refused', periodStartMs, farmer: agent, reason: result.reason, atMs: now }]);
      await this.deps.events.record({ atMs: now, event: 'receipt.countersign_refused', detail: `the farmer refused to countersign its ${mine.length} receipt(s) of the period starting ${period}: ${result.reason}`, agent });
      return;
    }
    const refused = new Map(result.refused.map((r) => [r.receiptId, r.reason]));
    // Receipt ids are worked out only when the farmer refused some (each is a hash).
    const idOf = (i: number): string => receipts.leafReceiptId(tree, i);
    const agreed = refused.size === 0 ? [...mine] : [...mine].filter((i) => !refused.has(idOf(i)));
    const root = agreed.length === 0 ? '' : toHex(MerkleTree.fromLeafHashes(agreed.map((i) => receiptLeafHash(receipts.leafHash(tree, i)))).root());
    const statement = { farmer: agent, treeHead: headHash, size: agreed.length, root };
    if (agreed.length === 0 || result.size !== agreed.length || result.root !== root || !signatureHolds(result.signature, farmerBatchBytes(statement), agent)) {
      await this.deps.events.record({ atMs: now, event: 'receipt.countersign_invalid', detail: `the farmer's batch countersignature for the period starting ${period} does not match its receipts or does not verify`, agent });
      return;
    }
    const refusedLeaves = refused.size === 0 ? [] : [...mine].filter((i) => refused.has(idOf(i)));
    await receipts.append([{ t: 'batch_countersign', periodStartMs, farmer: agent, size: agreed.length, root, signature: result.signature, refused: refusedLeaves.map(idOf), atMs: now }]);
    for (const r of await receipts.leafBodies(tree, refusedLeaves.slice(0, 20))) {
      await this.deps.events.record({ atMs: now, event: 'receipt.countersign_refused', detail: `the farmer refused to countersign ${r.id}: ${String(refused.get(r.id))}`, deployment: r.deployment, customer: r.customer, agent });
    }
  }

  /** A farmer's agent answered a countersign request for a v1 receipt. */
  async onCountersign(receiptId: string, agent: string, result: { signature: string } | { reason: string }): Promise<void> {
    const e = this.deps.receipts.get(receiptId);
    if (!e || e.receipt.v !== 1 || e.receipt.farmer !== agent || e.farmerSignature !== undefined || e.countersignRefused !== undefined) return;
    const now = this.deps.clock.nowMs();
    if ('signature' in result) {
      if (!this.deps.agents.verifyCountersignature(e.receipt, result.signature)) {
        await this.deps.events.record({ atMs: now, event: 'receipt.countersign_invalid', detail: `the farmer's countersignature of ${receiptId} does not verify`, deployment: e.receipt.deployment, agent });
        return;
      }
      await this.deps.receipts.append([{ t: 'countersign', id: receiptId, signature: result.signature, atMs: now }]);
      return;
    }
    await this.deps.receipts.append([{ t: 'countersign_refused', id: receiptId, reason: result.reason, atMs: now }]);
    await this.deps.events.record({ atMs: now, event: 'receipt.countersign_refused', detail: `the farmer refused to countersign ${receiptId}: ${result.reason}`, deployment: e.receipt.deployment, customer: e.receipt.customer, agent });
  }

  /** Re-asks farmers for countersignatures still missing from the last few periods (after a restart); their receipts are read back from the log. */
  async requestMissingCountersigns(): Promise<void> {
    const receipts = this.deps.receipts;
    const since = this.deps.clock.nowMs() - 8 * this.deps.policy.periodMs;
    for (const e of receipts.awaitingCountersign(since)) if (e.receipt.v === 1) this.deps.agents.requestCountersign(e.receipt);
    for (const { tree, farmers } of receipts.awaitingBatchCountersign(since)) {
      for (const farmer of farmers) this.deps.agents.requestBatchCountersign(farmer, tree.head, await receipts.leafBodies(tree, receipts.farmerLeaves(tree, farmer)));
    }
  }

  /** A deployment's totals from its receipts (running totals: no receipt is read). */
  totals(deploymentId: string): DeploymentTotals {
    return this.deps.receipts.totalsOf(deploymentId);
  }

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
      await this.retryArrears();
      await this.deps.escrow?.settleHeld();
      posted = await this.postIssued();
      await this.payFarmers();
      this.markLedgerUp();
    } catch (err) {
      if (!(err instanceof LedgerUnavailableError) && !(err instanceof LedgerRejectedError)) throw err;
      error = err.message;
      await this.markLedgerDown(err);
    }
    await this.graceTransitions();
    this.lastRun = { atMs: this.deps.clock.nowMs(), durationMs: Date.now() - started, error };
    this.deps.onRun?.({ durationMs: Date.now() - started, receipts: posted, error });
  }

  /**
   * Posts issued receipts, oldest first per customer; returns how many were posted. Where the ledger
   * takes a customer's events together (postBillingEvents) they go in batches of up to
   * BILLING_EVENTS_PER_CALL; a batch the funds cannot cover whole is posted one by one, oldest first,
   * so a customer who can pay part still pays part. The receipts paid are recorded as one
   * `paid_batch` record per BATCH (arrears one record each), appended once posted or when the ledger
   * stops answering: a crash before re-posts them, and each one's key charges it once.
   */
  private async postIssued(): Promise<number> {
    const paid = new PaidBatch();
    const others: MoneyRecord[] = [];
    const flush = (): Promise<void> => this.deps.receipts.append([...paid.take(), ...others.splice(0)]);
    let posted = 0;
    const take = async (record: MoneyRecord): Promise<void> => {
      if (record.t === 'paid') paid.add(record);
      else others.push(record);
      posted++;
      if (paid.size + others.length >= BATCH) await flush();
    };
    try {
      if (this.deps.ledger.postBillingEvents === undefined) {
        for (const e of this.deps.receipts.inState('issued')) if (e.escrow?.state !== 'held') await take(await this.post(e));
      } else {
        for (const [customer, list] of this.issuedByCustomer()) {
          for (let from = 0; from < list.length; from += BILLING_EVENTS_PER_CALL) await this.postBatch(customer, list.slice(from, from + BILLING_EVENTS_PER_CALL), take);
        }
      }
    } finally {
      await flush();
    }
    return posted;
  }

  /** Issued receipts not held, oldest first, by customer. */
  private issuedByCustomer(): Map<string, ReceiptEntry[]> {
    const byCustomer = new Map<string, ReceiptEntry[]>();
    for (const e of this.deps.receipts.inState('issued')) {
      if (e.escrow?.state === 'held') continue;
      const list = byCustomer.get(e.receipt.customer);
      if (list) list.push(e);
      else byCustomer.set(e.receipt.customer, [e]);
    }
    return byCustomer;
  }

  /** One customer's receipts as one ledger call; when the funds cannot cover them all, one by one, oldest first. */
  private async postBatch(customer: string, list: readonly ReceiptEntry[], take: (record: MoneyRecord) => Promise<void>): Promise<void> {
    const now = this.deps.clock.nowMs();
    const charged = list.filter((e) => e.amountMicros !== 0n);
    for (const e of list) if (e.amountMicros === 0n) await take({ t: 'paid', id: e.receipt.id, entryId: null, atMs: now });
    if (charged.length <= 1) {
      for (const e of charged) await take(await this.post(e));
      return;
    }
    const ledger = this.deps.ledger;
    if (ledger.postBillingEvents === undefined) throw new TypeError('billing.postBatch: the ledger posts no batches');
    let result: BatchPostResult;
    try {
      result = await ledger.postBillingEvents(customer, charged.map((e) => this.eventOf(e)));
      if (result.status === 'paid' && result.entryIds.length !== charged.length) {
        throw new LedgerUnavailableError('postBillingEvents', `answered ${result.entryIds.length} entry id(s) for ${charged.length} event(s)`);
      }
    } catch (err) {
      if (err instanceof LedgerUnavailableError) for (const e of charged) this.outcomeUnknown.add(e.receipt.id);
      throw err;
    }
    for (const e of charged) this.outcomeUnknown.delete(e.receipt.id);
    if (result.status === 'paid') {
      for (const [i, e] of charged.entries()) await take({ t: 'paid', id: e.receipt.id, entryId: result.entryIds[i] as string, atMs: now });
      return;
    }
    for (const e of charged) await take(await this.post(e));
  }

  /** One billing event; a zero charge needs no ledger entry. */
  private async post(e: ReceiptEntry): Promise<MoneyRecord> {
    const now = this.deps.clock.nowMs();
    if (e.amountMicros === 0n) return { t: 'paid', id: e.receipt.id, entryId: null, atMs: now };
    const r = e.receipt;
    const posting = this.deps.ledger.postBillingEvent(this.eventOf(e));
    let result: Awaited<typeof posting>;
    try {
      result = await posting;
    } catch (err) {
      if (err instanceof LedgerUnavailableError) this.outcomeUnknown.add(r.id);
      throw err;
    }
    this.outcomeUnknown.delete(r.id);
    if (result.status === 'paid') return { t: 'paid', id: r.id, entryId: result.entryId, atMs: now };
    return { t: 'arrears', id: r.id, availableMicros: result.availableMicros.toString(), atMs: now };
  }

  /** A receipt's billing event: its key (deployment, period start) and its invoice. */
  private eventOf(e: ReceiptEntry): BillingEvent {
    const r = e.receipt;
    return {
      key: e.key,
      customer: r.customer,
      farmer: r.farmer,
      amountMicros: e.amountMicros,
      unit: r.unit,
      receiptIds: [r.id],
      invoice: { receipt: r.id, receiptHash: e.hash, ...this.treeHeadOf(e), deployment: r.deployment, periodStart: r.periodStart, periodEnd: r.periodEnd, upSeconds: r.upSeconds, pricePerHour: r.pricePerHour, gateway: r.gateway },
    };
  }

  /** The period's evidence for the ledger: the hash of the signed tree head the receipt is a leaf of. */
  private treeHeadOf(e: ReceiptEntry): { treeHead?: string } {
    const headHash = e.receipt.v === 2 ? this.deps.receipts.treeHeadHash(e.periodStartMs) : undefined;
    return headHash === undefined ? {} : { treeHead: headHash };
  }

  /**
   * Arrears, oldest first per customer, posted again while the agreement now covers them. The
   * receipts about to be posted are named in an `arrears_retry` record first: after a crash between
   * a charge and its `paid` record, the balance no longer covers that charge, so the restarted
   * gateway posts each receipt still named there once more anyway, and the ledger answers "paid"
   * under its key (or refuses, and it stays in arrears); nothing is charged twice.
   */
  private async retryArrears(): Promise<void> {
    const byCustomer = new Map<string, ReceiptEntry[]>();
    for (const e of this.deps.receipts.inState('arrears')) {
      const list = byCustomer.get(e.receipt.customer) ?? [];
      list.push(e);
      byCustomer.set(e.receipt.customer, list);
    }
    for (const [customer, list] of byCustomer) {
      const available = (await this.deps.ledger.balance(customer)).availableMicros;
      const chosen = this.retryCandidates(list, available);
      if (chosen.length === 0) continue;
      const begun = chosen.filter((e) => e.retryBegun !== true).map((e) => e.receipt.id);
      if (begun.length > 0) await this.deps.receipts.append([{ t: 'arrears_retry', ids: begun, atMs: this.deps.clock.nowMs() }]);
      const paid: MoneyRecord[] = [];
      const refused: string[] = [];
      try {
        // Each one is posted (not up to the first refusal): a receipt whose charge may have run must be asked about.
        for (const e of chosen) {
          const record = await this.post(e);
          if (record.t === 'paid') paid.push(record);
          else refused.push(e.receipt.id);
        }
      } finally {
        // Charges made before a failed post are recorded now, not left in arrears; the post that failed
        // (and those after it) stay begun, so the next round asks the ledger about them whatever the balance.
        const over: MoneyRecord[] = refused.length === 0 ? [] : [{ t: 'arrears_retry_end', ids: refused, atMs: this.deps.clock.nowMs() }];
        await this.deps.receipts.append([...paid, ...over]);
      }
      if (paid.length > 0) {
        await this.deps.events.record({ atMs: this.deps.clock.nowMs(), event: 'billing.arrears_settled', detail: `${paid.length} receipt(s) in arrears were paid after funds arrived`, customer });
      }
    }
  }

  /**
   * The arrears to post now, oldest first: those the balance covers, in order, up to the first it does
   * not; a receipt whose post may have charged (its answer lost, or its retry begun before a restart)
   * is posted whatever the balance, since that charge is no longer in the balance.
   */
  private retryCandidates(list: readonly ReceiptEntry[], availableMicros: bigint): ReceiptEntry[] {
    const chosen: ReceiptEntry[] = [];
    let available = availableMicros;
    let covered = true;
    for (const e of list) {
      const mayHaveRun = e.retryBegun === true || this.outcomeUnknown.has(e.receipt.id);
      if (mayHaveRun) {
        chosen.push(e);
        continue;
      }
      if (!covered || available < e.amountMicros) {
        covered = false;
        continue;
      }
      chosen.push(e);
      available -= e.amountMicros;
    }
    return chosen;
  }

  /**
   * Pays farmers their shares of paid receipts: batches begun before a crash first (same key,
   * same receipts), then one payout per farmer (and unit) for up to PAYOUT_BATCH receipts, each
   * written ahead as `payout_begin` before it is posted. Receipts paid before batching began, or
   * whose batch the ledger refused, are paid one by one under their own key, as they always were.
   */
  private async payFarmers(): Promise<void> {
    const receipts = this.deps.receipts;
    for (const batch of receipts.openPayoutBatches()) await this.postPayoutBatch(batch);
    const singly: ReceiptEntry[] = [];
    const byFarmer = new Map<string, ReceiptEntry[]>();
    for (const e of receipts.unpaidOut()) {
      if (e.payoutSingly) {
        singly.push(e);
        continue;
      }
      const group = `${e.receipt.farmer}\n${e.receipt.unit}`;
      const list = byFarmer.get(group);
      if (list) list.push(e);
      else byFarmer.set(group, [e]);
    }
    await this.payOneByOne(singly);
    const begun: OpenPayoutBatch[] = [];
    for (const list of byFarmer.values()) {
      for (let from = 0; from < list.length; from += PAYOUT_BATCH) begun.push(payoutBatchOf(list.slice(from, from + PAYOUT_BATCH)));
    }
    if (begun.length === 0) return;
    const atMs = this.deps.clock.nowMs();
    await receipts.append(begun.map((b): MoneyRecord => ({ t: 'payout_begin', key: b.key, farmer: b.farmer, unit: b.unit, amountMicros: b.amountMicros.toString(), ids: b.ids, atMs })));
    for (const b of begun) await this.postPayoutBatch(b);
  }

  /** Posts one begun batch and records its outcome; a refusal (nothing paid under its key) sends its receipts to be paid one by one. */
  private async postPayoutBatch(b: OpenPayoutBatch): Promise<void> {
    let entryId: string;
    try {
      entryId = (await this.deps.ledger.payFarmer({ key: b.key, farmer: b.farmer, amountMicros: b.amountMicros, unit: b.unit, receiptIds: b.ids })).entryId;
    } catch (err) {
      if (!(err instanceof LedgerRejectedError)) throw err;
      const atMs = this.deps.clock.nowMs();
      await this.deps.receipts.append([{ t: 'payout_refused', key: b.key, reason: err.message, atMs }]);
      await this.deps.events.record({ atMs, event: 'billing.payout_batch_refused', detail: `the ledger refused a payout of ${b.ids.length} receipt(s) to ${b.farmer} as one batch (${err.message}); they are paid one by one`, agent: b.farmer });
      return;
    }
    await this.deps.receipts.append([{ t: 'payout_done', key: b.key, entryId, atMs: this.deps.clock.nowMs() }]);
  }

  /** Pays each receipt's farmer share under its own key `payout:<receipt id>` (idempotent per receipt). */
  private async payOneByOne(entries: readonly ReceiptEntry[]): Promise<void> {
    const records: MoneyRecord[] = [];
    try {
      for (const e of entries) {
        const r = e.receipt;
        const result = await this.deps.ledger.payFarmer({ key: `payout:${r.id}`, farmer: r.farmer, amountMicros: e.farmerShareMicros, unit: r.unit, receiptIds: [r.id] });
        records.push({ t: 'payout', id: r.id, farmer: r.farmer, amountMicros: e.farmerShareMicros.toString(), entryId: result.entryId, atMs: this.deps.clock.nowMs() });
        if (records.length >= BATCH) await this.deps.receipts.append(records.splice(0));
      }
    } finally {
      await this.deps.receipts.append(records);
    }
  }

  /** active -> grace on arrears; grace -> active once they are paid; grace -> deprovisioned when it ends. */
  private async graceTransitions(): Promise<void> {
    const now = this.deps.clock.nowMs();
    for (const d of this.deps.deployments.values()) {
      if (d.state !== 'active' && d.state !== 'grace') continue;
      const arrears = this.deps.receipts.arrearsOfDeployment(d.id);
      if (d.state === 'active' && arrears > 0n) {
        const until = now + this.deps.policy.graceMs;
        const next: DeploymentRecord = { ...d, state: 'grace', graceSinceMs: now, graceUntilMs: until };
        await this.deps.deployments.put(d.id, next);
        await this.event(next, 'deployment.grace', `funds ran out: ${formatAmount(arrears)} ${d.unit} of charges could not be paid from the agreement; deprovisioned at ${new Date(until).toISOString()} unless it is funded`);
        if (this.deps.policy.pauseInGrace) await this.deps.lifecycle.setPaused(next, true, 'paused for the grace period (funds ran out)');
      } else if (d.state === 'grace' && arrears === 0n) {
        const { graceSinceMs: _s, graceUntilMs: _u, ...rest } = d;
        const next: DeploymentRecord = { ...rest, state: 'active' };
        await this.deps.deployments.put(d.id, next);
        await this.event(next, 'deployment.active_again', 'arrears paid after funds arrived; back to active');
        if (d.paused) await this.deps.lifecycle.setPaused(next, false, 'resumed: arrears paid');
      } else if (d.state === 'grace' && d.graceUntilMs !== undefined && now >= d.graceUntilMs) {
        await this.deps.lifecycle.end(d, 'out_of_funds', `the grace period ended at ${new Date(d.graceUntilMs).toISOString()} with ${formatAmount(arrears)} ${d.unit} unpaid`);
      }
    }
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

  private event(d: DeploymentRecord, event: EventName, detail: string): Promise<void> {
    return this.deps.events.record({ atMs: this.deps.clock.nowMs(), event, detail, deployment: d.id, customer: d.customer, order: d.order, node: d.node });
  }
}
