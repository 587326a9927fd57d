// MoneyState against a frozen copy of its earlier self (the reference model): random money records, including ones the state machine refuses and checkpoint round trips, leave both answering the same.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MoneyState } from '../../src/gateway/billing/money-state.js';
import { SLACK } from '../../src/gateway/billing/entry-list.js';
import { decodeCheckpoint, encodeCheckpoint, encodeCheckpointBytes } from '../../src/gateway/billing/money-checkpoint.js';
import type { MoneyRecord } from '../../src/gateway/billing/money-record.js';
import type { ReceiptLogState } from '../../src/gateway/billing/receipt-log-state.js';
import type { ReceiptEntry, ReceiptState } from '../../src/gateway/billing/receipt-types.js';
import type { ReceiptBodyV2 } from '../../src/protocol/receipt.js';
import { ReferenceMoneyState } from '../helpers/reference-money-state.js';
import { HOUR, T0 } from '../helpers/receipts.js';

const STATES: readonly ReceiptState[] = ['issued', 'arrears', 'paid', 'returned'];
const DEPLOYMENTS = ['dep_a', 'dep_b', 'dep_c', 'dep_d', 'dep_e'];
const FARMERS = ['farmer_1', 'farmer_2'];
const CUSTOMERS = ['cust_x', 'cust_y', 'cust_z'];
/** [amount, farmer share]: a zero share settles on payment, a zero charge is paid for nothing. */
const AMOUNTS: ReadonlyArray<readonly [string, string]> = [
  ['0.010000', '0.009000'],
  ['0.020000', '0.000000'],
  ['0.000000', '0.000000'],
  ['1.500000', '1.350000'],
];

const KINDS = ['receipt', 'receipt', 'receipt', 'badChain', 'paid', 'paidBatch', 'badPaidBatch', 'arrears', 'retry', 'retryEnd', 'payout', 'mode', 'begin', 'badBegin', 'done', 'refused', 'release', 'return', 'countersign', 'countersignRefused', 'unknownId', 'checkpoint', 'checkpointBytes'] as const;
type Kind = (typeof KINDS)[number];
interface Op {
  readonly kind: Kind;
  readonly pick: number;
}

/** Either implementation, as the driver uses it. */
type AnyMoneyState = MoneyState | ReferenceMoneyState;

