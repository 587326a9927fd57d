// The committed periods' trees and tree heads: every head kept for all time, the last periods' trees with their leaves, older ones read back from the store for proofs, and the names a tree stores as codes.
import { toHex } from '../../identity/index.js';
import { blake2bMerkleHasher, MerkleTree } from '../../protocol/merkle.js';
import { receiptHash, receiptId, type Receipt, type ReceiptBodyV2 } from '../../protocol/receipt.js';
import { treeHeadHash, type SignedTreeHead } from '../../protocol/tree-head.js';
import type { MoneyRecord } from './money-record.js';
import type { MoneyStore } from './money-store.js';
import type { PeriodHead, PeriodTree, ReceiptEntry } from './receipt-types.js';

/** Committed trees kept in memory for proofs and batch countersigning: the last 8 periods (farmers are re-asked for these after a restart). */
export const TREES_KEPT = 8;
/**
 * Older trees read back from the store for proofs are kept, least recently used out first, while
 * their leaves add up to at most this (~50 bytes a leaf: ~12 MiB). A customer's receipts page shows
 * one old period per receipt; with only two trees kept, every request read each of them again
 * (bench/requests: the receipts page was PostgreSQL's slowest request, two round trips per period).
 */
export const READ_BACK_LEAVES = 262_144;
/** Built Merkle trees (and farmers' sub-trees) kept for proofs. */
const BUILT_CACHE = 8;
const HASH_BYTES = 32;

/** A v2 receipt record read since its close began, with where it lies in the store. */
export interface UncommittedReceipt {
  readonly record: MoneyRecord & { t: 'receipt' };
  readonly position: number;
}

/** A farmer's batch countersignature, or its refusal of the whole batch. */
type BatchRecord = MoneyRecord & { t: 'batch_countersign' | 'batch_countersign_refused' };

/** The trees and heads of committed periods, as ReceiptLog replays and reads them. */
export class PeriodTrees {
  /** Every committed period's head, by period start (the checkpoint saves it). */
  readonly heads = new Map<number, PeriodHead>();
  private readonly byHeadHash = new Map<string, number>();
  /** The last TREES_KEPT committed trees, oldest first (the checkpoint saves them). */
  readonly recent = new Map<number, PeriodTree>();
  private readonly readBack = new Map<number, PeriodTree>();
  /** Leaves of the read-back trees now kept (bound: readBackLeavesMax). */
  private readBackLeaves = 0;
  private readonly built = new Map<string, MerkleTree>();
  /** Farmer and deployment names by code, and back: a tree stores codes. */
  private readonly codes = new Map<string, number>();
  /** Names by code (the checkpoint saves them). */
  readonly names: string[] = [];
  /** The hash of the last tree head, which the next head names as `prev`. */
  lastHeadHash: string | null = null;

  /** `readBackLeavesMax`: leaves of read-back trees kept (READ_BACK_LEAVES unless a test says otherwise). */
  constructor(private readonly readBackLeavesMax: number) {}

  /** Takes a checkpoint's heads, trees and names, before any record is replayed. */
  restore(s: { heads: Map<number, PeriodHead>; recent: Map<number, PeriodTree>; names: readonly string[]; lastHeadHash: string | null }): void {
    s.heads.forEach((ph, ms) => this.heads.set(ms, ph));
    for (const [ms, ph] of s.heads) this.byHeadHash.set(ph.headHash, ms);
    s.recent.forEach((tree, ms) => this.recent.set(ms, tree));
    s.names.forEach((name) => this.code(name));
    this.lastHeadHash = s.lastHeadHash;
  }

  /**
   * A `tree_head` record: checks it against the receipts read since its close began, commits each
   * (`commit`, in leaf order) and keeps the period's head and tree.
   */
  commitHead(r: MoneyRecord & { t: 'tree_head' }, position: number, list: readonly UncommittedReceipt[], commit: (record: MoneyRecord & { t: 'receipt' }, position: number) => ReceiptEntry): void {
    if (this.heads.has(r.periodStartMs)) throw new Error(`receipts.log: a second tree head for the period starting ${new Date(r.periodStartMs).toISOString()}`);
    if (list.length !== r.head.size) throw new Error(`receipts.log: the tree head of ${new Date(r.periodStartMs).toISOString()} has size ${r.head.size} but ${list.length} receipt(s) precede it`);
    const headHash = treeHeadHash(r.head);
    if (r.head.prev !== this.lastHeadHash) throw new Error(`receipts.log: the tree head of ${new Date(r.periodStartMs).toISOString()} does not chain to the previous head`);
    const tree = this.newTree(r.periodStartMs, r.head, headHash, list.length);
    list.forEach((x, i) => {
      if (x.record.index !== i) throw new Error(`receipts.log: receipt ${x.record.receipt.id} has leaf index ${String(x.record.index)}, expected ${i}`);
      const entry = commit(x.record, x.position);
      this.setLeaf(tree, i, entry.hash, entry.receipt, x.position);
    });
    const first = list[0]?.position ?? position;
    this.heads.set(r.periodStartMs, { head: r.head, headHash, firstPosition: first, lastPosition: list[list.length - 1]?.position ?? first, batchPositions: [] });
    this.byHeadHash.set(headHash, r.periodStartMs);
    this.recent.set(r.periodStartMs, tree);
    if (this.recent.size > TREES_KEPT) this.recent.delete(this.recent.keys().next().value as number);
    this.lastHeadHash = headHash;
  }

