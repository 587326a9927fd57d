// The money log's checkpoint on PostgreSQL (a real server): a start reads the checkpoint row (format 2, its parts) and only the rows after it, and reopens to the state a full replay builds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { ReceiptLog } from '../../src/gateway/billing/receipt-log.js';
import type { MoneyRecord } from '../../src/gateway/billing/money-record.js';
import { encodeCheckpoint, namedPositions } from '../../src/gateway/billing/money-checkpoint.js';
import { migrateSchema } from '../../src/gateway/store/postgres/migrate-schema.js';
import { MIGRATIONS } from '../../src/gateway/store/postgres/migrations/index.js';
import { PgDatabase } from '../../src/gateway/store/postgres/pg-database.js';
import { readCheckpoint } from '../../src/gateway/store/postgres/pg-money-checkpoint.js';
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

/** Asserts that a start resumes from the stored checkpoint and builds exactly `expected` (the full replay's state). */
async function assertResumesTo(url: string, expected: unknown): Promise<void> {
  const reopened = await open(url);
  assert.equal(reopened.log.fromCheckpoint(), true);
  assert.deepEqual(await openStateOf(reopened.log, false), expected);
  await closeOpened(reopened);
}

/** The checkpoint row as stored (format 1 in `state`, or format 2 in `body` with `parts`), and the part rows it needs. */
interface CheckpointRow {
  seq: string;
  tip: string;
  state: string | null;
  body: Buffer | null;
  parts: unknown;
  partRows: Array<{ name: string; bytes: Buffer }>;
}

async function checkpointRow(url: string): Promise<CheckpointRow | undefined> {
  const [row] = await sql<Omit<CheckpointRow, 'partRows'>>(url, 'SELECT seq::text, tip, state, body, parts FROM money_checkpoint');
  if (!row) return undefined;
  return { ...row, partRows: await sql<{ name: string; bytes: Buffer }>(url, 'SELECT name, bytes FROM money_checkpoint_part') };
}

