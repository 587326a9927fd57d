// The money log: opens a MoneyStore (from its checkpoint, then replaying the rest), appends records with the checkpoint due, and wires the money state, the period trees and the receipt queries together.
import type { AnyReceipt, ReceiptBodyV2 } from '../../protocol/receipt.js';
import type { SignedTreeHead } from '../../protocol/tree-head.js';
import { CHECKPOINT_CHEAP_LIVE, CHECKPOINT_EVERY, CheckpointSchedule } from './checkpoint-schedule.js';
import { decodeCheckpoint, encodeCheckpointFor, type CheckpointEncoder } from './money-checkpoint.js';
import type { MoneyRecord } from './money-record.js';
import type { EncodedRecords } from '../store/append-log.js';
import { FileMoneyStore, type MoneyCheckpoint, type MoneyStore, type RestoreCheckpoint } from './money-store.js';
import { MoneyState } from './money-state.js';
import { PeriodTrees, READ_BACK_LEAVES, type UncommittedReceipt } from './period-trees.js';
import type { ReceiptLogState } from './receipt-log-state.js';
import { listedReceipts, presentReceipt, receiptsOf, type ReceiptSources } from './receipt-queries.js';
import type { OpenPayoutBatch, PaidHistory, PeriodTotals, PeriodTree, ReceiptEntry, ReceiptLogFootprint, ReceiptState, ReceiptTotals } from './receipt-types.js';

// Kept importable from here: billing-service.ts and the tests import them with ReceiptLog.
export type { EscrowRecord, MoneyRecord } from './money-record.js';
export { READ_BACK_LEAVES, TREES_KEPT } from './period-trees.js';
export type { DeploymentHistory, FarmerBatch, OpenPayoutBatch, PaidHistory, PeriodHead, PeriodTotals, PeriodTree, ReceiptEntry, ReceiptLogFootprint, ReceiptState, ReceiptTotals } from './receipt-types.js';

/** How a ReceiptLog checkpoints its open state. */
export interface ReceiptLogOptions {
  /** Records between checkpoints (default CHECKPOINT_EVERY); 0 turns checkpoints off. */
  readonly checkpointEvery?: number;
  /** Leaves of read-back trees kept (default READ_BACK_LEAVES). */
  readonly readBackLeaves?: number;
  /** A working set this small never delays a due checkpoint (default CHECKPOINT_CHEAP_LIVE). */
  readonly checkpointCheapLive?: number;
  /** How the open state is written (default encodeCheckpointFor); tests give one that fails as JSON.stringify does past V8's longest string. */
  readonly encodeCheckpoint?: CheckpointEncoder;
}

/**
 * `receipts.log` through a MoneyStore: appending is O(1) (one line, fsynced with its batch).
 * The store alone decides what was issued, billed and paid out; on open every record is replayed
 * into the indexes. Only the working set stays whole in memory: a v2 receipt that is paid and
 * paid out leaves it, and is read back from the store (by its position) when someone asks for it.
 */
export class ReceiptLog {
  private store: MoneyStore | null = null;
  private readonly money = new MoneyState();
  private readonly trees: PeriodTrees;
  /** v2 receipts read since their close began, waiting for its tree head. */
  private readonly uncommitted = new Map<number, UncommittedReceipt[]>();

  /** Position of the last record applied, and records applied in all. */
  private lastPosition = -1;
  private applied = 0;
  private readonly schedule: CheckpointSchedule;
  /** Whether the open state came from a checkpoint (then only the log's tail was replayed). */
  private restored = false;

  private readonly encode: CheckpointEncoder;
  /** What the receipt queries read (receipt-queries.ts). */
  private readonly sources: ReceiptSources;

  private constructor(options: ReceiptLogOptions) {
    this.schedule = new CheckpointSchedule(options.checkpointEvery ?? CHECKPOINT_EVERY, options.checkpointCheapLive ?? CHECKPOINT_CHEAP_LIVE);
    this.trees = new PeriodTrees(options.readBackLeaves ?? READ_BACK_LEAVES);
    this.encode = options.encodeCheckpoint ?? encodeCheckpointFor;
    this.sources = { store: () => this.opened(), money: this.money, trees: this.trees };
  }

  /**
   * Opens the log file, from its checkpoint (`receipts.log.checkpoint`) when that matches the log;
   * `uncommitted` counts receipts of a close cut short before its tree head (left out, issued again).
   */
  static open(path: string, options: ReceiptLogOptions = {}): { receipts: ReceiptLog; tornBytes: number; uncommitted: number } {
    const receipts = new ReceiptLog(options);
    const { store, tornBytes } = FileMoneyStore.open(path, (record, position) => receipts.apply(record, position), receipts.restorer());
    return { receipts, tornBytes, uncommitted: receipts.attach(store) };
  }

