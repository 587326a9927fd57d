// AppendLog's batch form: one hash (a seal line) per appended batch instead of one per line, read back exactly, cut safely, and tamper-evident like the per-line chain.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { blake2bChained, fromHex, toHex, utf8 } from '../../src/identity/index.js';
import { AppendLog } from '../../src/gateway/store/append-log.js';
import { StoreError } from '../../src/gateway/store/store.js';
import { scratchDir } from '../helpers/paths.js';

interface Rec {
  readonly i: number;
  readonly s: string;
}

/** Lines of the file, without their newlines. */
function linesOf(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').slice(0, -1);
}

test('AppendLog: a batch is its record lines and one seal; any mix of batches reopens to the same records, count, offsets and chain', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(fc.array(fc.record({ i: fc.integer(), s: fc.string({ unit: 'binary', maxLength: 40 }) }).map((r): Rec => ({ i: r.i, s: r.s })), { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 8 }), async (batches) => {
      const path = join(dir, `p${run++}.log`);
      const { log } = AppendLog.open<Rec>(path);
      const offsets: number[] = [];
      for (const batch of batches) offsets.push(...(await log.append(...batch)));
      log.close();
      const all = batches.flat();
      // A batch of one is one self-hashed line (as before batches); a batch of k > 1 is k lines and a seal.
      const expectedLines = batches.reduce((sum, b) => sum + (b.length === 1 ? 1 : b.length + 1), 0);
      assert.equal(linesOf(path).length, expectedLines);
      assert.equal(linesOf(path).filter((l) => l.startsWith('{"b":')).length, batches.filter((b) => b.length > 1).length);
      const visited: Array<{ r: Rec; offset: number }> = [];
      const reopened = AppendLog.open<Rec>(path, { visit: (r, offset) => visited.push({ r, offset }) });
      assert.deepEqual(visited.map((v) => v.r), all);
      assert.deepEqual(visited.map((v) => v.offset), offsets);
      assert.equal(reopened.log.count, all.length);
      assert.equal(reopened.tornBytes, 0);
      assert.deepEqual(reopened.log.readAt(offsets), all);
      // The chain goes on from the reopened head: one more batch and a single record reopen whole.
      await reopened.log.append({ i: -1, s: 'after' }, { i: -2, s: 'after' });
      await reopened.log.append({ i: -3, s: 'single' });
      reopened.log.close();
      assert.deepEqual(AppendLog.open<Rec>(path).records, [...all, { i: -1, s: 'after' }, { i: -2, s: 'after' }, { i: -3, s: 'single' }]);
      assert.deepEqual(AppendLog.read<Rec>(path).length, all.length + 3);
      rmSync(path);
    }),
    { numRuns: 60 },
  );
});

test('AppendLog: record lines whose seal never reached the disk (a crash mid-batch) are moved aside whole, at every cut', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'cut.log');
  const { log } = AppendLog.open<Rec>(path);
  await log.append({ i: 0, s: 'before' });
  await log.append({ i: 1, s: 'a' }, { i: 2, s: 'é 🍄' }, { i: 3, s: 'c' });
  log.close();
  const whole = readFileSync(path);
  const batchStart = whole.indexOf('\n') + 1;
  const sealStart = whole.lastIndexOf('{"b":');
  // Every cut from the batch's first byte to the seal's last: at line ends and inside lines.
  for (let cut = batchStart; cut < whole.length - 1; cut++) {
    writeFileSync(path, whole.subarray(0, cut), { mode: 0o600 });
    for (const f of readdirSync(dir).filter((x) => x.startsWith('cut.log.torn-'))) rmSync(join(dir, f));
    assert.deepEqual(AppendLog.read<Rec>(path), [{ i: 0, s: 'before' }], `read at cut ${cut}`);
    const reopened = AppendLog.open<Rec>(path);
    assert.deepEqual(reopened.records, [{ i: 0, s: 'before' }], `cut ${cut} (seal at ${sealStart})`);
    assert.equal(reopened.tornBytes, cut - batchStart, `cut ${cut}`);
    if (cut > batchStart) {
      const side = readdirSync(dir).find((x) => x.startsWith('cut.log.torn-'));
      assert.ok(side, `cut ${cut}: the unsealed lines are kept in a side file`);
      assert.deepEqual(readFileSync(join(dir, side)), whole.subarray(batchStart, cut));
    }
    assert.equal(statSync(path).size, batchStart);
    await reopened.log.append({ i: 9, s: 'x' }, { i: 10, s: 'y' });
    reopened.log.close();
    assert.deepEqual(AppendLog.open<Rec>(path).records.map((r) => r.i), [0, 9, 10], `cut ${cut}: appends go on after the cut`);
  }
});