/** Puts a checkpoint row (and its part rows) back as it was kept. */
async function putCheckpointRow(url: string, row: CheckpointRow): Promise<void> {
  await sql(url, 'UPDATE money_checkpoint SET seq = $1, tip = $2, state = $3, body = $4, parts = $5::jsonb', [row.seq, row.tip, row.state, row.body, row.parts === null ? null : JSON.stringify(row.parts)]);
  for (const p of row.partRows) await sql(url, 'INSERT INTO money_checkpoint_part (name, bytes) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [p.name, p.bytes]);
}

/** The part rows: name, the transaction that last wrote each (xmin), and size. */
async function partRows(url: string): Promise<Map<string, string>> {
  return new Map((await sql<{ name: string; xmin: string }>(url, 'SELECT name, xmin::text FROM money_checkpoint_part')).map((r) => [r.name, r.xmin]));
}

/** The part names the checkpoint row's references give. */
async function namedParts(url: string): Promise<string[]> {
  const [row] = await sql<{ parts: Array<{ name: string }> | null }>(url, 'SELECT parts FROM money_checkpoint');
  return (row?.parts ?? []).map((p) => p.name);
}

/** Writes a seeded random history with a checkpoint every `every` records; answers the checkpoint row (with its parts) after step `keepAt`. */
async function writeHistory(url: string, seed: number, steps: number, every: number, keepAt: number): Promise<CheckpointRow | undefined> {
  const db = await PgDatabase.open({ url });
  const log = (await ReceiptLog.over((replay, restore) => PgMoneyStore.open(db, replay, restore), { checkpointEvery: every })).receipts;
  const history = new MoneyHistory(log);
  const random = new SeededRandom(seed);
  let kept: CheckpointRow | undefined;
  for (let i = 0; i < steps; i++) {
    const op: MoneyOp = { kind: i % 3 === 0 ? 'close' : (OP_KINDS[random.int(0, OP_KINDS.length - 1)] as MoneyOp['kind']), pick: random.int(0, 1000) };
    await history.step(op);
    if (i === keepAt) kept = await checkpointRow(url);
  }
  log.close();
  await db.close();
  return kept;
}

/** Appends `ops` through a log opened from the checkpoint, with a checkpoint due at every append. */
async function steps(url: string, ops: MoneyOp[]): Promise<void> {
  const db = await PgDatabase.open({ url });
  const log = (await ReceiptLog.over((replay, restore) => PgMoneyStore.open(db, replay, restore), { checkpointEvery: 1 })).receipts;
  const history = new MoneyHistory(log);
  for (const op of ops) await history.step(op);
  log.close();
  await db.close();
}

/** The state a full replay of every row builds. */
async function fullState(url: string): Promise<{ state: unknown; replayed: number }> {
  const full = await open(url, true);
  const state = await openStateOf(full.log, false);
  await closeOpened(full);
  return { state, replayed: full.replayed };
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

  const row = await checkpointRow(url);
  assert.ok(row && row.state === null && row.body !== null, 'the checkpoint row holds format 2 bytes, no text');
  assert.equal(row.body.toString('utf8', 65, row.body.indexOf(0x0a, 65)).includes('"format":2'), true);
  const parts = await namedParts(url);
  assert.ok(parts.length > 0, "the kept trees' leaves are parts");
  assert.deepEqual([...(await partRows(url)).keys()].sort(), [...new Set(parts)].sort(), 'the part rows are exactly those the checkpoint names');

  const fromCheckpoint = await open(url);
  assert.equal(fromCheckpoint.log.fromCheckpoint(), true);
  assert.equal(fromCheckpoint.replayed, Number(after), 'only the rows after the checkpoint are replayed');
  assert.equal(fromCheckpoint.rowsRead.get('money_log.open'), Number(after) + 1, 'the open read the checkpoint row and the tail, nothing more');
  // Besides: the body (one slice), each part it names, and each live receipt it names by position; nothing else.
  const atPositions = namedPositions(row.body);
  assert.ok(atPositions.length > 0, 'live receipts are named by their position in the log');
  assert.equal(fromCheckpoint.rowsRead.get('money_log.checkpoint'), 1 + new Set(parts).size + atPositions.length);
  // Read in slices of 1,000 bytes (a body past one slice, as at a million deployments): the same bytes.
  const whole = await readCheckpoint(fromCheckpoint.db);
  const sliced = await readCheckpoint(fromCheckpoint.db, 1000);
  assert.ok(whole && sliced && row.body.length > 3000);
  assert.deepEqual(sliced.checkpoint, whole.checkpoint);
  assert.deepEqual(await openStateOf(fromCheckpoint.log, false), expected);
  assert.ok((fromCheckpoint.rowsRead.get('money_log.positions') ?? 0) > 0, "a deployment's older receipts were found through the index");
  await closeOpened(fromCheckpoint);

  // A stale checkpoint (an older row, its parts put back): used, a longer tail replayed, the same state.
  assert.ok(stale && stale.seq !== seq, 'a checkpoint was written by step 30, and newer ones after it');
  await putCheckpointRow(url, stale);
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
  const row = await checkpointRow(a);
  assert.ok(row);
  await putCheckpointRow(b, row);
  const mixed = await open(b);
  assert.equal(mixed.log.fromCheckpoint(), false);
  assert.deepEqual(await openStateOf(mixed.log, false), expected);
  await closeOpened(mixed);

  await writeHistory(b, 3, 6, 1, -1);
  const after = await open(b, true);
  const expectedAfter = await openStateOf(after.log, false);
  await closeOpened(after);
  // One byte of the JSON part changed (its digest no longer matches).
  await sql(b, 'UPDATE money_checkpoint SET body = set_byte(body, 100, (get_byte(body, 100) + 1) % 256)');
  const damaged = await open(b);
  assert.equal(damaged.log.fromCheckpoint(), false);
  assert.deepEqual(await openStateOf(damaged.log, false), expectedAfter);
  await closeOpened(damaged);
});

test('PostgreSQL: a close cut short, a restart, and the period closed again: the append succeeds and the checkpoint after it reopens to the full replay', { skip: PG_SKIP }, async () => {
  const url = await freshDatabase();
  await steps(url, [{ kind: 'close', pick: 1 }, { kind: 'pay', pick: 1 }, { kind: 'cut', pick: 2 }]);
  // The restart replays the cut close's receipts (left out); its first append closes that period again and retires them.
  await steps(url, [{ kind: 'close', pick: 2 }, { kind: 'pay', pick: 3 }]);
  const [{ abandoned }] = (await sql<{ abandoned: string }>(url, 'SELECT count(*)::text AS abandoned FROM money_log WHERE abandoned')) as [{ abandoned: string }];
  assert.ok(Number(abandoned) > 0, 'the cut close was retired');
  const full = await open(url, true);
  const expected = await openStateOf(full.log, false);
  await closeOpened(full);
  await assertResumesTo(url, expected);
});