  /**
   * Opens the log over any MoneyStore (a database table, say): `openStore` may hand a checkpoint it
   * holds to `restore` first (which answers false if it cannot be used), then hands every record after
   * it (or every record), oldest first, with its position to `replay`, then answers the store.
   */
  static async over(openStore: (replay: (record: MoneyRecord, position: number) => void, restore: RestoreCheckpoint) => Promise<MoneyStore>, options: ReceiptLogOptions = {}): Promise<{ receipts: ReceiptLog; uncommitted: number }> {
    const receipts = new ReceiptLog(options);
    const store = await openStore((record, position) => receipts.apply(record, position), receipts.restorer());
    return { receipts, uncommitted: receipts.attach(store) };
  }

  /** The open state (live references, not copies: encode it before anything else runs). */
  openState(): ReceiptLogState {
    const { live, byState, owedPayout, deployments, periods, customerArrears, released, customerPaid, deploymentArrears, receiptCount, payoutBatched, openPayouts } = this.money;
    const { heads, recent, names, lastHeadHash } = this.trees;
    return { position: this.lastPosition, live, byState, owedPayout, deployments, periods, customerArrears, released, customerPaid, deploymentArrears, heads, recent, names, lastHeadHash, receiptCount, payoutBatched, openPayouts };
  }

  /** Whether this open began from a checkpoint and replayed only the records after it. */
  fromCheckpoint(): boolean {
    return this.restored;
  }

  /** Takes a checkpoint's state, before any record is replayed; false (nothing taken) if it is unreadable, not at `position`, or its lists are not what its entries say (MoneyState.fits). */
  private restorer(): RestoreCheckpoint {
    return (checkpoint, position, read) => {
      const s = decodeCheckpoint(checkpoint, read);
      if (!s || s.position !== position || this.applied > 0 || !MoneyState.fits(s)) return false;
      this.money.restore(s);
      this.trees.restore(s);
      this.lastPosition = position;
      this.restored = true;
      return true;
    };
  }

  /**
   * The checkpoint to write with the next append, when one is due: the state up to the last record
   * applied (never while a close is between its begin and its tree head). A store that reads
   * positions back (receiptPositions) keeps none: they are dropped from memory too.
   */
  private dueCheckpoint(store: MoneyStore): MoneyCheckpoint | undefined {
    if (!this.schedule.take({ applied: this.applied, liveSize: this.money.live.size, closeOpen: this.uncommitted.size > 0, lastPosition: this.lastPosition })) return undefined;
    const readsBack = store.receiptPositions !== undefined;
    if (readsBack) {
      for (const h of this.money.deployments.values()) {
        h.positions = [];
        h.olderUpTo = this.lastPosition;
      }
    }
    let encoded: ReturnType<CheckpointEncoder>;
    try {
      encoded = this.encode(this.openState(), { positions: !readsBack, bytes: store.checkpointBytes === true });
    } catch (err) {
      // The checkpoint is only a shortcut for the next start: the records must still be written.
      this.schedule.failed(err);
      return undefined;
    }
    this.schedule.encoded();
    return typeof encoded === 'string' ? { position: this.lastPosition, text: encoded } : { position: this.lastPosition, ...encoded };
  }

  /** Checkpoints that could not be encoded since this log was opened, and the last one's error (a start then replays more). */
  checkpointHealth(): { failures: number; lastError: string | null } {
    return this.schedule.health();
  }

  /** Takes the store once every record is replayed; answers how many receipts of a cut-short close were left out. */
  private attach(store: MoneyStore): number {
    this.store = store;
    // The first checkpoint stands after a record appended from now on: never on a receipt of a close cut short before this start (left out here, retired when its period is closed again).
    this.schedule.startAt(this.applied);
    let uncommitted = 0;
    for (const list of this.uncommitted.values()) uncommitted += list.length;
    this.uncommitted.clear();
    return uncommitted;
  }

  /**
   * Appends records (one fsync for the batch) and applies them. `texts`: the records' JSON texts
   * when the caller already has them (as strings, or UTF-8 bytes back to back: ReceiptRecordBytes);
   * each must parse to its record.
   */
  async append(records: MoneyRecord[], texts?: readonly string[] | EncodedRecords): Promise<void> {
    if (records.length === 0) return;
    const store = this.opened();
    const checkpoint = this.dueCheckpoint(store);
    const positions = await store.append(records, { ...(texts ? { texts } : {}), ...(checkpoint ? { checkpoint } : {}) });
    records.forEach((r, i) => this.apply(r, positions[i] as number));
  }

