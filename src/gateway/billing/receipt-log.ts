// The money log in memory: receipts still being worked on, each deployment's chain end and totals, the last periods' trees; older receipts are read back from the store.
import { toHex } from '../../identity/index.js';
import { receiptHash, type AnyReceipt, type ReceiptBodyV2 } from '../../protocol/receipt.js';
import type { SignedTreeHead } from '../../protocol/tree-head.js';
import { amountOf } from './amount-cache.js';
import { CHECKPOINT_CHEAP_LIVE, CHECKPOINT_EVERY, CheckpointSchedule } from './checkpoint-schedule.js';
import { decodeCheckpoint, encodeCheckpointFor, type CheckpointEncoder } from './money-checkpoint.js';
import type { EscrowRecord, MoneyRecord } from './money-record.js';
import type { EncodedRecords } from '../store/append-log.js';
import { FileMoneyStore, type MoneyCheckpoint, type MoneyStore, type RestoreCheckpoint } from './money-store.js';
import { PeriodStarts } from './period-starts.js';
import { indexIn, PeriodTrees, READ_BACK_LEAVES, type UncommittedReceipt } from './period-trees.js';
import type { ReceiptLogState } from './receipt-log-state.js';

export type { EscrowRecord, MoneyRecord } from './money-record.js';

import type { DeploymentHistory, OpenPayoutBatch, PaidHistory, PeriodTotals, PeriodTree, ReceiptEntry, ReceiptLogFootprint, ReceiptState, ReceiptTotals } from './receipt-types.js';

