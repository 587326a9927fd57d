// Random money-log histories for checkpoint tests: each step asks the writing ReceiptLog what may happen next and appends the records the gateway would.
import { encodeCheckpoint } from '../../src/gateway/billing/money-checkpoint.js';
import type { MoneyRecord, ReceiptLog } from '../../src/gateway/billing/receipt-log.js';
import { receiptHash, type ReceiptBodyV2 } from '../../src/protocol/receipt.js';
import { actors, headOver, HOUR, T0, v2Body } from './receipts.js';

/** One step: what kind, and a number that picks among the receipts it may apply to. */
export interface MoneyOp {
  readonly kind: 'close' | 'cut' | 'pay' | 'arrears' | 'payout' | 'batch' | 'refuseBatch' | 'release' | 'return' | 'countersign' | 'retry';
  readonly pick: number;
}

export const OP_KINDS: readonly MoneyOp['kind'][] = ['close', 'cut', 'pay', 'arrears', 'payout', 'batch', 'refuseBatch', 'release', 'return', 'countersign', 'retry'];

const DEPLOYMENTS = ['dep_a', 'dep_b', 'dep_c', 'dep_d'];

/** Writes histories into a ReceiptLog, as BillingService, the payout batcher and escrow write them. */
export class MoneyHistory {
  private period: number;
  private batches = 0;

  /** Goes on from the log's last closed period (a history may be written by several opens). */
  constructor(private readonly log: ReceiptLog) {
    const last = log.periodTotals().at(-1)?.[0];
    this.period = last === undefined ? 0 : (last - T0) / HOUR + 1;
    this.batches = log.count();
  }

  /** Appends the records of one step (none when the step has nothing to act on). */
  async step(op: MoneyOp): Promise<void> {
    const records = this.recordsOf(op);
    if (records.length > 0) await this.log.append(records);
  }

  private recordsOf(op: MoneyOp): MoneyRecord[] {
    const at = T0 + this.period * HOUR;
    switch (op.kind) {
      case 'close':
      case 'cut': {
        // Every other deployment sits out now and then (gaps in its period starts); the pick decides who is held.
        const deployments = DEPLOYMENTS.filter((d, i) => (op.pick + i + this.period) % 5 !== 0);
        const bodies: ReceiptBodyV2[] = deployments.map((d, i) => ({
          ...v2Body({ deployment: d, startMs: at, prev: this.log.lastHash(d), upSeconds: 600 + ((op.pick * 7 + i * 13) % 3000), farmer: d === 'dep_b' ? actors.stranger : actors.farmer }),
          ...((op.pick >> i) % 3 === 0 ? { held: true } : {}),
        }));
        const records: MoneyRecord[] = [{ t: 'close_begin', periodStartMs: at }, ...bodies.map((b, index): MoneyRecord => ({ t: 'receipt', receipt: b, periodStartMs: at, key: `k:${b.id}`, hash: receiptHash(b), index }))];
        if (op.kind === 'cut') return records;
        this.period++;
        return [...records, { t: 'tree_head', periodStartMs: at, head: headOver(bodies, at, this.log.lastTreeHeadHash()) }];
      }
      case 'pay':
      case 'arrears': {
        const open = [...this.log.inState('issued'), ...(op.kind === 'pay' ? this.log.inState('arrears') : [])].filter((e) => e.escrow?.state !== 'held');
        const e = open[op.pick % Math.max(1, open.length)];
        if (!e) return [];
        return [op.kind === 'pay' ? { t: 'paid', id: e.receipt.id, entryId: `pay-${op.pick}`, atMs: at } : { t: 'arrears', id: e.receipt.id, availableMicros: '0', atMs: at }];
      }
      case 'payout': {
        const e = this.log.unpaidOut()[op.pick % Math.max(1, this.log.unpaidOut().length)];
        return e ? [{ t: 'payout', id: e.receipt.id, farmer: e.receipt.farmer, amountMicros: e.farmerShareMicros.toString(), entryId: null, atMs: at }] : [];
      }
      case 'batch':
      case 'refuseBatch': {
        const owed = this.log.unpaidOut();
        if (owed.length === 0) return [];
        const farmer = (owed[op.pick % owed.length] as (typeof owed)[number]).receipt.farmer;
        const mine = owed.filter((e) => e.receipt.farmer === farmer);
        const key = `batch:${++this.batches}`;
        const amount = mine.reduce((s, e) => s + e.farmerShareMicros, 0n);
        const mode: MoneyRecord[] = this.log.payoutsBatched() ? [] : [{ t: 'payout_mode', mode: 'batched', atMs: at }];
        const begin: MoneyRecord = { t: 'payout_begin', key, farmer, unit: 'SPORE', amountMicros: amount.toString(), ids: mine.map((e) => e.receipt.id), atMs: at };
        // A pick divisible by 4 leaves the batch begun (a crash before the ledger answered).
        if (op.pick % 4 === 0) return [...mode, begin];
        return [...mode, begin, op.kind === 'batch' ? { t: 'payout_done', key, entryId: `po-${key}`, atMs: at } : { t: 'payout_refused', key, reason: 'refused by the test', atMs: at }];
      }
      case 'retry': {
        // An arrears retry as BillingService writes it: begun ahead for some receipts in arrears, then (unless
        // the pick leaves it open, a crash before the ledger answered) the first paid and the rest ended.
        const arrears = this.log.inState('arrears');
        if (arrears.length === 0) return [];
        const from = op.pick % arrears.length;
        const ids = arrears.slice(from, from + 1 + (op.pick % 3)).map((e) => e.receipt.id);
        const begin: MoneyRecord = { t: 'arrears_retry', ids, atMs: at };
        if (op.pick % 4 === 0) return [begin];
        const [first, ...rest] = ids as [string, ...string[]];
        const outcome: MoneyRecord[] = op.pick % 4 === 1 ? [{ t: 'paid', id: first, entryId: `retry-${op.pick}`, atMs: at }, ...(rest.length > 0 ? [{ t: 'arrears_retry_end' as const, ids: rest, atMs: at }] : [])] : [{ t: 'arrears_retry_end', ids, atMs: at }];
        return [begin, ...outcome];
      }
      case 'release':
      case 'return': {
        const held = this.log.held();
        const e = held[op.pick % Math.max(1, held.length)];
        return e ? [{ t: op.kind === 'release' ? 'escrow_release' : 'escrow_return', id: e.receipt.id, how: `test-${op.pick}`, atMs: at }] : [];
      }
      case 'countersign': {
        const waiting = this.log.awaitingBatchCountersign(0);
        const w = waiting[op.pick % Math.max(1, waiting.length)];
        if (!w) return [];
        const farmer = w.farmers[op.pick % w.farmers.length] as string;
        if (op.pick % 3 === 0) return [{ t: 'batch_countersign_refused', periodStartMs: w.tree.periodStartMs, farmer, reason: 'test', atMs: at }];
        const leaves = this.log.farmerLeaves(w.tree, farmer);
        const refused = op.pick % 2 === 0 && leaves.length > 1 ? [this.log.leafReceiptId(w.tree, leaves[0] as number)] : [];
        return [{ t: 'batch_countersign', periodStartMs: w.tree.periodStartMs, farmer, size: leaves.length - refused.length, root: 'cd'.repeat(32), signature: 'sig', refused, atMs: at }];
      }
    }
  }
}

