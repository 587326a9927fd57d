// The money log: every receipt and what became of it (countersigned, paid, arrears, paid out), append-only and fsynced.
import { AppendLog } from '../store/append-log.js';
import type { LoadedLog, RecordLog } from '../store/record-log.js';
import { toHex } from '../../identity/index.js';
import { MerkleTree } from '../../protocol/merkle.js';
import { parseAmount } from '../../protocol/money.js';
import { receiptHash, receiptLeafHash, type AnyReceipt, type Receipt, type ReceiptBodyV2 } from '../../protocol/receipt.js';
import { treeHeadHash, type SignedTreeHead } from '../../protocol/tree-head.js';

/**
 * One line of the money log. A v2 close is `close_begin`, its receipts (with their leaf
 * index), then `tree_head`: the head commits them, so receipts of a close whose head never
 * reached the disk (a crash mid-close) are left out when the log is read, and issued again.
 */
export type MoneyRecord =
  | { readonly t: 'receipt'; readonly receipt: Receipt | ReceiptBodyV2; readonly periodStartMs: number; readonly key: string; readonly hash?: string; readonly index?: number }
  | { readonly t: 'close_begin'; readonly periodStartMs: number }
  | { readonly t: 'tree_head'; readonly periodStartMs: number; readonly head: SignedTreeHead }
  | { readonly t: 'batch_countersign'; readonly periodStartMs: number; readonly farmer: string; readonly size: number; readonly root: string; readonly signature: string; readonly refused: readonly string[]; readonly atMs: number }
  | { readonly t: 'batch_countersign_refused'; readonly periodStartMs: number; readonly farmer: string; readonly reason: string; readonly atMs: number }
  | { readonly t: 'countersign'; readonly id: string; readonly signature: string; readonly atMs: number }
  | { readonly t: 'countersign_refused'; readonly id: string; readonly reason: string; readonly atMs: number }
  | { readonly t: 'paid'; readonly id: string; readonly entryId: string | null; readonly atMs: number }
  | { readonly t: 'arrears'; readonly id: string; readonly availableMicros: string; readonly atMs: number }
  | { readonly t: 'payout'; readonly id: string; readonly farmer: string; readonly amountMicros: string; readonly entryId: string | null; readonly atMs: number };

/** Where a receipt stands. */
export type ReceiptState = 'issued' | 'arrears' | 'paid';

/** A receipt with its standing. */
export interface ReceiptEntry {
  /** A v1 receipt (signed alone) or a v2 body (a leaf of its period's tree). */
  readonly receipt: Receipt | ReceiptBodyV2;
  /** The v2 receipt's leaf index in its period's tree. */
  readonly index?: number;
  /** blake2b-256 of the receipt's signed bytes: what the next receipt's `prev` names. */
  readonly hash: string;
  readonly periodStartMs: number;
  /** The ledger idempotency key: derived from (deployment, period start). */
  readonly key: string;
  readonly amountMicros: bigint;
  readonly farmerShareMicros: bigint;
  state: ReceiptState;
  paidAtMs?: number;
  paidOut: boolean;
  farmerSignature?: string;
  /** The v2 receipt's index among the receipts its farmer countersigned in its period. */
  farmerBatchIndex?: number;
  countersignRefused?: string;
}

/** A period's committed tree: its signed head and its receipts in leaf order. */
export interface PeriodTree {
  readonly head: SignedTreeHead;
  readonly headHash: string;
  readonly entries: readonly ReceiptEntry[];
  /** Farmers' batch countersignatures, by farmer. */
  readonly batches: Map<string, { readonly size: number; readonly root: string; readonly signature: string; readonly entries: readonly ReceiptEntry[] }>;
  /** Farmers who refused the whole batch. */
  readonly refusedBy: Set<string>;
}

/** Trees (and farmers' sub-trees) kept built for proofs; older ones are built again on demand. */
const TREE_CACHE = 8;

/** Totals of one period (by period start), for revenue charts. */
export interface PeriodTotals {
  chargedMicros: bigint;
  farmerSharesMicros: bigint;
  paidOutMicros: bigint;
  arrearsMicros: bigint;
  receipts: number;
}

/**
 * `receipts.log`: appending a receipt is O(1) (one line, fsynced with its batch), never a
 * rewrite of the database. Indexes are rebuilt from it on start, so it alone decides what was
 * issued, billed and paid out: a crash at any point loses no money record.
 */