export { READ_BACK_LEAVES, TREES_KEPT } from './period-trees.js';
// Kept importable from here: billing-service.ts and the tests import them with ReceiptLog.
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
  /** The working set, by receipt id. */
  private readonly live = new Map<string, ReceiptEntry>();
  /** Live receipts by state, in the order they were committed, and paid ones whose share is still owed. */
  private readonly byState: Record<ReceiptState, Set<ReceiptEntry>> = { issued: new Set(), arrears: new Set(), paid: new Set(), returned: new Set() };
  private readonly owedPayout = new Set<ReceiptEntry>();
  private readonly deployments = new Map<string, DeploymentHistory>();
  private readonly periods = new Map<number, PeriodTotals>();
  private readonly customerArrears = new Map<string, bigint>();
  /**
   * When and how each released held charge was released, by receipt id, for receipts read back
   * after they left memory: a deployment has about one held charge per hour of the escrow window.
   */
  private readonly released = new Map<string, { readonly atMs: number; readonly how: string }>();
  /** Running totals of what each customer paid (one small record a customer, not a receipt list). */
  private readonly customerPaid = new Map<string, { paidUpSeconds: number; paidMicros: bigint; firstPaidAtMs: number | null }>();
  private readonly deploymentArrears = new Map<string, bigint>();
  private readonly trees: PeriodTrees;
  /** v2 receipts read since their close began, waiting for its tree head. */
  private readonly uncommitted = new Map<number, UncommittedReceipt[]>();
  private receiptCount = 0;
  private payoutBatched = false;
  private readonly openPayouts = new Map<string, OpenPayoutBatch>();
  private lastStart = { iso: '', ms: Number.NaN };

  /** Position of the last record applied, and records applied in all. */
  private lastPosition = -1;
  private applied = 0;
  private readonly schedule: CheckpointSchedule;
  /** Whether the open state came from a checkpoint (then only the log's tail was replayed). */
  private restored = false;

  private readonly encode: CheckpointEncoder;

  private constructor(options: ReceiptLogOptions) {
    this.schedule = new CheckpointSchedule(options.checkpointEvery ?? CHECKPOINT_EVERY, options.checkpointCheapLive ?? CHECKPOINT_CHEAP_LIVE);
    this.trees = new PeriodTrees(options.readBackLeaves ?? READ_BACK_LEAVES);
    this.encode = options.encodeCheckpoint ?? encodeCheckpointFor;
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
    const { live, byState, owedPayout, deployments, periods, customerArrears, released, customerPaid, deploymentArrears, receiptCount, payoutBatched, openPayouts } = this;
    const { heads, recent, names, lastHeadHash } = this.trees;
    return { position: this.lastPosition, live, byState, owedPayout, deployments, periods, customerArrears, released, customerPaid, deploymentArrears, heads, recent, names, lastHeadHash, receiptCount, payoutBatched, openPayouts };
  }

  /** Whether this open began from a checkpoint and replayed only the records after it. */
  fromCheckpoint(): boolean {
    return this.restored;
  }

  /** Takes a checkpoint's state, before any record is replayed; false (nothing taken) if it is unreadable or not at `position`. */
  private restorer(): RestoreCheckpoint {
    return (checkpoint, position, read) => {
      const s = decodeCheckpoint(checkpoint, read);
      if (!s || s.position !== position || this.applied > 0) return false;
      const copy = <K, V>(from: Map<K, V>, to: Map<K, V>): void => from.forEach((v, k) => to.set(k, v));
      copy(s.live, this.live);
      for (const state of Object.keys(this.byState) as ReceiptState[]) s.byState[state].forEach((e) => this.byState[state].add(e));
      s.owedPayout.forEach((e) => this.owedPayout.add(e));
      copy(s.deployments, this.deployments);
      copy(s.periods, this.periods);
      copy(s.customerArrears, this.customerArrears);
      copy(s.released, this.released);
      copy(s.customerPaid, this.customerPaid);
      copy(s.deploymentArrears, this.deploymentArrears);
      this.trees.restore(s);
      this.receiptCount = s.receiptCount;
      this.payoutBatched = s.payoutBatched;
      copy(s.openPayouts, this.openPayouts);
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
    if (!this.schedule.take({ applied: this.applied, liveSize: this.live.size, closeOpen: this.uncommitted.size > 0, lastPosition: this.lastPosition })) return undefined;
    const readsBack = store.receiptPositions !== undefined;
    if (readsBack) {
      for (const h of this.deployments.values()) {
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
    return this.live.get(id);
  }

  /** A deployment's receipts, oldest first, read back from the store where they left memory, with their farmers' batch standing. */
  async of(deployment: string): Promise<ReceiptEntry[]> {
    const out: ReceiptEntry[] = [];
    for (const e of await this.listed(deployment)) out.push(await this.withCountersign(e));
    return out;
  }

  /**
   * A deployment's receipts as `of` answers them, but without the batch standing (farmerBatchIndex,
   * countersignRefused), which costs a read of each old period's tree: enough for `present`, which
   * reads the standing from the tree itself for the receipts it shows (bench/requests: a customer's
   * receipts page read every old period's tree for every receipt, not only the page's).
   */
  async listed(deployment: string): Promise<ReceiptEntry[]> {
    const h = this.deployments.get(deployment);
    if (!h) return [];
    const store = this.opened();
    // A copy: a close that commits while the store reads pushes onto h.positions, and the store must
    // be answered for the positions it was asked (bench/requests met "no record at position" on PostgreSQL).
    const kept = [...h.positions];
    const older = h.olderUpTo === undefined ? [] : await this.olderPositions(store, deployment, h.olderUpTo);
    const records = await store.read([...older, ...kept]);
    const out: ReceiptEntry[] = [];
    for (const r of records) {
      if (r.t !== 'receipt') throw new Error(`receipts.log: a position of ${deployment} holds a ${r.t} record, not its receipt`);
      out.push(this.live.get(r.receipt.id) ?? settledEntry(r, this.released.get(r.receipt.id)));
    }
    return out;
  }

  /** The hash of a deployment's last receipt (what its next receipt's `prev` names), or null. */
  lastHash(deployment: string): string | null {
    return this.deployments.get(deployment)?.lastHash ?? null;
  }

  /** Whether the deployment has a receipt for the period starting at `periodStartMs`. */
  has(deployment: string, periodStartMs: number): boolean {
    return this.deployments.get(deployment)?.periodStartsMs.has(periodStartMs) ?? false;
  }

  /** Every live receipt in a state, oldest first. */
  inState(state: ReceiptState): ReceiptEntry[] {
    return [...this.byState[state]].sort((a, b) => a.periodStartMs - b.periodStartMs);
  }

  /** Paid receipts whose farmer share has not been paid out, and that are in no begun batch. */
  unpaidOut(): ReceiptEntry[] {
    const out: ReceiptEntry[] = [];
    for (const e of this.owedPayout) if (e.payoutKey === undefined) out.push(e);
    return out;
  }

  /** Payout batches begun and not yet recorded done or refused (a crash between): to be posted again as they are. */
  openPayoutBatches(): OpenPayoutBatch[] {
    return [...this.openPayouts.values()];
  }

  /** Whether the `payout_mode` marker is in the log: receipts paid from then on are paid out in batches. */
  payoutsBatched(): boolean {
    return this.payoutBatched;
  }

  /** A deployment's unpaid charges. */
  arrearsOfDeployment(deployment: string): bigint {
    return this.deploymentArrears.get(deployment) ?? 0n;
  }

  /** A deployment's up-seconds billed, charges paid and charges in arrears, over all its receipts. */
  totalsOf(deployment: string): ReceiptTotals {
    const h = this.deployments.get(deployment);
    return { upSeconds: h?.upSeconds ?? 0, chargedMicros: h?.chargedMicros ?? 0n, arrearsMicros: this.arrearsOfDeployment(deployment), heldMicros: h?.heldMicros ?? 0n, returnedMicros: h?.returnedMicros ?? 0n };
  }

  /** Held charges not yet released or returned, oldest first. */
  held(): ReceiptEntry[] {
    return this.inState('issued').filter((e) => e.escrow?.state === 'held');
  }

  /** v1 receipts still waiting for the farmer's countersignature or refusal. */
  awaitingCountersign(sincePeriodMs: number): ReceiptEntry[] {
    const out: ReceiptEntry[] = [];
    for (const e of this.live.values()) if (e.receipt.v === 1 && e.farmerSignature === undefined && e.countersignRefused === undefined && e.periodStartMs >= sincePeriodMs) out.push(e);
    return out;
  }

  /** What the customer paid here, from running totals (no receipt is read). */
  paidHistoryOf(customer: string): PaidHistory {
    return this.customerPaid.get(customer) ?? { paidUpSeconds: 0, paidMicros: 0n, firstPaidAtMs: null };
  }

  arrearsOf(customer: string): bigint {
    return this.customerArrears.get(customer) ?? 0n;
  }

  /** Customers with arrears. */
  customersInArrears(): string[] {
    return [...this.customerArrears].filter(([, v]) => v > 0n).map(([k]) => k);
  }

  /** Totals by period start, oldest first. */
  periodTotals(): Array<[number, PeriodTotals]> {
    return [...this.periods].sort((a, b) => a[0] - b[0]);
  }

  /** All committed receipts ever (for the admin page: counts). */
  count(): number {
    return this.receiptCount;
  }

  /** What is held in memory now. */
  footprint(): ReceiptLogFootprint {
    return { receipts: this.live.size, trees: this.trees.inMemory() };
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
    const r = e.receipt;
    if (r.v === 1) return e.farmerSignature === undefined ? r : { ...r, signatures: { ...r.signatures, farmer: e.farmerSignature } };
    const escrow = e.escrow === undefined ? {} : { escrow: { state: e.escrow.state, ...(e.escrow.atMs !== undefined ? { at: new Date(e.escrow.atMs).toISOString() } : {}), ...(e.escrow.how !== undefined ? { how: e.escrow.how } : {}) } };
    const tree = await this.trees.treeOf(this.opened(), e.periodStartMs);
    if (!tree) throw new Error(`receipts.log: receipt ${r.id} has no tree head for its period`);
    const index = e.index as number;
    const proof = this.trees.builtTree(`${e.periodStartMs}`, tree, null).inclusionProof(index).map(toHex);
    const batch = tree.batches.get(r.farmer);
    const batchIndex = batch ? indexIn(batch.leaves, index) : -1;
    if (batch === undefined || batchIndex < 0) return { ...r, treeHead: tree.head, index, proof, ...escrow };
    const farmerProof = this.trees.builtTree(`${e.periodStartMs}:${r.farmer}`, tree, batch.leaves).inclusionProof(batchIndex).map(toHex);
    return { ...r, treeHead: tree.head, index, proof, countersign: { size: batch.size, root: batch.root, index: batchIndex, proof: farmerProof, signature: batch.signature }, ...escrow };
  }

  close(): void {
    this.store?.close();
  }

  private opened(): MoneyStore {
    if (!this.store) throw new Error('receipts.log: not open');
    return this.store;
  }

  /** A deployment's receipt positions up to `upTo`, which this log no longer keeps, read back from the store. */
  private async olderPositions(store: MoneyStore, deployment: string, upTo: number): Promise<number[]> {
    if (!store.receiptPositions) throw new Error(`receipts.log: the positions of ${deployment}'s older receipts were left to a store that cannot read them back`);
    return store.receiptPositions(deployment, upTo);
  }

  /** A v2 entry with its farmer's batch standing filled in from its tree. */
  private async withCountersign(e: ReceiptEntry): Promise<ReceiptEntry> {
    if (e.receipt.v !== 2 || e.index === undefined) return e;
    const tree = await this.trees.treeOf(this.opened(), e.periodStartMs);
    if (!tree) return e;
    const farmer = e.receipt.farmer;
    const batch = tree.batches.get(farmer);
    const batchIndex = batch ? indexIn(batch.leaves, e.index) : -1;
    const refused = tree.refusedBy.get(farmer) ?? tree.refusedLeaves.get(e.index);
    return { ...e, ...(batchIndex >= 0 ? { farmerBatchIndex: batchIndex } : {}), ...(refused === undefined ? {} : { countersignRefused: refused }) };
  }

  private period(ms: number): PeriodTotals {
    let p = this.periods.get(ms);
    if (!p) {
      p = { chargedMicros: 0n, farmerSharesMicros: 0n, paidOutMicros: 0n, arrearsMicros: 0n, returnedMicros: 0n, receipts: 0 };
      this.periods.set(ms, p);
    }
    return p;
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
        this.commit(r, position);
        return;
      case 'tree_head': {
        const list = this.uncommitted.get(r.periodStartMs) ?? [];
        this.uncommitted.delete(r.periodStartMs);
        this.trees.commitHead(r, position, list, (record, at) => this.commit(record, at));
        return;
      }
      case 'batch_countersign':
      case 'batch_countersign_refused':
        this.trees.applyBatch(r, position);
        return;
      case 'paid_batch':
        if (r.ids.length !== r.entryIds.length) throw new Error(`receipts.log: a paid_batch record names ${r.ids.length} receipt(s) but ${r.entryIds.length} ledger entr(ies)`);
        for (const id of r.ids) {
          const e = this.live.get(id);
          if (e) this.applyPaid(e);
        }
        return;
      case 'payout_mode':
      case 'payout_begin':
      case 'payout_done':
      case 'payout_refused':
        this.applyPayoutBatch(r);
        return;
      case 'arrears_retry':
      case 'arrears_retry_end':
        this.applyArrearsRetry(r);
        return;
      default:
        this.applyMoney(r);
    }
  }

  /** Makes a receipt part of the indexes (v1 at once; v2 once its tree head is read); it is live until settled. */
  private commit(r: MoneyRecord & { t: 'receipt' }, position: number): ReceiptEntry {
    const entry = entryOf(r, 'issued', false);
    if (r.receipt.held === true) entry.escrow = { state: 'held' };
    const d = r.receipt.deployment;
    let h = this.deployments.get(d);
    if (h && r.receipt.prev !== h.lastHash) throw new Error(`receipts.log: receipt ${r.receipt.id} does not chain to the previous receipt of ${d}`);
    if (!h) {
      h = { lastHash: entry.hash, periodStartsMs: PeriodStarts.empty(), positions: [], upSeconds: 0, chargedMicros: 0n, heldMicros: 0n, returnedMicros: 0n };
      this.deployments.set(d, h);
    }
    h.lastHash = entry.hash;
    h.periodStartsMs.push(r.periodStartMs);
    h.positions.push(position);
    h.upSeconds += r.receipt.upSeconds;
    if (entry.escrow) h.heldMicros += entry.amountMicros;
    this.live.set(r.receipt.id, entry);
    this.byState.issued.add(entry);
    this.period(r.periodStartMs).receipts++;
    this.receiptCount++;
    return entry;
  }

  private moveTo(e: ReceiptEntry, state: ReceiptState): void {
    this.byState[e.state].delete(e);
    e.state = state;
    this.byState[state].add(e);
  }

  /** A v2 receipt paid and paid out (or owed nothing) is settled for good: it leaves memory (its record stays in the store). */
  private settleIfDone(e: ReceiptEntry): void {
    if (e.receipt.v !== 2 || e.state !== 'paid' || this.owedPayout.has(e)) return;
    this.live.delete(e.receipt.id);
    this.byState.paid.delete(e);
  }

  private addPaid(customer: string, e: ReceiptEntry): void {
    const at = this.parsedStart(e.receipt.periodStart);
    const p = this.customerPaid.get(customer);
    if (!p) {
      this.customerPaid.set(customer, { paidUpSeconds: e.receipt.upSeconds, paidMicros: e.amountMicros, firstPaidAtMs: at });
      return;
    }
    p.paidUpSeconds += e.receipt.upSeconds;
    p.paidMicros += e.amountMicros;
    if (p.firstPaidAtMs === null || at < p.firstPaidAtMs) p.firstPaidAtMs = at;
  }

  /** Date.parse of a receipt's period start; a close's receipts share one, so the last is kept. */
  private parsedStart(iso: string): number {
    if (iso !== this.lastStart.iso) this.lastStart = { iso, ms: Date.parse(iso) };
    return this.lastStart.ms;
  }

  private addDeploymentArrears(e: ReceiptEntry, micros: bigint): void {
    const d = e.receipt.deployment;
    const next = (this.deploymentArrears.get(d) ?? 0n) + micros;
    if (next === 0n) this.deploymentArrears.delete(d);
    else this.deploymentArrears.set(d, next);
  }

  private applyPayoutBatch(r: MoneyRecord & { t: 'payout_mode' | 'payout_begin' | 'payout_done' | 'payout_refused' }): void {
    switch (r.t) {
      case 'payout_mode':
        this.payoutBatched = true;
        return;
      case 'payout_begin':
        if (this.openPayouts.has(r.key)) throw new Error(`receipts.log: payout batch ${r.key} begun twice`);
        for (const id of r.ids) {
          const e = this.live.get(id);
          if (!e || !this.owedPayout.has(e) || e.payoutKey !== undefined) throw new Error(`receipts.log: payout batch ${r.key} names ${id}, which is not owed a payout outside a batch`);
          e.payoutKey = r.key;
        }
        this.openPayouts.set(r.key, { key: r.key, farmer: r.farmer, unit: r.unit, amountMicros: BigInt(r.amountMicros), ids: r.ids });
        return;
      case 'payout_done':
      case 'payout_refused': {
        const batch = this.openPayouts.get(r.key);
        if (!batch) throw new Error(`receipts.log: a ${r.t} record names payout batch ${r.key}, which was not begun or is already closed`);
        this.openPayouts.delete(r.key);
        for (const id of batch.ids) {
          const e = this.live.get(id) as ReceiptEntry;
          delete e.payoutKey;
          if (r.t === 'payout_refused') {
            e.payoutSingly = true;
            continue;
          }
          e.paidOut = true;
          this.owedPayout.delete(e);
          this.period(e.periodStartMs).paidOutMicros += e.farmerShareMicros;
          this.settleIfDone(e);
        }
      }
    }
  }

  /** Marks receipts still in arrears as being retried (their charge may run), or their retry as over; a receipt no longer in arrears is left as it is. */
  private applyArrearsRetry(r: MoneyRecord & { t: 'arrears_retry' | 'arrears_retry_end' }): void {
    for (const id of r.ids) {
      const e = this.live.get(id);
      if (e?.state !== 'arrears') continue;
      if (r.t === 'arrears_retry') e.retryBegun = true;
      else delete e.retryBegun;
    }
  }

  /** A receipt paid: out of arrears, into the paid totals, owed its farmer share (or settled). */
  private applyPaid(e: ReceiptEntry): void {
    if (e.state === 'paid') return;
    const customer = e.receipt.customer;
    delete e.retryBegun;
    if (e.state === 'arrears') {
      this.customerArrears.set(customer, (this.customerArrears.get(customer) ?? 0n) - e.amountMicros);
      this.addDeploymentArrears(e, -e.amountMicros);
      this.period(e.periodStartMs).arrearsMicros -= e.amountMicros;
    }
    this.moveTo(e, 'paid');
    this.addPaid(customer, e);
    if (!this.payoutBatched) e.payoutSingly = true;
    if (!e.paidOut && e.farmerShareMicros > 0n) this.owedPayout.add(e);
    const p = this.period(e.periodStartMs);
    p.chargedMicros += e.amountMicros;
    p.farmerSharesMicros += e.farmerShareMicros;
    const h = this.deployments.get(e.receipt.deployment);
    if (h) h.chargedMicros += e.amountMicros;
    this.settleIfDone(e);
  }

  /**
   * A record naming a receipt that is no longer live names a settled one: every such record
   * (paid, arrears, payout again) is a no-op on a settled receipt, as it was before it left memory.
   */
  private applyMoney(r: MoneyRecord & { t: 'countersign' | 'countersign_refused' | 'paid' | 'arrears' | 'payout' | EscrowRecord['t'] }): void {
    const e = this.live.get(r.id);
    if (!e) return;
    const customer = e.receipt.customer;
    switch (r.t) {
      case 'countersign':
        e.farmerSignature = r.signature;
        return;
      case 'countersign_refused':
        e.countersignRefused = r.reason;
        return;
      case 'paid':
        this.applyPaid(e);
        return;
      case 'arrears':
        if (e.state !== 'issued') return;
        this.moveTo(e, 'arrears');
        this.customerArrears.set(customer, (this.customerArrears.get(customer) ?? 0n) + e.amountMicros);
        this.addDeploymentArrears(e, e.amountMicros);
        this.period(e.periodStartMs).arrearsMicros += e.amountMicros;
        return;
      case 'escrow_release':
      case 'escrow_return': {
        // Only a held charge not yet settled moves: a second record for it (a re-run after a crash) changes nothing.
        if (e.escrow?.state !== 'held' || e.state !== 'issued') return;
        e.escrow = { state: r.t === 'escrow_release' ? 'released' : 'returned', atMs: r.atMs, how: r.how };
        if (r.t === 'escrow_release') this.released.set(e.receipt.id, { atMs: r.atMs, how: r.how });
        const h = this.deployments.get(e.receipt.deployment);
        if (h) h.heldMicros -= e.amountMicros;
        if (r.t === 'escrow_return') {
          this.moveTo(e, 'returned');
          if (h) h.returnedMicros += e.amountMicros;
          const p = this.period(e.periodStartMs);
          p.returnedMicros = (p.returnedMicros ?? 0n) + e.amountMicros;
        }
        return;
      }
      case 'payout':
        if (e.paidOut || e.payoutKey !== undefined) return;
        e.paidOut = true;
        this.owedPayout.delete(e);
        this.period(e.periodStartMs).paidOutMicros += BigInt(r.amountMicros);
        this.settleIfDone(e);
    }
  }
}

/** A receipt record as an entry in `state`. */
function entryOf(r: MoneyRecord & { t: 'receipt' }, state: ReceiptState, paidOut: boolean): ReceiptEntry {
  return {
    receipt: r.receipt,
    ...(r.index === undefined ? {} : { index: r.index }),
    hash: r.hash ?? receiptHash(r.receipt),
    periodStartMs: r.periodStartMs,
    key: r.key,
    amountMicros: amountOf('amount', r.receipt.amount),
    farmerShareMicros: amountOf('farmerShare', r.receipt.farmerShare),
    state,
    paidOut,
  };
}

/** A receipt read back from the store that is no longer live: paid, and paid out when it had a farmer share. */
function settledEntry(r: MoneyRecord & { t: 'receipt' }, release: { readonly atMs: number; readonly how: string } | undefined): ReceiptEntry {
  const entry = entryOf(r, 'paid', false);
  entry.paidOut = entry.farmerShareMicros > 0n;
  // Returned receipts never leave memory, so a settled one that was held was released.
  if (r.receipt.held === true) entry.escrow = { state: 'released', ...release };
  return entry;
}
