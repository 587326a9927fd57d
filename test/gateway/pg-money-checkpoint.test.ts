// The money log's checkpoint on PostgreSQL (a real server): a start reads the checkpoint row and only the rows after it, and reopens to the state a full replay builds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReceiptLog } from '../../src/gateway/billing/receipt-log.js';
import type { MoneyRecord } from '../../src/gateway/billing/money-record.js';
import { PgDatabase } from '../../src/gateway/store/postgres/pg-database.js';
import { PgMoneyStore } from '../../src/gateway/store/postgres/pg-money-store.js';
import { MoneyHistory, OP_KINDS, openStateOf, type MoneyOp } from '../helpers/money-ops.js';
import { freshDatabase, sql } from '../helpers/pg-databases.js';
import { PG_SKIP } from '../helpers/postgres.js';
import { SeededRandom, testSeed } from '../helpers/seeded-random.js';

/** What one open read: its queries by name with the rows each answered, and the records replayed. */
interface Opened {
  log: ReceiptLog;
  db: PgDatabase;
  replayed: number;
  rowsRead: Map<string, number>;
}

/** Opens the money log over `url` as the gateway does (with the checkpoint), or replaying every row (`full`). */
async function open(url: string, full = false): Promise<Opened> {
  const db = await PgDatabase.open({ url });
  const rowsRead = new Map<string, number>();
  const query = db.query.bind(db);
  // Counts rows each named query answers: the test's window on what a start reads.
  db.query = async (what, text, values) => {
    const rows = await query(what, text, values);
    rowsRead.set(what, (rowsRead.get(what) ?? 0) + rows.length);
    return rows as never;
  };
  const opened: Opened = { log: null as unknown as ReceiptLog, db, replayed: 0, rowsRead };
  const replay = (r: MoneyRecord, p: number, into: (r: MoneyRecord, p: number) => void): void => {
    opened.replayed++;
    into(r, p);
  };
  opened.log = (await ReceiptLog.over((into, restore) => (full ? PgMoneyStore.open(db, (r, p) => replay(r, p, into)) : PgMoneyStore.open(db, (r, p) => replay(r, p, into), restore)), { checkpointEvery: 0 })).receipts;
  return opened;
}

async function closeOpened(o: Opened): Promise<void> {
  o.log.close();
  await o.db.close();
}

/** Writes a seeded random history with a checkpoint every `every` records; answers the checkpoint row after step `keepAt`. */
async function writeHistory(url: string, seed: number, steps: number, every: number, keepAt: number): Promise<{ seq: string; tip: string; state: string } | undefined> {
  const db = await PgDatabase.open({ url });
  const log = (await ReceiptLog.over((replay, restore) => PgMoneyStore.open(db, replay, restore), { checkpointEvery: every })).receipts;
  const history = new MoneyHistory(log);
  const random = new SeededRandom(seed);
  let kept: { seq: string; tip: string; state: string } | undefined;
  for (let i = 0; i < steps; i++) {
    const op: MoneyOp = { kind: i % 3 === 0 ? 'close' : (OP_KINDS[random.int(0, OP_KINDS.length - 1)] as MoneyOp['kind']), pick: random.int(0, 1000) };
    await history.step(op);
    if (i === keepAt) kept = (await sql<{ seq: string; tip: string; state: string }>(url, 'SELECT seq::text, tip, state FROM money_checkpoint'))[0];
  }
  log.close();
  await db.close();
  return kept;
}