  /** A farmer's batch record: remembered with its period's head, and applied to the tree when it is in memory. */
  applyBatch(r: BatchRecord, position: number): void {
    const ph = this.heads.get(r.periodStartMs);
    if (!ph) throw new Error(`receipts.log: a ${r.t} record names a period without a tree head`);
    ph.batchPositions.push(position);
    const tree = this.recent.get(r.periodStartMs) ?? this.readBack.get(r.periodStartMs);
    if (tree) this.applyBatchTo(tree, r);
  }

  /** Trees in memory now: the kept ones and those read back. */
  inMemory(): number {
    return this.recent.size + this.readBack.size;
  }

  /** One of the last TREES_KEPT committed trees, by its head's hash (farmers countersign only these). */
  byHead(headHash: string): PeriodTree | undefined {
    const ms = this.byHeadHash.get(headHash);
    return ms === undefined ? undefined : this.recent.get(ms);
  }

  /** A name (farmer or deployment) a tree stores as a code. */
  nameOf(code: number): string {
    return this.names[code] as string;
  }

  /** A farmer's leaf indices in a tree, in tree order. */
  farmerLeaves(tree: PeriodTree, farmer: string): Uint32Array {
    const code = this.codes.get(farmer);
    if (code === undefined) return new Uint32Array(0);
    if (!tree.byFarmer) {
      const lists = new Map<number, number[]>();
      for (let i = 0; i < tree.size; i++) {
        const f = tree.farmers[i] as number;
        const list = lists.get(f);
        if (list) list.push(i);
        else lists.set(f, [i]);
      }
      tree.byFarmer = new Map([...lists].map(([f, list]) => [f, Uint32Array.from(list)]));
    }
    return tree.byFarmer.get(code) ?? new Uint32Array(0);
  }

  /** A leaf's receipt hash (hex). */
  leafHash(tree: PeriodTree, index: number): string {
    return toHex(tree.hashes.subarray(index * HASH_BYTES, (index + 1) * HASH_BYTES));
  }

  /** A leaf's receipt id: v2 ids are derived from (deployment, period start) (protocol receiptId). */
  leafReceiptId(tree: PeriodTree, index: number): string {
    return receiptId(this.nameOf(tree.deployments[index] as number), tree.periodStartMs);
  }

  /** The receipt bodies at some leaves of a tree, read back from `store`, in the order asked. */
  async leafBodies(store: MoneyStore, tree: PeriodTree, leaves: ArrayLike<number>): Promise<ReceiptBodyV2[]> {
    const positions = Array.from(leaves, (i) => tree.positions[i] as number);
    const records = await store.read(positions);
    return records.map((r) => {
      if (r.t !== 'receipt' || r.receipt.v !== 2) throw new Error(`receipts.log: a leaf of the period starting ${tree.head.periodStart} does not point at a v2 receipt`);
      return r.receipt;
    });
  }

  /** Trees of the last TREES_KEPT periods from `sincePeriodMs` on, oldest first, with the farmers who neither countersigned nor refused. */
  awaitingBatchCountersign(sincePeriodMs: number): Array<{ tree: PeriodTree; farmers: string[] }> {
    const out: Array<{ tree: PeriodTree; farmers: string[] }> = [];
    for (const [ms, tree] of this.recent) {
      if (ms < sincePeriodMs) continue;
      const farmers = new Set<string>();
      for (const code of new Set(tree.farmers)) {
        const farmer = this.nameOf(code);
        if (!tree.batches.has(farmer) && !tree.refusedBy.has(farmer)) farmers.add(farmer);
      }
      if (farmers.size > 0) out.push({ tree, farmers: [...farmers] });
    }
    return out.sort((a, b) => a.tree.periodStartMs - b.tree.periodStartMs);
  }

