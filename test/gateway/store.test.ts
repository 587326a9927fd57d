// The Store port on both backends (lowdb files, PostgreSQL) and the append-only log: durability, mode 0600, and loud refusal of damaged files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, chmodSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LowdbStore } from '../../src/gateway/store/lowdb-store.js';
import { AppendLog } from '../../src/gateway/store/append-log.js';
import { StoreError, type Store } from '../../src/gateway/store/store.js';
import type { LinkRecord } from '../../src/gateway/store/records.js';
import { scratchDir } from '../helpers/paths.js';
import { BACKENDS } from '../helpers/store-backends.js';

const link = (subnet: string): LinkRecord => ({ subnet, agent: 'uhCAkX', address: subnet.replace('::/64', '::1'), linkedAtMs: 1, nonce: 'n', statement: 's', signature: 'sig' });

for (const backend of BACKENDS) {
  test(`${backend.name}: writes are durable and survive a reopen; deletes say whether there was a row`, { skip: backend.skip }, async (t) => {
    const place = await backend.create();
    t.after(place.remove);
    const { store, close } = await place.open();
    await store.links.put('4a1::/64', link('4a1::/64'));
    await Promise.all([store.links.put('4a2::/64', link('4a2::/64')), store.meta.put('x', 1), store.meta.put('money', { amountMicros: '18446744073709551617' })]);
    await close();
    const again = await place.open();
    t.after(again.close);
    assert.deepEqual(again.store.links.values().map((l) => l.subnet).sort(), ['4a1::/64', '4a2::/64']);
    assert.equal(again.store.meta.get('x'), 1);
    assert.deepEqual(again.store.meta.get('money'), { amountMicros: '18446744073709551617' }, 'a bigint amount stays an exact decimal string');
    assert.equal(await again.store.links.delete('4a1::/64'), true);
    assert.equal(await again.store.links.delete('4a1::/64'), false);
    await again.store.flush();
  });

  test(`${backend.name}: a stored record is a copy, not an alias of the caller's object`, { skip: backend.skip }, async (t) => {
    const place = await backend.create();
    t.after(place.remove);
    const { store, close } = await place.open();
    t.after(close);
    const rec = { ...link('4a1::/64') } as { agent: string };
    await store.links.put('4a1::/64', rec as LinkRecord);
    rec.agent = 'changed';
    assert.equal(store.links.get('4a1::/64')?.agent, 'uhCAkX');
  });

  test(`${backend.name}: "__proto__", "constructor" and "toString" are ordinary keys; the table keeps working, across a reopen`, { skip: backend.skip }, async (t) => {
    const place = await backend.create();
    t.after(place.remove);
    const { store, close } = await place.open();
    assert.equal(store.links.get('constructor'), undefined, 'a key never stored reads as absent, even one Object.prototype has');
    assert.equal(store.links.get('toString'), undefined);
    assert.equal(await store.links.delete('toString'), false);
    await store.links.put('__proto__', link('4a9::/64'));
    await store.links.put('4a1::/64', link('4a1::/64'));
    await store.links.put('constructor', link('4a8::/64'));
    assert.equal(store.links.get('__proto__')?.subnet, '4a9::/64');
    assert.equal(store.links.get('constructor')?.subnet, '4a8::/64');
    assert.equal(store.links.size(), 3);
    assert.deepEqual(store.links.values().map((l) => l.subnet).sort(), ['4a1::/64', '4a8::/64', '4a9::/64']);
    assert.equal(store.links.get('subnet'), undefined, "the stored record did not become the table's prototype");
    await close();
    const again = await place.open();
    t.after(again.close);
    assert.equal(again.store.links.get('__proto__')?.subnet, '4a9::/64');
    assert.equal(again.store.links.size(), 3);
    assert.equal(again.store.links.get('subnet'), undefined);
    assert.equal(await again.store.links.delete('__proto__'), true);
    assert.equal(again.store.links.get('__proto__'), undefined);
    assert.equal(again.store.links.size(), 2);
  });

  test(`${backend.name}: the last write to a key in a tick wins, and a delete then a put keeps the put`, { skip: backend.skip }, async (t) => {
    const place = await backend.create();
    t.after(place.remove);
    const { store, close } = await place.open();
    await store.meta.put('k', 'first');
    const writes = [store.meta.put('k', 'second'), store.meta.delete('k'), store.meta.put('k', 'third'), store.meta.put('gone', 1), store.meta.delete('gone')];
    await Promise.all(writes);
    await close();
    const again = await place.open();
    t.after(again.close);
    assert.equal(again.store.meta.get('k'), 'third');
    assert.equal(again.store.meta.get('gone'), undefined);
  });
  test(`${backend.name}: a reopened store lists each table in the order the running one did (rows updated, deleted and put again)`, { skip: backend.skip }, async (t) => {
    const place = await backend.create();
    t.after(place.remove);
    const { store, close } = await place.open();
    const put = (k: string, v: number, padding = ''): Promise<void> => store.meta.put(k, { k, v, padding });
    for (const k of ['o1', 'o2', 'o3', 'o4']) await put(k, 1);
    // Updated rows keep their place (a grown row too); a row deleted and put again goes to the end, in one tick or in two.
    await put('o1', 2, 'x'.repeat(3000));
    await put('o2', 2);
    await Promise.all([store.meta.delete('o3'), put('o5', 1), put('o3', 2)]);
    await store.meta.delete('o2');
    await put('o2', 3);
    await Promise.all([put('o7', 1), put('o6', 1), put('o1', 3)]);
    const keys = (s: Store): string[] => s.meta.values().map((r) => (r as { k: string }).k);
    assert.deepEqual(keys(store), ['o1', 'o4', 'o5', 'o3', 'o2', 'o7', 'o6']);
    const before = store.meta.values();
    await close();
    const again = await place.open();
    t.after(again.close);
    assert.deepEqual(keys(again.store), ['o1', 'o4', 'o5', 'o3', 'o2', 'o7', 'o6']);
    assert.deepEqual(again.store.meta.values(), before);
  });
}