/** Applies a record as ReceiptLog.apply does (v2 receipts committed at once: the trees are not under test); answers the error it threw, if any. */
export function apply(m: AnyMoneyState, r: MoneyRecord, position: number): string | null {
  try {
    switch (r.t) {
      case 'receipt':
        m.commit(r, position);
        break;
      case 'paid_batch':
        m.applyPaidBatch(r);
        break;
      case 'payout_mode':
      case 'payout_begin':
      case 'payout_done':
      case 'payout_refused':
        m.applyPayoutBatch(r);
        break;
      case 'arrears_retry':
      case 'arrears_retry_end':
        m.applyArrearsRetry(r);
        break;
      case 'close_begin':
      case 'tree_head':
      case 'batch_countersign':
      case 'batch_countersign_refused':
        throw new Error(`not a MoneyState record: ${r.t}`);
      default:
        m.applyMoney(r);
    }
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Everything a caller can read of a MoneyState (what ReceiptLog's queries and the checkpoint read), as comparable values. */
function view(m: AnyMoneyState): unknown {
  const big = (x: unknown): unknown => JSON.parse(JSON.stringify(x, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)));
  const ids = (list: Iterable<ReceiptEntry>): string[] => Array.from(list, (e) => e.receipt.id);
  return {
    live: big([...m.live]),
    byState: Object.fromEntries(STATES.map((s) => [s, ids(m.byState[s])])),
    // The entries byState and owedPayout hold are the live ones themselves (shared, as the checkpoint assumes).
    shared: STATES.every((s) => [...m.byState[s]].every((e) => m.live.get(e.receipt.id) === e)) && [...m.owedPayout].every((e) => m.live.get(e.receipt.id) === e),
    owedPayout: ids(m.owedPayout),
    deployments: big([...m.deployments].map(([d, h]) => [d, { ...h, periodStartsMs: h.periodStartsMs.toRuns() }])),
    periods: big([...m.periods]),
    customerArrears: big([...m.customerArrears]),
    released: [...m.released],
    customerPaid: big([...m.customerPaid]),
    deploymentArrears: big([...m.deploymentArrears]),
    receiptCount: m.receiptCount,
    payoutBatched: m.payoutBatched,
    openPayouts: big([...m.openPayouts]),
  };
}

/** The open state a checkpoint saves, with no trees (MoneyState's part of ReceiptLog.openState). */
function openState(m: MoneyState, position: number): ReceiptLogState {
  const { live, byState, owedPayout, deployments, periods, customerArrears, released, customerPaid, deploymentArrears, receiptCount, payoutBatched, openPayouts } = m;
  return { position, live, byState, owedPayout, deployments, periods, customerArrears, released, customerPaid, deploymentArrears, heads: new Map(), recent: new Map(), names: [], lastHeadHash: null, receiptCount, payoutBatched, openPayouts };
}

/** A MoneyState restored from `m`'s checkpoint, in format 1 (text) or 2 (bytes). */
function roundTrip(m: MoneyState, position: number, bytes: boolean): MoneyState {
  const s = openState(m, position);
  const decoded = bytes ? decodeCheckpoint(Buffer.concat(encodeCheckpointBytes(s, { positions: true }).bytes)) : decodeCheckpoint(encodeCheckpoint(s, { positions: true }));
  assert.ok(decoded, 'the checkpoint decodes');
  assert.ok(MoneyState.fits(decoded), 'its lists are what its entries say, so a start takes it');
  const restored = new MoneyState();
  restored.restore(decoded);
  return restored;
}

/** Writes records as the gateway would (and some it never would), reading what may happen next from the reference. */
export class Driver {
  private receipts = 0;
  private tick = 0;
  private batches = 0;

  constructor(private readonly ref: ReferenceMoneyState) {}

  /** The records of one op (none when it has nothing to act on). */
  recordsOf(op: Op): MoneyRecord[] {
    const at = T0 + this.tick * HOUR;
    const live = [...this.ref.live.keys()];
    const one = (): string | undefined => live[op.pick % Math.max(1, live.length)];
    const some = (): string[] => live.filter((_id, i) => (op.pick >> i % 8) % 2 === 1 || i === op.pick % live.length);
    switch (op.kind) {
      case 'receipt':
      case 'badChain':
        return [this.receipt(op, op.kind === 'badChain')];
      case 'paid':
      case 'arrears':
      case 'payout':
      case 'release':
      case 'return':
      case 'countersign':
      case 'countersignRefused':
      case 'unknownId': {
        const id = op.kind === 'unknownId' ? `rcp_gone_${op.pick}` : one();
        if (id === undefined) return [];
        if (op.kind === 'paid' || op.kind === 'unknownId') return [{ t: 'paid', id, entryId: `e${op.pick}`, atMs: at }];
        if (op.kind === 'arrears') return [{ t: 'arrears', id, availableMicros: '0', atMs: at }];
        if (op.kind === 'payout') return [{ t: 'payout', id, farmer: 'f', amountMicros: String(op.pick), entryId: null, atMs: at }];
        if (op.kind === 'countersign') return [{ t: 'countersign', id, signature: `sig${op.pick}`, atMs: at }];
        if (op.kind === 'countersignRefused') return [{ t: 'countersign_refused', id, reason: 'no', atMs: at }];
        return [{ t: op.kind === 'release' ? 'escrow_release' : 'escrow_return', id, how: `how${op.pick}`, atMs: at }];
      }
      case 'paidBatch':
      case 'badPaidBatch': {
        const ids = [...some(), ...(op.pick % 5 === 0 ? [`rcp_gone_${op.pick}`] : [])];
        const entryIds = ids.map((id) => `e-${id}`);
        return [{ t: 'paid_batch', ids, entryIds: op.kind === 'badPaidBatch' ? entryIds.slice(1) : entryIds, atMs: at }];
      }
      case 'retry':
      case 'retryEnd':
        return [{ t: op.kind === 'retry' ? 'arrears_retry' : 'arrears_retry_end', ids: some(), atMs: at }];
      case 'mode':
        return [{ t: 'payout_mode', mode: 'batched', atMs: at }];
      case 'begin':
      case 'badBegin': {
        const owed = [...this.ref.owedPayout].filter((e) => e.payoutKey === undefined);
        const farmer = owed[op.pick % Math.max(1, owed.length)]?.receipt.farmer ?? FARMERS[0];
        const ids = owed.filter((e) => e.receipt.farmer === farmer).map((e) => e.receipt.id);
        // A bad batch names a receipt not owed (or one already batched), or reuses an open key.
        if (op.kind === 'badBegin' && op.pick % 2 === 0) ids.push(one() ?? 'rcp_none');
        const open = [...this.ref.openPayouts.keys()];
        const key = op.kind === 'badBegin' && op.pick % 2 === 1 && open.length > 0 ? (open[0] as string) : `batch:${++this.batches}`;
        return [{ t: 'payout_begin', key, farmer: farmer as string, unit: 'SPORE', amountMicros: String(op.pick), ids, atMs: at }];
      }
      case 'done':
      case 'refused': {
        const open = [...this.ref.openPayouts.keys()];
        const key = op.pick % 7 === 0 || open.length === 0 ? `batch:none${op.pick}` : (open[op.pick % open.length] as string);
        return [op.kind === 'done' ? { t: 'payout_done', key, entryId: null, atMs: at } : { t: 'payout_refused', key, reason: 'refused', atMs: at }];
      }
      case 'checkpoint':
      case 'checkpointBytes':
        return [];
    }
  }

  /** A receipt chained onto its deployment's last one (or, for a bad chain, onto another hash). */
  private receipt(op: Op, badChain: boolean): MoneyRecord {
    if (op.pick % 3 === 0) this.tick++;
    const periodStartMs = T0 + this.tick * HOUR;
    const iso = new Date(periodStartMs).toISOString();
    const deployment = DEPLOYMENTS[op.pick % DEPLOYMENTS.length] as string;
    const [amount, farmerShare] = AMOUNTS[(op.pick >> 3) % AMOUNTS.length] as readonly [string, string];
    const v = (op.pick >> 5) % 6 === 0 ? 1 : 2;
    const last = this.ref.deployments.get(deployment)?.lastHash ?? null;
    const n = this.receipts++;
    const receipt = {
      v,
      id: `rcp_${n}`,
      deployment,
      customer: CUSTOMERS[(op.pick >> 2) % CUSTOMERS.length],
      farmer: FARMERS[(op.pick >> 4) % FARMERS.length],
      periodStart: iso,
      periodEnd: new Date(periodStartMs + HOUR).toISOString(),
      upSeconds: 60 + (op.pick % 3540),
      amount,
      farmerShare,
      prev: badChain ? 'ff'.repeat(32) : last,
      ...((op.pick >> 7) % 3 === 0 ? { held: true } : {}),
    } as unknown as ReceiptBodyV2;
    return { t: 'receipt', receipt, periodStartMs, key: `k:${deployment}:${periodStartMs}`, hash: n.toString(16).padStart(64, '0'), ...(v === 2 ? { index: n } : {}) };
  }
}

const opArb: fc.Arbitrary<Op> = fc.record({ kind: fc.constantFrom(...KINDS), pick: fc.nat({ max: 4095 }) });

test('MoneyState answers as the reference model after any sequence of money records, refused ones and checkpoint round trips included', () => {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 120, size: 'max' }), (ops) => {
      const ref = new ReferenceMoneyState();
      let money = new MoneyState();
      const driver = new Driver(ref);
      let position = 0;
      for (const op of ops) {
        if (op.kind === 'checkpoint' || op.kind === 'checkpointBytes') {
          money = roundTrip(money, position, op.kind === 'checkpointBytes');
        }
        for (const r of driver.recordsOf(op)) {
          position++;
          const expected = apply(ref, r, position);
          assert.equal(apply(money, r, position), expected, `${r.t} is refused alike`);
        }
        assert.deepStrictEqual(view(money), view(ref), `after ${op.kind} ${op.pick}`);
      }
    }),
    { numRuns: 300 },
  );
});