test('AppendLog: any one byte changed in a sealed batch, its seal or the line after it stops the open', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'tamper.log');
  const { log } = AppendLog.open<Rec>(path);
  await log.append({ i: 0, s: 'before' });
  await log.append({ i: 1, s: 'one' }, { i: 2, s: 'naïve' }, { i: 3, s: 'three' });
  await log.append({ i: 4, s: 'after' }, { i: 5, s: 'after' });
  log.close();
  const whole = readFileSync(path);
  const from = whole.indexOf('\n') + 1;
  let checked = 0;
  for (let at = from; at < whole.length; at++) {
    if (whole[at] === 0x0a) continue;
    const changed = Buffer.from(whole);
    changed[at] = whole[at] === 0x31 ? 0x32 : 0x31;
    writeFileSync(path, changed, { mode: 0o600 });
    assert.throws(() => AppendLog.open(path), (e: unknown) => e instanceof StoreError && e.problem === 'corrupt', `byte ${at} (${String.fromCharCode(whole[at] as number)})`);
    checked++;
  }
  assert.ok(checked > 150);
});

test('AppendLog: a log written line by line by the earlier writer opens, reads back by offset, and batches continue its chain', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'old.log');
  // The earlier writer (append-log.ts before batches): every line `{"n":…,"h":…,"r":…}`, h = blake2b-128(previous h ‖ record JSON).
  let head = '0'.repeat(32);
  const old = [{ i: 1, s: 'x' }, { i: 2, s: '✓' }, { i: 3, s: 'z' }];
  const lines = old.map((r, k) => {
    const text = JSON.stringify(r);
    head = toHex(blake2bChained(fromHex('head', head, 16), utf8(text), 16));
    return `{"n":${k + 1},"h":"${head}","r":${text}}\n`;
  });
  writeFileSync(path, lines.join(''), { mode: 0o600 });
  const opened = AppendLog.open<Rec>(path);
  assert.deepEqual(opened.records, old);
  const second = Buffer.byteLength(lines[0] as string);
  assert.deepEqual(opened.log.readAt([second]), [old[1]]);
  await opened.log.append({ i: 4, s: 'b' }, { i: 5, s: 'b' });
  await opened.log.append({ i: 6, s: 's' });
  opened.log.close();
  assert.deepEqual(AppendLog.open<Rec>(path).records.map((r) => r.i), [1, 2, 3, 4, 5, 6]);
  assert.equal(readFileSync(path, 'utf8').startsWith(lines.join('')), true, 'the old lines are left as they were');
});