  /** A receipt of the working set (not yet paid, in arrears, owed a payout, or v1). */
  get(id: string): ReceiptEntry | undefined {
    return this.money.live.get(id);
  }

  /** A deployment's receipts, oldest first, read back from the store where they left memory, with their farmers' batch standing. */
  async of(deployment: string): Promise<ReceiptEntry[]> {
    return receiptsOf(this.sources, deployment);
  }

  /**
   * A deployment's receipts as `of` answers them, but without the batch standing (farmerBatchIndex,
   * countersignRefused), which costs a read of each old period's tree: enough for `present`, which
   * reads the standing from the tree itself for the receipts it shows (bench/requests: a customer's
   * receipts page read every old period's tree for every receipt, not only the page's).
   */
  async listed(deployment: string): Promise<ReceiptEntry[]> {
    return listedReceipts(this.sources, deployment);
  }

  /** The hash of a deployment's last receipt (what its next receipt's `prev` names), or null. */
  lastHash(deployment: string): string | null {
    return this.money.deployments.get(deployment)?.lastHash ?? null;
  }

  /** Whether the deployment has a receipt for the period starting at `periodStartMs`. */
  has(deployment: string, periodStartMs: number): boolean {
    return this.money.deployments.get(deployment)?.periodStartsMs.has(periodStartMs) ?? false;
  }

  /** Every live receipt in a state, oldest first. */
  inState(state: ReceiptState): ReceiptEntry[] {
    return [...this.money.byState[state]].sort((a, b) => a.periodStartMs - b.periodStartMs);
  }

  /** Paid receipts whose farmer share has not been paid out, and that are in no begun batch. */
  unpaidOut(): ReceiptEntry[] {
    const out: ReceiptEntry[] = [];
    for (const e of this.money.owedPayout) if (e.payoutKey === undefined) out.push(e);
    return out;
  }

  /** Payout batches begun and not yet recorded done or refused (a crash between): to be posted again as they are. */
  openPayoutBatches(): OpenPayoutBatch[] {
    return [...this.money.openPayouts.values()];
  }

  /** Whether the `payout_mode` marker is in the log: receipts paid from then on are paid out in batches. */
  payoutsBatched(): boolean {
    return this.money.payoutBatched;
  }

  /** A deployment's unpaid charges. */
  arrearsOfDeployment(deployment: string): bigint {
    return this.money.deploymentArrears.get(deployment) ?? 0n;
  }

  /** A deployment's up-seconds billed, charges paid and charges in arrears, over all its receipts. */
  totalsOf(deployment: string): ReceiptTotals {
    const h = this.money.deployments.get(deployment);
    return { upSeconds: h?.upSeconds ?? 0, chargedMicros: h?.chargedMicros ?? 0n, arrearsMicros: this.arrearsOfDeployment(deployment), heldMicros: h?.heldMicros ?? 0n, returnedMicros: h?.returnedMicros ?? 0n };
  }

  /** Held charges not yet released or returned, oldest first. */
  held(): ReceiptEntry[] {
    return this.inState('issued').filter((e) => e.escrow?.state === 'held');
  }

  /** v1 receipts still waiting for the farmer's countersignature or refusal. */
  awaitingCountersign(sincePeriodMs: number): ReceiptEntry[] {
    const out: ReceiptEntry[] = [];
    for (const e of this.money.live.values()) if (e.receipt.v === 1 && e.farmerSignature === undefined && e.countersignRefused === undefined && e.periodStartMs >= sincePeriodMs) out.push(e);
    return out;
  }

  /** What the customer paid here, from running totals (no receipt is read). */
  paidHistoryOf(customer: string): PaidHistory {
    return this.money.customerPaid.get(customer) ?? { paidUpSeconds: 0, paidMicros: 0n, firstPaidAtMs: null };
  }

  arrearsOf(customer: string): bigint {
    return this.money.customerArrears.get(customer) ?? 0n;
  }

  /** Customers with arrears. */
  customersInArrears(): string[] {
    return [...this.money.customerArrears].filter(([, v]) => v > 0n).map(([k]) => k);
  }

  /** Totals by period start, oldest first. */
  periodTotals(): Array<[number, PeriodTotals]> {
    return [...this.money.periods].sort((a, b) => a[0] - b[0]);
  }

  /** All committed receipts ever (for the admin page: counts). */
  count(): number {
    return this.money.receiptCount;
  }