/**
 * Everything a reopened ReceiptLog answers, as comparable JSON: its whole open state (the checkpoint
 * encoding) and what callers read through its methods, receipts read back included.
 */
export async function openStateOf(log: ReceiptLog, withPositions = true): Promise<unknown> {
  const big = (x: unknown): unknown => JSON.parse(JSON.stringify(x, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)));
  const deployments = DEPLOYMENTS;
  // One read at a time: concurrent reads back of old trees would fill the read-back cache in whatever order the store answers.
  const of: unknown[] = [];
  for (const d of deployments) {
    const shown: unknown[] = [];
    for (const e of await log.of(d)) shown.push({ entry: big(e), shown: big(await log.present(e)) });
    of.push(shown);
  }
  return {
    // With positions false (a store that reads them back) every deployment names the state's position instead.
    // Parsed: a receipt read back from jsonb has its keys in another order, which no reader depends on.
    state: JSON.parse(encodeCheckpoint(log.openState(), { positions: withPositions }).slice(65)) as unknown,
    count: log.count(),
    periods: big(log.periodTotals()),
    states: big(['issued', 'arrears', 'paid', 'returned'].map((s) => log.inState(s as 'issued').map((e) => e.receipt.id))),
    unpaidOut: log.unpaidOut().map((e) => e.receipt.id),
    openBatches: big(log.openPayoutBatches()),
    arrears: log.customersInArrears(),
    held: log.held().map((e) => e.receipt.id),
    totals: big(deployments.map((d) => [log.totalsOf(d), log.lastHash(d), log.arrearsOfDeployment(d), [0, 1, 2, 3, 5, 8].map((p) => log.has(d, T0 + p * HOUR))])),
    paid: big(log.paidHistoryOf('uhCAkcustomer')),
    lastHead: log.lastTreeHeadHash(),
    awaiting: log.awaitingBatchCountersign(0).map((w) => [w.tree.headHash, w.farmers]),
    footprint: log.footprint(),
    of,
  };
}
