// The PostgreSQL backend on a real server: migrations, the write fence, the logs as tables, redaction, and durability across a server stop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { pino } from 'pino';
import type pg from 'pg';
import { PgDatabase } from '../../src/gateway/store/postgres/pg-database.js';
import { PgStore } from '../../src/gateway/store/postgres/pg-store.js';
import { migrateSchema } from '../../src/gateway/store/postgres/migrate-schema.js';
import { MIGRATIONS } from '../../src/gateway/store/postgres/migrations/index.js';
import { loadEvents, loadLedgerJournal, loadOrderArchive } from '../../src/gateway/store/postgres/pg-logs.js';
import { PgMoneyStore } from '../../src/gateway/store/postgres/pg-money-store.js';
import { openStorage } from '../../src/gateway/store/open-storage.js';
import { StoreError } from '../../src/gateway/store/store.js';
import { FencedError, type WriteFence } from '../../src/gateway/store/write-fence.js';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import type { MoneyRecord } from '../../src/gateway/billing/receipt-log.js';
import type { TimelineEvent } from '../../src/gateway/events/event-log.js';
import type { OrderRecord } from '../../src/gateway/store/records.js';
import { startPostgres } from '../../src/lab/postgres-server.js';
import { PG_SKIP, startTestPostgres } from '../helpers/postgres.js';
import { freshDatabase, sql } from '../helpers/pg-databases.js';
import { scratchDir } from '../helpers/paths.js';

/** The schema version this code brings a database to. */
const NEWEST = Math.max(...MIGRATIONS.map((m) => m.version));

/** A fence that refuses every write, as the lease-backed fence does once another gateway holds the lease. */
class RefusingFence implements WriteFence<pg.PoolClient> {
  calls = 0;
  check(): Promise<void> {
    this.calls++;
    return Promise.reject(new FencedError('fence: the lease is held by another gateway'));
  }
}

/** A receipt record as the money log stores it (only the fields the table indexes matter here). */
const receiptRecord = (deployment: string, periodStartMs: number, id: string, v: 1 | 2 = 2): MoneyRecord =>
  ({ t: 'receipt', receipt: { v, id, deployment, amount: '1.000000', farmerShare: '0.900000' }, periodStartMs, key: `${deployment}:${periodStartMs}`, index: 0 }) as unknown as MoneyRecord;