test('the reference model is not trivially equal: a record it refuses changes nothing it answers, and a paid receipt moves between states', () => {
  const ref = new ReferenceMoneyState();
  const driver = new Driver(ref);
  const [r] = driver.recordsOf({ kind: 'receipt', pick: 160 });
  assert.equal(apply(ref, r as MoneyRecord, 1), null);
  const before = view(ref);
  assert.match(apply(ref, { t: 'payout_done', key: 'nope', entryId: null, atMs: T0 }, 2) ?? '', /was not begun/);
  assert.deepStrictEqual(view(ref), before);
  const id = [...ref.live.keys()][0] as string;
  assert.equal(apply(ref, { t: 'paid', id, entryId: 'e', atMs: T0 }, 3), null);
  assert.deepEqual((view(ref) as { byState: unknown }).byState, { issued: [], arrears: [], paid: [id], returned: [] });
  assert.deepEqual((view(ref) as { owedPayout: unknown }).owedPayout, [id]);
});

test('a checkpoint whose lists are not what its entries say does not fit (a start replays the log instead)', () => {
  const ref = new ReferenceMoneyState();
  const money = new MoneyState();
  const driver = new Driver(ref);
  let position = 0;
  const ops: Op[] = [
    { kind: 'receipt', pick: 160 },
    { kind: 'receipt', pick: 161 },
    { kind: 'receipt', pick: 162 },
  ];
  for (const op of ops) for (const r of driver.recordsOf(op)) assert.equal(apply(money, r, ++position), apply(ref, r, position));
  const [first] = [...money.live.keys()];
  for (const m of [money, ref]) assert.equal(apply(m, { t: 'paid', id: first as string, entryId: 'e', atMs: T0 }, position + 1), null);
  const good = decodeCheckpoint(encodeCheckpoint(openState(money, position + 1), { positions: true }));
  assert.ok(good && MoneyState.fits(good));
  assert.equal([...good.owedPayout].length, 1);
  // An owed receipt left out of owedPayout; a paid one listed as issued too; an entry not the live one.
  const owedLeftOut = { ...good, owedPayout: new Set<ReceiptEntry>() };
  const listedTwice = { ...good, byState: { ...good.byState, issued: new Set([...good.byState.issued, ...good.byState.paid]) } };
  const notLive = { ...good, byState: { ...good.byState, issued: new Set([...good.byState.issued].map((e) => ({ ...e }))) } };
  for (const bad of [owedLeftOut, listedTwice, notLive]) assert.equal(MoneyState.fits(bad), false);
});