  /** A committed tree: kept, read back before, or read back now from its records in `store`. */
  async treeOf(store: MoneyStore, periodStartMs: number): Promise<PeriodTree | undefined> {
    const recent = this.recent.get(periodStartMs);
    if (recent) return recent;
    const readBefore = this.readBack.get(periodStartMs);
    if (readBefore) {
      // Used again: last out.
      this.readBack.delete(periodStartMs);
      this.readBack.set(periodStartMs, readBefore);
      return readBefore;
    }
    const ph = this.heads.get(periodStartMs);
    if (!ph) return undefined;
    // Both reads at once: on PostgreSQL each is a round trip, and a customer's page of old receipts reads a tree per period.
    const [range, batches] = await Promise.all([store.readRange(ph.firstPosition, ph.lastPosition), store.read(ph.batchPositions.slice())]);
    const rows = range.filter((x) => x.record.t === 'receipt' && x.record.periodStartMs === periodStartMs);
    const tree = this.newTree(periodStartMs, ph.head, ph.headHash, rows.length);
    for (const { record, position } of rows) {
      const r = record as MoneyRecord & { t: 'receipt' };
      this.setLeaf(tree, r.index as number, r.hash ?? receiptHash(r.receipt), r.receipt, position);
    }
    for (const r of batches) if (r.t === 'batch_countersign' || r.t === 'batch_countersign_refused') this.applyBatchTo(tree, r);
    const again = this.readBack.get(periodStartMs);
    if (again) return again; // another request read it back meanwhile
    this.readBack.set(periodStartMs, tree);
    this.readBackLeaves += tree.size;
    for (const [ms, old] of this.readBack) {
      if (this.readBackLeaves <= this.readBackLeavesMax || ms === periodStartMs) break;
      this.readBack.delete(ms);
      this.readBackLeaves -= old.size;
    }
    return tree;
  }

  /** A (sub-)tree over a tree's leaves (all, or some), built once and kept among the last few used. */
  builtTree(key: string, tree: PeriodTree, leaves: Uint32Array | null): MerkleTree {
    let built = this.built.get(key);
    if (built && built.size === (leaves ? leaves.length : tree.size)) {
      this.built.delete(key);
    } else {
      const count = leaves ? leaves.length : tree.size;
      const leafHashes: Uint8Array[] = new Array<Uint8Array>(count);
      for (let k = 0; k < count; k++) {
        const i = leaves ? (leaves[k] as number) : k;
        leafHashes[k] = blake2bMerkleHasher.leaf(tree.hashes.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES));
      }
      built = MerkleTree.fromLeafHashes(leafHashes);
      if (this.built.size >= BUILT_CACHE) this.built.delete(this.built.keys().next().value as string);
    }
    this.built.set(key, built);
    return built;
  }

  private applyBatchTo(tree: PeriodTree, r: BatchRecord): void {
    if (tree.batches.has(r.farmer) || tree.refusedBy.has(r.farmer)) return;
    if (r.t === 'batch_countersign_refused') {
      tree.refusedBy.set(r.farmer, r.reason);
      return;
    }
    const refused = new Set(r.refused);
    const agreed: number[] = [];
    for (const i of this.farmerLeaves(tree, r.farmer)) {
      if (refused.size > 0 && refused.has(this.leafReceiptId(tree, i))) tree.refusedLeaves.set(i, 'refused in its batch');
      else agreed.push(i);
    }
    this.built.delete(`${tree.periodStartMs}:${r.farmer}`);
    tree.batches.set(r.farmer, { size: r.size, root: r.root, signature: r.signature, leaves: Uint32Array.from(agreed) });
  }

  private code(name: string): number {
    let c = this.codes.get(name);
    if (c === undefined) {
      c = this.names.length;
      this.names.push(name);
      this.codes.set(name, c);
    }
    return c;
  }

  private newTree(periodStartMs: number, head: SignedTreeHead, headHash: string, size: number): PeriodTree {
    return {
      periodStartMs,
      head,
      headHash,
      size,
      hashes: new Uint8Array(size * HASH_BYTES),
      farmers: new Uint32Array(size),
      deployments: new Uint32Array(size),
      positions: new Float64Array(size),
      batches: new Map(),
      refusedBy: new Map(),
      refusedLeaves: new Map(),
    };
  }

  private setLeaf(tree: PeriodTree, index: number, hash: string, receipt: Receipt | ReceiptBodyV2, position: number): void {
    // Decoded straight into the tree's buffer (bench/billing: fromHex's pattern check was a third of committing a leaf); a short write is a bad hash.
    const into = Buffer.from(tree.hashes.buffer, tree.hashes.byteOffset, tree.hashes.byteLength);
    if (hash.length !== 2 * HASH_BYTES || into.write(hash, index * HASH_BYTES, HASH_BYTES, 'hex') !== HASH_BYTES) throw new Error(`receipts.log: receipt ${receipt.id} has a hash that is not ${HASH_BYTES} bytes of hex`);
    tree.farmers[index] = this.code(receipt.farmer);
    tree.deployments[index] = this.code(receipt.deployment);
    tree.positions[index] = position;
  }
}

/** Where `value` lies in an ascending list, or -1 (a farmer's batch lists its agreed leaves in order). */
export function indexIn(sorted: Uint32Array, value: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = sorted[mid] as number;
    if (v === value) return mid;
    if (v < value) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}