test('migrations: a fresh database gets every table; a second open applies nothing; two gateways migrating at once apply each step once', { skip: PG_SKIP }, async () => {
  const url = await freshDatabase();
  const [a, b] = await Promise.all([PgDatabase.open({ url }), PgDatabase.open({ url })]);
  assert.deepEqual([...a.schema.applied, ...b.schema.applied], MIGRATIONS.map((m) => m.version), 'exactly one of the two applied each migration');
  assert.equal(a.schema.version, NEWEST);
  assert.equal(b.schema.version, NEWEST);
  await Promise.all([a.close(), b.close()]);
  const again = await PgDatabase.open({ url });
  assert.deepEqual(again.schema.applied, []);
  await again.close();
  const tables = (await sql<{ t: string }>(url, "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1")).map((r) => r.t);
  assert.deepEqual(tables, ['agents', 'chains', 'deployments', 'events', 'hypha_lease', 'ledger_journal', 'links', 'meta', 'money_checkpoint', 'money_checkpoint_part', 'money_log', 'order_archive', 'orders', 'requests', 'schema_migrations']);
  assert.deepEqual(await sql(url, 'SELECT version, name FROM schema_migrations ORDER BY version'), MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
});

test('migrations: a schema newer than this code knows is refused with a clear StoreError, and left alone', { skip: PG_SKIP }, async () => {
  const url = await freshDatabase();
  await (await PgDatabase.open({ url })).close();
  await sql(url, "INSERT INTO schema_migrations (version, name) VALUES (7, 'from-the-future')");
  await assert.rejects(PgDatabase.open({ url }), (e: unknown) => e instanceof StoreError && e.problem === 'version' && new RegExp(`version 7.*up to ${NEWEST}`).test(e.message));
  assert.equal((await sql(url, 'SELECT * FROM schema_migrations')).length, MIGRATIONS.length + 1, 'nothing was changed');
});

test('migrations: a database made before rows kept their order gets them back, orders and deployments by creation', { skip: PG_SKIP }, async () => {
  const url = await freshDatabase();
  const pgLib = (await import('pg')).default;
  const client = new pgLib.Client({ connectionString: url });
  await client.connect();
  try {
    await migrateSchema(client, MIGRATIONS.filter((m) => m.version <= 2));
    // Written out of creation order, and the oldest updated last (its row moves to the table's end).
    for (const [key, createdAtMs] of [['ord_b', 2000], ['ord_c', 3000], ['ord_a', 1000]] as const) {
      await client.query('INSERT INTO orders (key, value) VALUES ($1, $2)', [key, JSON.stringify({ id: key, createdAtMs })]);
    }
    await client.query(`UPDATE orders SET value = value || '{"state":"paid"}' WHERE key = 'ord_b'`);
  } finally {
    await client.end();
  }
  const db = await PgDatabase.open({ url });
  const store = await PgStore.open(db);
  assert.deepEqual(store.orders.values().map((o) => o.id), ['ord_a', 'ord_b', 'ord_c']);
  await store.orders.put('ord_d', { id: 'ord_d', createdAtMs: 4000 } as unknown as OrderRecord);
  await store.close();
  await db.close();
  const db2 = await PgDatabase.open({ url });
  const again = await PgStore.open(db2);
  assert.deepEqual(again.orders.values().map((o) => o.id), ['ord_a', 'ord_b', 'ord_c', 'ord_d'], 'a new order comes after the renumbered ones');
  await again.close();
  await db2.close();
});

test('migrations: a failing step rolls back whole, records nothing, and says which step', { skip: PG_SKIP }, async () => {
  const url = await freshDatabase();
  const pgLib = (await import('pg')).default;
  const client = new pgLib.Client({ connectionString: url });
  await client.connect();
  try {
    const steps = [{ version: 1, name: 'ok', sql: 'CREATE TABLE a (x int)' }, { version: 2, name: 'broken', sql: 'CREATE TABLE b (x int); SELECT nonsense FROM nowhere' }];
    await assert.rejects(migrateSchema(client, steps), (e: unknown) => e instanceof StoreError && /migration 2 \(broken\)/.test(e.message));
    const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
    assert.deepEqual(rows.map((r) => r.version), [1]);
    assert.equal((await client.query("SELECT 1 FROM information_schema.tables WHERE table_name = 'b'")).rowCount, 0, "step 2's table was rolled back");
  } finally {
    await client.end();
  }
});

test('the fence: a fence that refuses means nothing is written, the put and the append reject, and the store refuses later writes', { skip: PG_SKIP }, async () => {
  const url = await freshDatabase();
  const fence = new RefusingFence();
  const db = await PgDatabase.open({ url, fence });
  const store = await PgStore.open(db);
  await assert.rejects(store.meta.put('k', 1), FencedError);
  assert.ok(fence.calls >= 1);
  assert.throws(() => void store.meta.put('k2', 2), FencedError, 'a fenced store refuses at once');
  const money = await PgMoneyStore.open(db, () => undefined);
  await assert.rejects(money.append([receiptRecord('d1', 0, 'r1')]), FencedError);
  const events = await loadEvents(db, 10);
  await assert.rejects(events.log.append({ atMs: 1, event: 'order.created', detail: 'y' }), FencedError);
  await store.close();
  await db.close();
  for (const table of ['meta', 'money_log', 'events']) assert.deepEqual(await sql(url, `SELECT * FROM ${table}`), [], `${table} is empty`);
});

test('the fence is checked once per transaction, inside that transaction: what it does rolls back with a refused write', { skip: PG_SKIP }, async () => {
  const url = await freshDatabase();
  let calls = 0;
  const fence: WriteFence<pg.PoolClient> = {
    async check(client) {
      calls++;
      // A marker written by the fence on the connection it is given: it commits or rolls back with the write.
      await client.query("INSERT INTO events (record) VALUES (jsonb_build_object('fence', $1::int))", [calls]);
      if (calls === 2) throw new FencedError('fence: lease lost');
    },
  };
  const db = await PgDatabase.open({ url, fence });
  const store = await PgStore.open(db);
  await Promise.all([store.meta.put('a', 1), store.meta.put('b', 2), store.links.delete('none'), store.agents.put('x', { agent: 'x', state: 'pending', source: 'request', subnets: [], nodes: [] })]);
  assert.equal(calls, 1, 'writes of one tick share one transaction and one fence check');
  await assert.rejects(store.meta.put('c', 3), FencedError);
  await store.close();
  await db.close();
  assert.deepEqual((await sql<{ key: string }>(url, 'SELECT key FROM meta ORDER BY key')).map((r) => r.key), ['a', 'b']);
  assert.deepEqual((await sql<{ n: number }>(url, "SELECT (record->>'fence')::int AS n FROM events")).map((r) => r.n), [1], "the refusing check's own marker rolled back with the write");
});

test('logs: records come back in order; a batch that fails leaves nothing (no torn record); money receipts are unique per (deployment, period)', { skip: PG_SKIP }, async () => {
  const url = await freshDatabase();
  const db = await PgDatabase.open({ url });
  const money = await PgMoneyStore.open(db, () => undefined);
  const r1 = receiptRecord('d1', 0, 'r1', 1);
  const r2 = receiptRecord('d1', 3_600_000, 'r2', 1);
  const [p1, p23] = await Promise.all([money.append([r1]), money.append([r2, { t: 'paid', id: 'r1', entryId: 'e1', atMs: 5 }])]);
  await assert.rejects(money.append([{ t: 'paid', id: 'r2', entryId: 'e2', atMs: 6 }, receiptRecord('d1', 0, 'r1-again', 1)]), StoreError, 'a second receipt for (d1, period 0) is refused');
  // Each append answers its records' positions in array order, growing across appends: reading them back gives the records.
  const positions = [...p1, ...p23];
  assert.deepEqual(positions, [...positions].sort((a, b) => a - b), 'positions grow in call and array order');
  assert.equal(new Set(positions).size, 3);
  const named = (rs: MoneyRecord[]): string[] => rs.map((r) => (r.t === 'receipt' ? r.receipt.id : r.t));
  assert.deepEqual(named(await money.read([...positions].reverse())), ['paid', 'r2', 'r1'], 'read answers in the order asked');
  assert.deepEqual(named((await money.readRange(positions[0] as number, positions[2] as number)).map((e) => e.record)), ['r1', 'r2', 'paid']);
  const journal = await loadLedgerJournal(db);
  await journal.log.append({ type: 'fund', key: 'f1', customer: 'c', amountMicros: '18446744073709551617', unit: 'HOT', atMs: 1, entryId: 'e' });
  await db.close();

  const again = await PgDatabase.open({ url });
  const reread: MoneyRecord[] = [];
  await PgMoneyStore.open(again, (r) => reread.push(r));
  assert.deepEqual(reread.map((r) => (r.t === 'receipt' ? r.receipt.id : r.t)), ['r1', 'r2', 'paid'], 'the refused batch left neither of its records');
  const entries = [...(await loadLedgerJournal(again)).records];
  assert.equal(entries[0]?.amountMicros, '18446744073709551617', 'money stays an exact decimal string');
  await again.close();
});

test('logs: a close cut short before its tree head is abandoned when the period is closed again; the new receipts take the key', { skip: PG_SKIP }, async () => {
  const url = await freshDatabase();
  const db = await PgDatabase.open({ url });
  const money = await PgMoneyStore.open(db, () => undefined);
  await money.append([{ t: 'close_begin', periodStartMs: 0 }, receiptRecord('d1', 0, 'first-try')]);
  await money.append([{ t: 'close_begin', periodStartMs: 0 }, receiptRecord('d1', 0, 'second-try')]);
  await assert.rejects(money.append([receiptRecord('d1', 0, 'dup')]), StoreError, 'the committed try holds the key');
  await db.close();
  const rows = await sql<{ id: string; abandoned: boolean }>(url, "SELECT record->'receipt'->>'id' AS id, abandoned FROM money_log WHERE kind = 'receipt' ORDER BY seq");
  assert.deepEqual(rows, [{ id: 'first-try', abandoned: true }, { id: 'second-try', abandoned: false }], 'the abandoned receipt is kept, marked, never deleted');
  const again = await PgDatabase.open({ url });
  const replayed: MoneyRecord[] = [];
  await PgMoneyStore.open(again, (r) => replayed.push(r));
  assert.deepEqual(replayed.filter((r) => r.t === 'receipt').map((r) => (r as { receipt: { id: string } }).receipt.id), ['second-try']);
  await again.close();
});

test('logs: at open the timeline reads only its newest events, and the archive only each customer\'s newest orders', { skip: PG_SKIP }, async () => {
  const url = await freshDatabase();
  const db = await PgDatabase.open({ url });
  const events = await loadEvents(db, 10);
  const many: TimelineEvent[] = Array.from({ length: 250 }, (_, i) => ({ atMs: i, event: 'order.created', detail: `event ${i} — naïve ✓` }));
  await Promise.all(many.map((e) => events.log.append(e)));
  const archive = await loadOrderArchive(db, 2);
  const order = (id: string, customer: string, createdAtMs: number): OrderRecord => ({ id, customer, offer: 'o', name: 'n', sshKeys: [], pricePerHour: '1', deposit: '1', unit: 'HOT', state: 'expired', createdAtMs, expiresAtMs: 0, attempts: [] });
  await archive.log.append(order('a1', 'alice', 1), order('a2', 'alice', 2), order('a3', 'alice', 3), order('b1', 'bob', 1));
  await db.close();

  const again = await PgDatabase.open({ url });
  const newest = await loadEvents(again, 10);
  assert.deepEqual([...newest.records].map((e) => e.atMs), [240, 241, 242, 243, 244, 245, 246, 247, 248, 249]);
  assert.equal([...newest.records][9]?.detail, 'event 249 — naïve ✓');
  assert.equal(newest.log.count, 250);
  const kept = await loadOrderArchive(again, 2);
  assert.deepEqual([...kept.records].map((o) => o.id), ['a2', 'a3', 'b1']);
  assert.equal(kept.log.count, 4);
  await again.close();
});

test('config and logs: the database password is never logged, nor put in an error message', { skip: PG_SKIP }, async (t) => {
  const url = await freshDatabase();
  const withPassword = url.replace('postgresql://hypha@', 'postgresql://hypha:hunter2-s3cret@');
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, new Writable({ write: (chunk: Buffer, _e, done) => (lines.push(chunk.toString()), done()) }));
  const { dir, remove } = scratchDir();
  t.after(remove);
  const config = parseGatewayConfig({ dataDir: dir, store: { kind: 'postgres', url: withPassword } }, dir);
  const storage = await openStorage(config, log);
  await storage.store.meta.put('x', 1);
  await storage.close();
  const text = lines.join('');
  assert.match(text, /PostgreSQL at postgresql:\/\/hypha:\*\*\*@/, 'the log names the database, password masked');
  assert.doesNotMatch(text, /hunter2/);

  const unreachable = parseGatewayConfig({ dataDir: dir, store: { kind: 'postgres', url: 'postgresql://hypha:hunter2-s3cret@/nope?host=/nonexistent-socket-dir' } }, dir);
  await assert.rejects(openStorage(unreachable, log), (e: unknown) => e instanceof StoreError && /cannot connect to postgresql:\/\/hypha:\*\*\*@/.test(e.message) && !e.message.includes('hunter2'));
});