  /** What is held in memory now. */
  footprint(): ReceiptLogFootprint {
    return { receipts: this.money.live.size, trees: this.trees.inMemory() };
  }

  /** The signed tree head of the period starting at `periodStartMs`, if it was closed with v2 receipts. */
  treeHead(periodStartMs: number): SignedTreeHead | undefined {
    return this.trees.heads.get(periodStartMs)?.head;
  }

  /** The hash of a period's signed tree head (the period's evidence for the ledger). */
  treeHeadHash(periodStartMs: number): string | undefined {
    return this.trees.heads.get(periodStartMs)?.headHash;
  }

  /** One of the last TREES_KEPT committed trees (older ones: treeOf). */
  tree(periodStartMs: number): PeriodTree | undefined {
    return this.trees.recent.get(periodStartMs);
  }

  /** One of the last TREES_KEPT committed trees, by its head's hash (farmers countersign only these). */
  treeByHeadHash(headHash: string): PeriodTree | undefined {
    return this.trees.byHead(headHash);
  }

  /** The hash of the last tree head, which the next head names as `prev`. */
  lastTreeHeadHash(): string | null {
    return this.trees.lastHeadHash;
  }

  /** A name (farmer or deployment) a tree stores as a code. */
  nameOf(code: number): string {
    return this.trees.nameOf(code);
  }

  /** A farmer's leaf indices in a tree, in tree order. */
  farmerLeaves(tree: PeriodTree, farmer: string): Uint32Array {
    return this.trees.farmerLeaves(tree, farmer);
  }

  /** A leaf's receipt hash (hex). */
  leafHash(tree: PeriodTree, index: number): string {
    return this.trees.leafHash(tree, index);
  }

  /** A leaf's receipt id: v2 ids are derived from (deployment, period start) (protocol receiptId). */
  leafReceiptId(tree: PeriodTree, index: number): string {
    return this.trees.leafReceiptId(tree, index);
  }

  /** The receipt bodies at some leaves of a tree, read back from the store, in the order asked. */
  async leafBodies(tree: PeriodTree, leaves: ArrayLike<number>): Promise<ReceiptBodyV2[]> {
    return this.trees.leafBodies(this.opened(), tree, leaves);
  }

  /** Trees of the last TREES_KEPT periods from `sincePeriodMs` on, oldest first, with the farmers who neither countersigned nor refused. */
  awaitingBatchCountersign(sincePeriodMs: number): Array<{ tree: PeriodTree; farmers: string[] }> {
    return this.trees.awaitingBatchCountersign(sincePeriodMs);
  }

  /**
   * The receipt as shown to people: a v1 receipt with the farmer's countersignature when there
   * is one; a v2 receipt with its tree head, inclusion proof and, once given, the farmer's batch
   * countersignature with the receipt's proof in the farmer's sub-tree. A proof of a period older
   * than the last TREES_KEPT reads that period's leaves back from the store.
   */
  async present(e: ReceiptEntry): Promise<AnyReceipt> {
    return presentReceipt(this.sources, e);
  }

  close(): void {
    this.store?.close();
  }

  private opened(): MoneyStore {
    if (!this.store) throw new Error('receipts.log: not open');
    return this.store;
  }

  private apply(r: MoneyRecord, position: number): void {
    this.lastPosition = position;
    this.applied++;
    switch (r.t) {
      case 'close_begin':
        this.uncommitted.set(r.periodStartMs, []);
        return;
      case 'receipt':
        if (r.receipt.v === 2) {
          const list = this.uncommitted.get(r.periodStartMs) ?? [];
          list.push({ record: r, position });
          this.uncommitted.set(r.periodStartMs, list);
          return;
        }
        this.money.commit(r, position);
        return;
      case 'tree_head': {
        const list = this.uncommitted.get(r.periodStartMs) ?? [];
        this.uncommitted.delete(r.periodStartMs);
        this.trees.commitHead(r, position, list, (record, at) => this.money.commit(record, at));
        return;
      }
      case 'batch_countersign':
      case 'batch_countersign_refused':
        this.trees.applyBatch(r, position);
        return;
      case 'paid_batch':
        this.money.applyPaidBatch(r);
        return;
      case 'payout_mode':
      case 'payout_begin':
      case 'payout_done':
      case 'payout_refused':
        this.money.applyPayoutBatch(r);
        return;
      case 'arrears_retry':
      case 'arrears_retry_end':
        this.money.applyArrearsRetry(r);
        return;
      default:
        this.money.applyMoney(r);
    }
  }
}