test('PostgreSQL: each part is written once (a later checkpoint, or one after a restart, leaves an unchanged part alone) and deleted once no checkpoint names it', { skip: PG_SKIP }, async () => {
  const url = await freshDatabase();
  await steps(url, [0, 1, 2, 3].map((pick) => ({ kind: 'close', pick })));
  const first = await partRows(url);
  assert.equal(first.size, 3, "the checkpoint before the fourth close names the first three trees' leaves");
  const [{ xmin: rowBefore }] = (await sql<{ xmin: string }>(url, 'SELECT xmin::text FROM money_checkpoint')) as [{ xmin: string }];

  // After a restart (the open verified these parts through the checkpoint's digest) two more closes: two new parts, the old ones untouched.
  await steps(url, [4, 5].map((pick) => ({ kind: 'close', pick })));
  const second = await partRows(url);
  const [{ xmin: rowAfter }] = (await sql<{ xmin: string }>(url, 'SELECT xmin::text FROM money_checkpoint')) as [{ xmin: string }];
  assert.notEqual(rowAfter, rowBefore, 'the checkpoint row was written again');
  assert.equal(second.size, 5);
  for (const [name, xmin] of first) assert.equal(second.get(name), xmin, `part ${name} was not written again`);

  // Closes past TREES_KEPT: the first trees leave the checkpoint, and their part rows go with it.
  await steps(url, [6, 7, 8, 9, 10, 11].map((pick) => ({ kind: 'close', pick })));
  const third = await partRows(url);
  const named = await namedParts(url);
  assert.deepEqual([...third.keys()].sort(), [...new Set(named)].sort(), 'the part rows are exactly those the checkpoint names');
  for (const name of first.keys()) assert.equal(third.has(name), false, `part ${name} of a tree no longer kept was deleted`);
  const expected = await fullState(url);
  await assertResumesTo(url, expected.state);
});

test('PostgreSQL: a tampered part or body is caught by the digest (every row replayed, the same state), and a damaged part is written again, not named twice', { skip: PG_SKIP }, async () => {
  const url = await freshDatabase();
  await writeHistory(url, testSeed(), 30, 1, -1);
  const expected = await fullState(url);
  const [name] = await namedParts(url);
  assert.ok(name !== undefined);
  // One byte of one part flipped: same name, same length.
  await sql(url, 'UPDATE money_checkpoint_part SET bytes = set_byte(bytes, 5, (get_byte(bytes, 5) + 1) % 256) WHERE name = $1', [name]);
  const tampered = await open(url);
  assert.equal(tampered.log.fromCheckpoint(), false, 'a part whose bytes changed is not used');
  assert.equal(tampered.replayed, expected.replayed);
  assert.deepEqual(await openStateOf(tampered.log, false), expected.state);
  await closeOpened(tampered);

  // The next checkpoint (this process never verified that part) writes the part's true bytes over the damaged ones.
  await steps(url, [{ kind: 'pay', pick: 1 }, { kind: 'close', pick: 2 }]);
  const afterRepair = await fullState(url);
  const repaired = await open(url);
  assert.equal(repaired.log.fromCheckpoint(), true, 'the damaged part was written again');
  assert.deepEqual(await openStateOf(repaired.log, false), afterRepair.state);
  await closeOpened(repaired);

  // A part of another length, and a byte of the body's binary sections.
  await sql(url, "UPDATE money_checkpoint_part SET bytes = bytes || '\\x00'::bytea WHERE name = $1", [(await namedParts(url))[0]]);
  const longer = await open(url);
  assert.equal(longer.log.fromCheckpoint(), false);
  assert.deepEqual(await openStateOf(longer.log, false), afterRepair.state);
  await closeOpened(longer);
  await steps(url, [{ kind: 'close', pick: 3 }]);
  const afterBody = await fullState(url);
  await sql(url, 'UPDATE money_checkpoint SET body = set_byte(body, octet_length(body) - 3, (get_byte(body, octet_length(body) - 3) + 1) % 256)');
  const body = await open(url);
  assert.equal(body.log.fromCheckpoint(), false);
  assert.equal(body.replayed, afterBody.replayed);
  assert.deepEqual(await openStateOf(body.log, false), afterBody.state);
  await closeOpened(body);
});