export class ReceiptLog {
  private readonly byId = new Map<string, ReceiptEntry>();
  private readonly byDeployment = new Map<string, ReceiptEntry[]>();
  private readonly periods = new Map<number, PeriodTotals>();
  private readonly customerArrears = new Map<string, bigint>();
  private readonly deploymentArrears = new Map<string, bigint>();
  /** Receipts by state, in the order they were issued, and paid ones whose share is still owed: settle reads these instead of scanning every receipt ever issued. */
  private readonly byState: Record<ReceiptState, Set<ReceiptEntry>> = { issued: new Set(), arrears: new Set(), paid: new Set() };
  private readonly owedPayout = new Set<ReceiptEntry>();
  private readonly trees = new Map<number, PeriodTree>();
  private readonly byHeadHash = new Map<string, PeriodTree>();
  /** v2 receipts read since their close began, waiting for its tree head. */
  private readonly uncommitted = new Map<number, Array<MoneyRecord & { t: 'receipt' }>>();
  private lastHead: PeriodTree | null = null;
  private readonly built = new Map<string, MerkleTree>();

  private constructor(private readonly log: RecordLog<MoneyRecord>) {}

  /** Opens the log; `uncommitted` counts receipts of a close cut short before its tree head (left out, issued again). */
  static open(path: string): { receipts: ReceiptLog; tornBytes: number; uncommitted: number } {
    const { log, records, tornBytes } = AppendLog.open<MoneyRecord>(path);
    return { ...ReceiptLog.load({ log, records }), tornBytes };
  }

  /** Rebuilds the indexes from a log's records (a file or a database table); `uncommitted` as for `open`. */
  static load(loaded: LoadedLog<MoneyRecord>): { receipts: ReceiptLog; uncommitted: number } {
    const receipts = new ReceiptLog(loaded.log);
    for (const r of loaded.records) receipts.apply(r);
    let uncommitted = 0;
    for (const list of receipts.uncommitted.values()) uncommitted += list.length;
    receipts.uncommitted.clear();
    return { receipts, uncommitted };
  }

  /** Appends records (one fsync for the batch) and applies them. */
  async append(records: MoneyRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.log.append(...records);
    for (const r of records) this.apply(r);
  }

  get(id: string): ReceiptEntry | undefined {
    return this.byId.get(id);
  }

  /** A deployment's receipts, oldest first. */
  of(deployment: string): readonly ReceiptEntry[] {
    return this.byDeployment.get(deployment) ?? [];
  }

  /** The last receipt of a deployment. */
  last(deployment: string): ReceiptEntry | undefined {
    const list = this.byDeployment.get(deployment);
    return list?.[list.length - 1];
  }

  /** Whether the deployment has a receipt for the period starting at `periodStartMs`. */
  has(deployment: string, periodStartMs: number): boolean {
    const list = this.byDeployment.get(deployment);
    if (!list) return false;
    for (let i = list.length - 1; i >= 0; i--) {
      const e = list[i] as ReceiptEntry;
      if (e.periodStartMs === periodStartMs) return true;
      if (e.periodStartMs < periodStartMs) return false;
    }
    return false;
  }

  /** Every receipt in a state, oldest first. */
  inState(state: ReceiptState): ReceiptEntry[] {
    return [...this.byState[state]].sort((a, b) => a.periodStartMs - b.periodStartMs);
  }

  /** Paid receipts whose farmer share has not been paid out. */
  unpaidOut(): ReceiptEntry[] {
    return [...this.owedPayout];
  }

  /** A deployment's unpaid charges. */
  arrearsOfDeployment(deployment: string): bigint {
    return this.deploymentArrears.get(deployment) ?? 0n;
  }