test('thousands of receipts committed, paid in batches, put in arrears, returned and paid out in batches answer as the reference model (the lists compact on the way)', () => {
  const ref = new ReferenceMoneyState();
  let money = new MoneyState();
  const driver = new Driver(ref);
  let position = 0;
  const both = (records: MoneyRecord[]): void => {
    for (const r of records) {
      position++;
      assert.equal(apply(money, r, position), apply(ref, r, position), r.t);
    }
  };
  // The picks run over every amount, version and hold; a pick divisible by 3 starts a new period.
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 3000; i++) both(driver.recordsOf({ kind: 'receipt', pick: (i * 7 + round * 11) % 4096 }));
    const ids = [...ref.live.keys()];
    both(ids.filter((_id, i) => i % 11 === 0).map((id): MoneyRecord => ({ t: 'arrears', id, availableMicros: '0', atMs: T0 })));
    both(ids.filter((_id, i) => i % 13 === 0).map((id): MoneyRecord => ({ t: 'escrow_return', id, how: 'test', atMs: T0 })));
    if (round === 1) both([{ t: 'payout_mode', mode: 'batched', atMs: T0 }]);
    for (let i = 0; i < ids.length; i += 500) {
      const batch = ids.slice(i, i + 500).filter((_id, k) => k % 17 !== 0);
      both([{ t: 'paid_batch', ids: batch, entryIds: batch.map(() => null), atMs: T0 }]);
    }
    assert.deepStrictEqual(view(money), view(ref), `round ${round} paid`);
    const owed = [...ref.owedPayout].filter((e) => e.payoutKey === undefined);
    for (const farmer of FARMERS) {
      const mine = owed.filter((e) => e.receipt.farmer === farmer).map((e) => e.receipt.id);
      const key = `batch:${round}:${farmer}`;
      both([
        { t: 'payout_begin', key, farmer, unit: 'SPORE', amountMicros: '1', ids: mine, atMs: T0 },
        farmer === FARMERS[0] || round === 2 ? { t: 'payout_done', key, entryId: null, atMs: T0 } : { t: 'payout_refused', key, reason: 'no', atMs: T0 },
      ]);
    }
    both([...ref.owedPayout].filter((_e, i) => i % 2 === 0).map((e): MoneyRecord => ({ t: 'payout', id: e.receipt.id, farmer: e.receipt.farmer, amountMicros: e.farmerShareMicros.toString(), entryId: null, atMs: T0 })));
    assert.deepStrictEqual(view(money), view(ref), `round ${round} paid out`);
    money = roundTrip(money, position, round % 2 === 0);
  }
  assert.ok(ref.receiptCount > 8000 && ref.live.size < ref.receiptCount / 2, `${ref.live.size} of ${ref.receiptCount} live`);
  for (const s of STATES) assert.ok(money.byState[s].slots <= 2 * money.byState[s].size + SLACK);
});