test('PostgreSQL: a database of the older build (schema 5, a format 1 checkpoint row) resumes from that row after the upgrade, and the next checkpoint is format 2', { skip: PG_SKIP }, async () => {
  // The history, written elsewhere without checkpoints, and the format 1 text the older build wrote of it.
  const source = await freshDatabase();
  await writeHistory(source, testSeed(), 40, 0, -1);
  const rows = await sql<{ seq: string; kind: string; deployment: string | null; period_start_ms: string | null; abandoned: boolean; record: MoneyRecord }>(source, 'SELECT seq::text, kind, deployment, period_start_ms::text, abandoned, record FROM money_log ORDER BY seq');
  const full = await open(source, true);
  const expected = await openStateOf(full.log, false);
  const text = encodeCheckpoint(full.log.openState(), { positions: false });
  const last = full.log.openState().position;
  await closeOpened(full);

  const url = await freshDatabase();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await migrateSchema(client, MIGRATIONS.filter((m) => m.version <= 5));
    // The same rows at the same positions (seqs, where the state was taken).
    for (const r of rows) {
      await client.query('INSERT INTO money_log (seq, kind, deployment, period_start_ms, abandoned, record) OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6)', [r.seq, r.kind, r.deployment, r.period_start_ms, r.abandoned, JSON.stringify(r.record)]);
    }
    await client.query("SELECT setval(pg_get_serial_sequence('money_log', 'seq'), (SELECT max(seq) FROM money_log))");
    // The older build's statement (pg-money-store.ts before format 2).
    await client.query('INSERT INTO money_checkpoint (id, seq, tip, state) SELECT 1, seq, md5(record::text), $2 FROM money_log WHERE seq = $1 AND NOT abandoned', [String(last), text]);
  } finally {
    await client.end();
  }
  const upgraded = await open(url);
  assert.equal(upgraded.db.schema.applied.includes(6), true, 'the open applied migration 6');
  assert.equal(upgraded.log.fromCheckpoint(), true, 'the format 1 row was used');
  assert.equal(upgraded.replayed, 0);
  assert.deepEqual(await openStateOf(upgraded.log, false), expected);
  await closeOpened(upgraded);

  await steps(url, [{ kind: 'close', pick: 1 }, { kind: 'close', pick: 2 }]);
  const row = await checkpointRow(url);
  assert.ok(row && row.state === null && row.body !== null, 'the next checkpoint is format 2');
  const after = await fullState(url);
  await assertResumesTo(url, after.state);
});

test('PostgreSQL: an append killed inside its transaction (its backend terminated while it waits to write the checkpoint) leaves the log and the checkpoint before it, and a start from that checkpoint builds the full replay', { skip: PG_SKIP }, async () => {
  const url = await freshDatabase();
  await writeHistory(url, testSeed(), 24, 1, -1);
  const db = await PgDatabase.open({ url });
  const log = (await ReceiptLog.over((replay, restore) => PgMoneyStore.open(db, replay, restore), { checkpointEvery: 1 })).receipts;
  const history = new MoneyHistory(log);
  // The first append after an open carries no checkpoint (schedule.startAt); the second does.
  await history.step({ kind: 'close', pick: 6 });
  const before = await checkpointRow(url);
  const [{ rows: rowsBefore }] = (await sql<{ rows: string }>(url, 'SELECT count(*)::text AS rows FROM money_log')) as [{ rows: string }];
  // Another session holds the part table: the append's transaction, its records and checkpoint row written, waits there.
  const locker = new pg.Client({ connectionString: url });
  await locker.connect();
  await locker.query('BEGIN');
  await locker.query('LOCK TABLE money_checkpoint_part IN ACCESS EXCLUSIVE MODE');
  const append = history.step({ kind: 'close', pick: 7 }).then(
    () => null,
    (err: unknown) => err,
  );
  let waiting: string | undefined;
  for (let tries = 0; waiting === undefined; tries++) {
    assert.ok(tries < 1000, 'the append reached the part table (it waits on the lock)');
    [{ pid: waiting } = { pid: undefined }] = await sql<{ pid: string }>(url, "SELECT pid::text FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%money_checkpoint_part%'");
    if (waiting === undefined) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await sql(url, 'SELECT pg_terminate_backend($1::int)', [waiting]);
  assert.ok((await append) instanceof Error, 'the append failed');
  await locker.query('ROLLBACK');
  await locker.end();
  log.close();
  await db.close();

  const [{ rows: rowsAfter }] = (await sql<{ rows: string }>(url, 'SELECT count(*)::text AS rows FROM money_log')) as [{ rows: string }];
  assert.equal(rowsAfter, rowsBefore, 'none of its records stayed');
  const after = await checkpointRow(url);
  assert.deepEqual(after, before, 'the checkpoint row and its parts are as before');
  const expected = await fullState(url);
  await assertResumesTo(url, expected.state);
});