test('restart durability: the server stopped in the middle of writes; every acknowledged write is there after it restarts, and the store recovers by itself', { skip: PG_SKIP }, async (t) => {
  const server = await startTestPostgres(t);
  const db = await PgDatabase.open({ url: server.url });
  const store = await PgStore.open(db);
  const money = await PgMoneyStore.open(db, () => undefined);
  const acknowledged: number[] = [];
  const refused: number[] = [];
  const ackedReceipts: string[] = [];
  let stopped: Promise<void> | null = null;
  for (let i = 0; i < 400; i++) {
    if (i === 150) stopped = server.stop();
    const put = store.meta.put(`k${i}`, i).then(() => acknowledged.push(i), () => refused.push(i));
    const receipt = money.append([receiptRecord(`d${i}`, 0, `r${i}`, 1)]).then(() => ackedReceipts.push(`r${i}`), () => undefined);
    await Promise.all([put, receipt]);
  }
  await stopped;
  assert.ok(acknowledged.length >= 150, 'writes before the stop were acknowledged');
  assert.ok(refused.length > 0, 'writes after the stop were refused, not silently kept');
  const again = await startPostgres({ dir: join(server.dataDir, '..') });
  t.after(() => again.stop());
  // The same store, the server back: the next write carries the refused keys too (memory is not left ahead).
  await store.meta.put('after', 'restart');
  await store.close();
  await db.close().catch(() => undefined);
  const rows = await sql<{ key: string }>(again.url, 'SELECT key FROM meta');
  const keys = new Set(rows.map((r) => r.key));
  for (const i of acknowledged) assert.ok(keys.has(`k${i}`), `acknowledged write k${i} is durable`);
  for (const i of refused) assert.ok(keys.has(`k${i}`), `refused write k${i} was carried by the next successful write`);
  const stored = new Set((await sql<{ id: string }>(again.url, "SELECT record->'receipt'->>'id' AS id FROM money_log")).map((r) => r.id));
  for (const id of ackedReceipts) assert.ok(stored.has(id), `acknowledged receipt ${id} is durable`);
});