test('LowdbStore: no temporary files are left beside db.json', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const store = await LowdbStore.open(dir);
  await Promise.all([store.links.put('4a2::/64', link('4a2::/64')), store.meta.put('x', 1)]);
  assert.equal(statSync(join(dir, 'db.json')).mode & 0o777, 0o600);
  await store.close();
  assert.deepEqual(readdirSync(dir), ['db.json'], 'no temporary files left');
});

test('LowdbStore: a truncated, empty, non-JSON, wrong-version or world-readable file stops the open; it is never reset', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const store = await LowdbStore.open(dir);
  await store.links.put('4a1::/64', link('4a1::/64'));
  await store.close();
  const path = join(dir, 'db.json');
  const good = readFileSync(path, 'utf8');
  const cases: Array<[string, string, string]> = [
    ['truncated', good.slice(0, good.length - 7), 'corrupt'],
    ['empty', '', 'corrupt'],
    ['not json', 'hello', 'corrupt'],
    ['an array', '[]', 'corrupt'],
    ['other version', JSON.stringify({ ...JSON.parse(good), version: 99 }), 'version'],
    ['missing table', JSON.stringify({ version: 1, links: {} }), 'corrupt'],
  ];
  for (const [name, text, problem] of cases) {
    writeFileSync(path, text, { mode: 0o600 });
    await assert.rejects(LowdbStore.open(dir), (e: unknown) => e instanceof StoreError && e.problem === problem, name);
    assert.equal(readFileSync(path, 'utf8'), text, `${name}: the damaged file is left as it was`);
  }
  writeFileSync(path, good, { mode: 0o600 });
  chmodSync(path, 0o644);
  await assert.rejects(LowdbStore.open(dir), (e: unknown) => e instanceof StoreError && e.problem === 'permissions');
});

test('AppendLog: records come back in order across reopen, mode 0600, one fsync per batch', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'r.log');
  const { log, records } = AppendLog.open<{ i: number }>(path);
  assert.deepEqual(records, []);
  await Promise.all([log.append({ i: 1 }), log.append({ i: 2 }, { i: 3 })]);
  log.appendSync({ i: 4 });
  log.close();
  assert.equal(statSync(path).mode & 0o777, 0o600);
  const again = AppendLog.open<{ i: number }>(path);
  assert.deepEqual(again.records.map((r) => r.i), [1, 2, 3, 4]);
  assert.equal(again.tornBytes, 0);
  await again.log.append({ i: 5 });
  again.log.close();
  assert.equal(AppendLog.open<{ i: number }>(path).records.length, 5);
});

test('AppendLog: records with non-ASCII text and every JSON type come back exactly, by open and by read', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'r.log');
  const written = [{ detail: 'head 3f2a9c… ≠ ours — naïve ✓ 🍄' }, { n: 0, f: false, z: null, a: [1, 'two', { three: 3 }] }, { s: '"quoted" \\ back\nslash' }];
  const { log } = AppendLog.open<unknown>(path);
  await log.append(...written);
  log.close();
  assert.deepEqual(AppendLog.open<unknown>(path).records, written);
  assert.deepEqual(AppendLog.read<unknown>(path), written);
});