  /** Receipts still waiting for the farmer's countersignature or refusal. */
  awaitingCountersign(sincePeriodMs: number): ReceiptEntry[] {
    const out: ReceiptEntry[] = [];
    for (const e of this.byId.values()) if (e.farmerSignature === undefined && e.countersignRefused === undefined && e.periodStartMs >= sincePeriodMs) out.push(e);
    return out;
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

  /** All receipts (for the admin page: counts). */
  count(): number {
    return this.byId.size;
  }

  /** The signed tree head of the period starting at `periodStartMs`, if it was closed with v2 receipts. */
  treeHead(periodStartMs: number): SignedTreeHead | undefined {
    return this.trees.get(periodStartMs)?.head;
  }

  /** The committed tree of a period. */
  tree(periodStartMs: number): PeriodTree | undefined {
    return this.trees.get(periodStartMs);
  }

  /** The committed tree whose head has this hash. */
  treeByHeadHash(headHash: string): PeriodTree | undefined {
    return this.byHeadHash.get(headHash);
  }

  /** The hash of the last tree head, which the next head names as `prev`. */
  lastTreeHeadHash(): string | null {
    return this.lastHead?.headHash ?? null;
  }

  /** Tree heads of periods from `sincePeriodMs` on, oldest first, with the farmers who neither countersigned nor refused. */
  awaitingBatchCountersign(sincePeriodMs: number): Array<{ tree: PeriodTree; farmers: string[] }> {
    const out: Array<{ tree: PeriodTree; farmers: string[] }> = [];
    for (const [ms, tree] of this.trees) {
      if (ms < sincePeriodMs) continue;
      const farmers = new Set<string>();
      for (const e of tree.entries) if (!tree.batches.has(e.receipt.farmer) && !tree.refusedBy.has(e.receipt.farmer)) farmers.add(e.receipt.farmer);
      if (farmers.size > 0) out.push({ tree, farmers: [...farmers] });
    }
    return out.sort((a, b) => Date.parse(a.tree.head.periodStart) - Date.parse(b.tree.head.periodStart));
  }

  /**
   * The receipt as shown to people: a v1 receipt with the farmer's countersignature when there
   * is one; a v2 receipt with its tree head, inclusion proof and, once given, the farmer's batch
   * countersignature with the receipt's proof in the farmer's sub-tree.
   */
  present(e: ReceiptEntry): AnyReceipt {
    const r = e.receipt;
    if (r.v === 1) return e.farmerSignature === undefined ? r : { ...r, signatures: { ...r.signatures, farmer: e.farmerSignature } };
    const tree = this.trees.get(e.periodStartMs) as PeriodTree;
    const index = e.index as number;
    const proof = this.builtTree(`${e.periodStartMs}`, tree.entries).inclusionProof(index).map(toHex);
    const batch = tree.batches.get(r.farmer);
    if (batch === undefined || e.farmerBatchIndex === undefined) return { ...r, treeHead: tree.head, index, proof };
    const farmerProof = this.builtTree(`${e.periodStartMs}:${r.farmer}`, batch.entries).inclusionProof(e.farmerBatchIndex).map(toHex);
    return { ...r, treeHead: tree.head, index, proof, countersign: { size: batch.size, root: batch.root, index: e.farmerBatchIndex, proof: farmerProof, signature: batch.signature } };
  }

  /** A (sub-)tree over entries' leaves, built once and kept among the last few used. */
  private builtTree(key: string, entries: readonly ReceiptEntry[]): MerkleTree {
    let tree = this.built.get(key);
    if (tree) {
      this.built.delete(key);
    } else {
      tree = MerkleTree.fromLeafHashes(entries.map((x) => receiptLeafHash(x.hash)));
      if (this.built.size >= TREE_CACHE) this.built.delete(this.built.keys().next().value as string);
    }
    this.built.set(key, tree);
    return tree;
  }

  close(): void {
    this.log.close();
  }

  private period(ms: number): PeriodTotals {
    let p = this.periods.get(ms);
    if (!p) {
      p = { chargedMicros: 0n, farmerSharesMicros: 0n, paidOutMicros: 0n, arrearsMicros: 0n, receipts: 0 };
      this.periods.set(ms, p);
    }
    return p;
  }

  private apply(r: MoneyRecord): void {
    switch (r.t) {
      case 'close_begin':
        this.uncommitted.set(r.periodStartMs, []);
        return;
      case 'receipt':
        if (r.receipt.v === 2) {
          const list = this.uncommitted.get(r.periodStartMs) ?? [];
          list.push(r);
          this.uncommitted.set(r.periodStartMs, list);
          return;
        }
        this.commit(r);
        return;
      case 'tree_head':
        this.applyTreeHead(r);
        return;
      case 'batch_countersign':
      case 'batch_countersign_refused':
        this.applyBatch(r);
        return;
      default:
        this.applyMoney(r);
    }
  }

  private applyTreeHead(r: MoneyRecord & { t: 'tree_head' }): void {
    const list = this.uncommitted.get(r.periodStartMs) ?? [];
    this.uncommitted.delete(r.periodStartMs);
    if (this.trees.has(r.periodStartMs)) throw new Error(`receipts.log: a second tree head for the period starting ${new Date(r.periodStartMs).toISOString()}`);
    if (list.length !== r.head.size) throw new Error(`receipts.log: the tree head of ${new Date(r.periodStartMs).toISOString()} has size ${r.head.size} but ${list.length} receipt(s) precede it`);
    const headHash = treeHeadHash(r.head);
    if (r.head.prev !== (this.lastHead?.headHash ?? null)) throw new Error(`receipts.log: the tree head of ${new Date(r.periodStartMs).toISOString()} does not chain to the previous head`);
    const entries = list.map((x, i) => {
      if (x.index !== i) throw new Error(`receipts.log: receipt ${x.receipt.id} has leaf index ${String(x.index)}, expected ${i}`);
      return this.commit(x);
    });
    const tree: PeriodTree = { head: r.head, headHash, entries, batches: new Map(), refusedBy: new Set() };
    this.trees.set(r.periodStartMs, tree);
    this.byHeadHash.set(headHash, tree);
    this.lastHead = tree;
  }

  private applyBatch(r: MoneyRecord & { t: 'batch_countersign' | 'batch_countersign_refused' }): void {
    const tree = this.trees.get(r.periodStartMs);
    if (!tree) throw new Error(`receipts.log: a ${r.t} record names a period without a tree head`);
    if (tree.batches.has(r.farmer) || tree.refusedBy.has(r.farmer)) return;
    if (r.t === 'batch_countersign_refused') {
      tree.refusedBy.add(r.farmer);
      for (const e of tree.entries) if (e.receipt.farmer === r.farmer) e.countersignRefused = r.reason;
      return;
    }
    const refused = new Set(r.refused);
    const agreed: ReceiptEntry[] = [];
    for (const e of tree.entries) {
      if (e.receipt.farmer !== r.farmer) continue;
      if (refused.has(e.receipt.id)) {
        e.countersignRefused = 'refused in its batch';
        continue;
      }
      e.farmerBatchIndex = agreed.length;
      agreed.push(e);
    }
    tree.batches.set(r.farmer, { size: r.size, root: r.root, signature: r.signature, entries: agreed });
  }

  /** Makes a receipt part of the indexes (v1 at once; v2 once its tree head is read). */
  private commit(r: MoneyRecord & { t: 'receipt' }): ReceiptEntry {
    const entry: ReceiptEntry = {
      receipt: r.receipt,
      ...(r.index === undefined ? {} : { index: r.index }),
      hash: r.hash ?? receiptHash(r.receipt),
      periodStartMs: r.periodStartMs,
      key: r.key,
      amountMicros: parseAmount('amount', r.receipt.amount),
      farmerShareMicros: parseAmount('farmerShare', r.receipt.farmerShare),
      state: 'issued',
      paidOut: false,
    };
    this.byId.set(r.receipt.id, entry);
    this.byState.issued.add(entry);
    const list = this.byDeployment.get(r.receipt.deployment) ?? [];
    const last = list[list.length - 1];
    if (last && r.receipt.prev !== last.hash) throw new Error(`receipts.log: receipt ${r.receipt.id} does not chain to ${last.receipt.id}`);
    list.push(entry);
    this.byDeployment.set(r.receipt.deployment, list);
    this.period(r.periodStartMs).receipts++;
    return entry;
  }

  private moveTo(e: ReceiptEntry, state: ReceiptState): void {
    this.byState[e.state].delete(e);
    e.state = state;
    this.byState[state].add(e);
  }

  private addDeploymentArrears(e: ReceiptEntry, micros: bigint): void {
    const d = e.receipt.deployment;
    const next = (this.deploymentArrears.get(d) ?? 0n) + micros;
    if (next === 0n) this.deploymentArrears.delete(d);
    else this.deploymentArrears.set(d, next);
  }

  private applyMoney(r: MoneyRecord & { t: 'countersign' | 'countersign_refused' | 'paid' | 'arrears' | 'payout' }): void {
    const e = this.byId.get(r.id);
    if (!e) throw new Error(`receipts.log: a ${r.t} record names unknown receipt ${r.id}`);
    const customer = e.receipt.customer;
    switch (r.t) {
      case 'countersign':
        e.farmerSignature = r.signature;
        return;
      case 'countersign_refused':
        e.countersignRefused = r.reason;
        return;
      case 'paid':
        if (e.state === 'paid') return;
        if (e.state === 'arrears') {
          this.customerArrears.set(customer, (this.customerArrears.get(customer) ?? 0n) - e.amountMicros);
          this.addDeploymentArrears(e, -e.amountMicros);
          this.period(e.periodStartMs).arrearsMicros -= e.amountMicros;
        }
        this.moveTo(e, 'paid');
        if (!e.paidOut && e.farmerShareMicros > 0n) this.owedPayout.add(e);
        e.paidAtMs = r.atMs;
        this.period(e.periodStartMs).chargedMicros += e.amountMicros;
        this.period(e.periodStartMs).farmerSharesMicros += e.farmerShareMicros;
        return;
      case 'arrears':
        if (e.state !== 'issued') return;
        this.moveTo(e, 'arrears');
        this.customerArrears.set(customer, (this.customerArrears.get(customer) ?? 0n) + e.amountMicros);
        this.addDeploymentArrears(e, e.amountMicros);
        this.period(e.periodStartMs).arrearsMicros += e.amountMicros;
        return;
      case 'payout':
        if (e.paidOut) return;
        e.paidOut = true;
        this.owedPayout.delete(e);
        this.period(e.periodStartMs).paidOutMicros += BigInt(r.amountMicros);
    }
  }
}