test('AppendLog: records handed over as UTF-8 bytes (appendEncoded) are written as the very lines their texts would be, and answer the same offsets', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  let run = 0;
  const rec = fc.record({ i: fc.integer(), s: fc.string({ unit: 'grapheme', maxLength: 40 }) }).map((r): Rec => ({ i: r.i, s: r.s }));
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(fc.boolean(), fc.array(rec, { minLength: 1, maxLength: 5 })), { minLength: 1, maxLength: 6 }), async (batches) => {
      const asTexts = join(dir, `t${run}.log`);
      const asBytes = join(dir, `b${run++}.log`);
      const a = AppendLog.open<Rec>(asTexts).log;
      const b = AppendLog.open<Rec>(asBytes).log;
      const offsetsA: number[] = [];
      const offsetsB: number[] = [];
      for (const [encoded, batch] of batches) {
        const texts = batch.map((r) => JSON.stringify(r));
        offsetsA.push(...(await a.appendTexts(texts)));
        if (!encoded) {
          offsetsB.push(...(await b.appendTexts(texts)));
          continue;
        }
        const parts = texts.map((x) => Buffer.from(x, 'utf8'));
        const ends: number[] = [];
        parts.reduce((at, p) => (ends.push(at + p.length), at + p.length), 0);
        offsetsB.push(...(await b.appendEncoded({ data: Buffer.concat([...parts, Buffer.from('trailing bytes past the last end are not written')]), ends })));
      }
      a.close();
      b.close();
      assert.ok(readFileSync(asBytes).equals(readFileSync(asTexts)), 'the same bytes on disk');
      assert.deepEqual(offsetsB, offsetsA);
      assert.deepEqual(AppendLog.open<Rec>(asBytes).records, batches.flatMap(([, batch]) => batch));
    }),
    { numRuns: 60 },
  );
  // Appends made in the same tick share one write: texts and bytes together, in order, each answered its own offsets.
  const path = join(dir, 'mixed.log');
  const { log } = AppendLog.open<Rec>(path);
  const [first, second, third] = await Promise.all([log.appendTexts(['{"i":1,"s":"a"}']), log.appendEncoded({ data: Buffer.from('{"i":2,"s":"b"}{"i":3,"s":"c"}'), ends: [15, 30] }), log.append({ i: 4, s: 'd' })]);
  assert.equal(first?.length, 1);
  assert.equal(second?.length, 2);
  assert.equal(third?.length, 1);
  assert.deepEqual(log.readAt([...(first ?? []), ...(second ?? []), ...(third ?? [])]), [{ i: 1, s: 'a' }, { i: 2, s: 'b' }, { i: 3, s: 'c' }, { i: 4, s: 'd' }]);
  assert.equal(linesOf(path).length, 5, 'four record lines and one seal');
  // A raw newline or ends that do not rise within the data are refused, and nothing is written.
  const size = statSync(path).size;
  await assert.rejects(log.appendEncoded({ data: Buffer.from('{"i":5}\n{"i":6}'), ends: [8, 15] }), StoreError);
  await assert.rejects(log.appendEncoded({ data: Buffer.from('{"i":5}{"i":6}'), ends: [7, 7] }), RangeError);
  await assert.rejects(log.appendEncoded({ data: Buffer.from('{"i":5}'), ends: [9] }), RangeError);
  assert.equal(statSync(path).size, size);
  assert.deepEqual(await log.appendEncoded({ data: Buffer.alloc(0), ends: [] }), []);
  log.close();
});

test('AppendLog syncAside: a batch is written and fdatasynced off the main thread and acknowledged only after; batches queued meanwhile follow in order; close waits for them', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'aside.log');
  const { log } = AppendLog.open<Rec>(path, { syncAside: true });
  let firstDone = false;
  const first = log.append({ i: 1, s: 'a' }, { i: 2, s: 'b' }).then((offsets) => {
    firstDone = true;
    return offsets;
  });
  // The log's flush runs in the check phase before this one; a write and fdatasync on the threadpool answer in a later poll phase.
  await new Promise<void>((resolve) => setImmediate(resolve));
  assert.equal(firstDone, false, 'not acknowledged before its write and fdatasync ended (a synchronous fdatasync would have answered it already)');
  // Appended while the first batch is syncing: queued, written after it.
  const second = log.append({ i: 3, s: 'c' });
  assert.throws(() => log.appendSync({ i: 9, s: 'z' }), StoreError, 'appendSync would jump the queue');
  const third = log.append({ i: 4, s: 'd' }, { i: 5, s: 'e' });
  log.close();
  await assert.rejects(log.append({ i: 6, s: 'f' }), StoreError, 'closed: no append after close');
  const offsets = [...(await first), ...(await second), ...(await third)];
  assert.equal(offsets.length, 5);
  const visited: Array<{ r: Rec; offset: number }> = [];
  const reopened = AppendLog.open<Rec>(path, { visit: (r, offset) => visited.push({ r, offset }) });
  assert.deepEqual(
    visited.map((v) => v.r.i),
    [1, 2, 3, 4, 5],
  );
  assert.deepEqual(
    visited.map((v) => v.offset),
    offsets,
  );
  assert.deepEqual(
    reopened.log.readAt(offsets).map((r) => r.i),
    [1, 2, 3, 4, 5],
  );
  reopened.log.close();
});