test('AppendLog: an unfinished last line (a crash mid-write) is moved aside and reported, not dropped silently', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'r.log');
  const { log } = AppendLog.open<{ i: number }>(path);
  await log.append({ i: 1 }, { i: 2 });
  log.close();
  appendFileSync(path, '{"n":3,"h":"abc","r":{"i":');
  const reopened = AppendLog.open<{ i: number }>(path);
  assert.deepEqual(reopened.records.map((r) => r.i), [1, 2]);
  assert.ok(reopened.tornBytes > 0);
  const side = readdirSync(dir).find((f) => f.startsWith('r.log.torn-'));
  assert.ok(side, 'the torn bytes are kept in a side file');
  assert.equal(readFileSync(join(dir, side), 'utf8'), '{"n":3,"h":"abc","r":{"i":');
  await reopened.log.append({ i: 3 });
  reopened.log.close();
  assert.deepEqual(AppendLog.open<{ i: number }>(path).records.map((r) => r.i), [1, 2, 3]);
});

test('AppendLog: a changed, dropped or reordered line anywhere stops the open', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'r.log');
  const { log } = AppendLog.open<{ amount: string }>(path);
  await log.append({ amount: '1.000000' }, { amount: '2.000000' }, { amount: '3.000000' });
  log.close();
  // Three record lines and the batch's seal line (it is kept in every case: a log cut before a seal is an unfinished write).
  const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean);
  const seal = lines[3] as string;
  const cases: Array<[string, string[]]> = [
    ['a changed amount', [lines[0] as string, (lines[1] as string).replace('2.000000', '9.000000'), lines[2] as string]],
    ['a dropped line', [lines[0] as string, lines[2] as string]],
    ['reordered lines', [lines[1] as string, lines[0] as string, lines[2] as string]],
    ['garbage', [lines[0] as string, 'not json', lines[2] as string]],
    ['white space added inside a record (same JSON value, other bytes)', [lines[0] as string, (lines[1] as string).replace('"amount":', '"amount": '), lines[2] as string]],
    ['a line re-serialised in another key order', [lines[0] as string, JSON.stringify(reorderKeys(JSON.parse(lines[1] as string) as Record<string, unknown>)), lines[2] as string]],
  ];
  for (const [name, content] of cases) {
    writeFileSync(path, [...content, seal].join('\n') + '\n', { mode: 0o600 });
    assert.throws(() => AppendLog.open(path), (e: unknown) => e instanceof StoreError && e.problem === 'corrupt', name);
  }
});

/** The same object with its keys in reverse order. */
function reorderKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).reverse());
}

test('AppendLog: each appended line\'s offset reads that record back, and a range is read in chunks across line and chunk boundaries', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'offsets.log');
  const { log } = AppendLog.open<{ i: number; pad: string }>(path);
  // ~3 MiB of lines (over the 1 MiB read chunk), one of them longer than the first read of a line (4 KiB), with non-ASCII text.
  const records = Array.from({ length: 3000 }, (_, i) => ({ i, pad: (i === 1500 ? 'é'.repeat(9000) : 'x'.repeat(900 + (i % 97))) }));
  const offsets = [...(await log.append(...records.slice(0, 1000))), ...(await log.append(...records.slice(1000)))];
  assert.deepEqual(log.readAt([offsets[2999] as number, offsets[0] as number, offsets[1500] as number]), [records[2999], records[0], records[1500]]);
  const seen: Array<{ i: number; offset: number }> = [];
  log.readRange(offsets[10] as number, offsets[2990] as number, (r, offset) => seen.push({ i: r.i, offset }));
  assert.deepEqual(seen.map((x) => x.i), Array.from({ length: 2981 }, (_, k) => k + 10));
  assert.deepEqual(seen.map((x) => x.offset), offsets.slice(10, 2991));
  assert.throws(() => log.readAt([(offsets[5] as number) + 3]), /not in the form this log writes/, 'an offset inside a line is refused');
  log.close();
  // The visitor at open gets the same offsets.
  const visited: number[] = [];
  const reopened = AppendLog.open<{ i: number; pad: string }>(path, { visit: (_r, offset) => visited.push(offset) });
  reopened.log.close();
  assert.deepEqual(visited, offsets);
  assert.deepEqual(reopened.records, [], 'a visitor keeps nothing');
});