test('PostgreSQL: a start reads the checkpoint row and only the rows after it, and reopens to the state a full replay builds', { skip: PG_SKIP }, async () => {
  const url = await freshDatabase();
  const stale = await writeHistory(url, testSeed(), 60, 7, 30);
  const [{ seq, total, after }] = (await sql<{ seq: string; total: string; after: string }>(url, 'SELECT c.seq::text, (SELECT count(*) FROM money_log)::text AS total, (SELECT count(*) FROM money_log m WHERE m.seq > c.seq AND NOT m.abandoned)::text AS after FROM money_checkpoint c')) as [{ seq: string; total: string; after: string }];
  assert.ok(Number(after) < 7 + 20, `the tail after the checkpoint is short (${after} of ${total} rows)`);

  const full = await open(url, true);
  const expected = await openStateOf(full.log, false);
  assert.equal(full.replayed > Number(after), true);
  await closeOpened(full);

  const fromCheckpoint = await open(url);
  assert.equal(fromCheckpoint.log.fromCheckpoint(), true);
  assert.equal(fromCheckpoint.replayed, Number(after), 'only the rows after the checkpoint are replayed');
  assert.equal(fromCheckpoint.rowsRead.get('money_log.open'), Number(after) + 1, 'the open read the checkpoint row and the tail, nothing more');
  assert.deepEqual(await openStateOf(fromCheckpoint.log, false), expected);
  assert.ok((fromCheckpoint.rowsRead.get('money_log.positions') ?? 0) > 0, "a deployment's older receipts were found through the index");
  await closeOpened(fromCheckpoint);

  // A stale checkpoint (an older row): used, a longer tail replayed, the same state.
  assert.ok(stale && stale.seq !== seq, 'a checkpoint was written by step 30, and newer ones after it');
  await sql(url, 'UPDATE money_checkpoint SET seq = $1, tip = $2, state = $3', [stale.seq, stale.tip, stale.state]);
  const fromStale = await open(url);
  assert.equal(fromStale.log.fromCheckpoint(), true);
  assert.ok(fromStale.replayed > Number(after));
  assert.deepEqual(await openStateOf(fromStale.log, false), expected);
  await closeOpened(fromStale);

  // A checkpoint whose row's record is not the one it names (another log's, or the log changed): refused, every row replayed.
  await sql(url, "UPDATE money_checkpoint SET tip = md5('another log')");
  const refused = await open(url);
  assert.equal(refused.log.fromCheckpoint(), false);
  assert.equal(refused.replayed, full.replayed);
  assert.deepEqual(await openStateOf(refused.log, false), expected);
  await closeOpened(refused);
});

test("PostgreSQL: another database's checkpoint is refused, and a damaged state is not used", { skip: PG_SKIP }, async () => {
  const a = await freshDatabase();
  const b = await freshDatabase();
  await writeHistory(a, 1, 30, 5, -1);
  await writeHistory(b, 2, 30, 5, -1);
  const full = await open(b, true);
  const expected = await openStateOf(full.log, false);
  await closeOpened(full);
  const [row] = await sql<{ seq: string; tip: string; state: string }>(a, 'SELECT seq::text, tip, state FROM money_checkpoint');
  assert.ok(row);
  await sql(b, 'UPDATE money_checkpoint SET seq = $1, tip = $2, state = $3', [row.seq, row.tip, row.state]);
  const mixed = await open(b);
  assert.equal(mixed.log.fromCheckpoint(), false);
  assert.deepEqual(await openStateOf(mixed.log, false), expected);
  await closeOpened(mixed);

  await writeHistory(b, 3, 6, 1, -1);
  const after = await open(b, true);
  const expectedAfter = await openStateOf(after.log, false);
  await closeOpened(after);
  await sql(b, "UPDATE money_checkpoint SET state = replace(state, '\"receiptCount\":', '\"receiptCount\":1')");
  const damaged = await open(b);
  assert.equal(damaged.log.fromCheckpoint(), false);
  assert.deepEqual(await openStateOf(damaged.log, false), expectedAfter);
  await closeOpened(damaged);
});

test('PostgreSQL: a close cut short, a restart, and the period closed again: the append succeeds and the checkpoint after it reopens to the full replay', { skip: PG_SKIP }, async () => {
  const url = await freshDatabase();
  const step = async (ops: MoneyOp[]): Promise<void> => {
    const db = await PgDatabase.open({ url });
    const log = (await ReceiptLog.over((replay, restore) => PgMoneyStore.open(db, replay, restore), { checkpointEvery: 1 })).receipts;
    const history = new MoneyHistory(log);
    for (const op of ops) await history.step(op);
    log.close();
    await db.close();
  };
  await step([{ kind: 'close', pick: 1 }, { kind: 'pay', pick: 1 }, { kind: 'cut', pick: 2 }]);
  // The restart replays the cut close's receipts (left out); its first append closes that period again and retires them.
  await step([{ kind: 'close', pick: 2 }, { kind: 'pay', pick: 3 }]);
  const [{ abandoned }] = (await sql<{ abandoned: string }>(url, 'SELECT count(*)::text AS abandoned FROM money_log WHERE abandoned')) as [{ abandoned: string }];
  assert.ok(Number(abandoned) > 0, 'the cut close was retired');
  const full = await open(url, true);
  const expected = await openStateOf(full.log, false);
  await closeOpened(full);
  const reopened = await open(url);
  assert.equal(reopened.log.fromCheckpoint(), true);
  assert.deepEqual(await openStateOf(reopened.log, false), expected);
  await closeOpened(reopened);
});
