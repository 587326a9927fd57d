// The money log's checkpoint on the file store: a start replays only the log after it, and reopens to exactly the state a full replay builds, whatever crash, damage or mix-up left the checkpoint behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import fc from 'fast-check';
import { ReceiptLog, type MoneyRecord } from '../../src/gateway/billing/receipt-log.js';
import { StoreError } from '../../src/gateway/store/store.js';
import { AppendLog } from '../../src/gateway/store/append-log.js';
import { CHECKPOINT_FORMAT_BYTES, decodeCheckpoint, encodeCheckpoint, encodeCheckpointBytes } from '../../src/gateway/billing/money-checkpoint.js';
import { receiptHash } from '../../src/protocol/receipt.js';
import { headOver, T0, v2Body } from '../helpers/receipts.js';
import { MoneyHistory, OP_KINDS, openStateOf, type MoneyOp } from '../helpers/money-ops.js';
import { scratchDir } from '../helpers/paths.js';
import { testSeed } from '../helpers/seeded-random.js';

const opArb: fc.Arbitrary<MoneyOp> = fc.record({ kind: fc.constantFrom(...OP_KINDS), pick: fc.nat({ max: 1000 }) });
/** Closes weigh more, so there are receipts to pay, hold and batch. */
const opsArb = fc.array(fc.oneof({ weight: 1, arbitrary: opArb }, { weight: 1, arbitrary: opArb.map((o) => ({ ...o, kind: 'close' as const })) }), { minLength: 4, maxLength: 40 });

/** The state a full replay of `logPath` builds (copied into a folder with no checkpoint). */
async function fullReplay(logPath: string, dir: string): Promise<unknown> {
  const copy = join(dir, `full-${Math.random().toString(36).slice(2)}.log`);
  copyFileSync(logPath, copy);
  const log = ReceiptLog.open(copy, { checkpointEvery: 0 }).receipts;
  try {
    assert.equal(log.fromCheckpoint(), false);
    return await openStateOf(log);
  } finally {
    log.close();
  }
}

/** The checkpoint file and its side files (trees' leaves) beside `logPath`, by what follows the log's name. */
function checkpointFiles(logPath: string): Map<string, Buffer> {
  const name = basename(logPath);
  const files = new Map<string, Buffer>();
  for (const f of readdirSync(dirname(logPath))) if (f.startsWith(`${name}.checkpoint`)) files.set(f.slice(name.length), readFileSync(join(dirname(logPath), f)));
  return files;
}

/**
 * Opens `logPath` with `checkpoint` beside it (or none); answers its state and whether it started from the checkpoint.
 * A Buffer replaces the checkpoint file alone; a Map (checkpointFiles) replaces it and its side files.
 */
async function reopen(logPath: string, checkpoint: Buffer | Map<string, Buffer> | null): Promise<{ state: unknown; fromCheckpoint: boolean }> {
  const beside = `${logPath}.checkpoint`;
  rmSync(beside, { force: true });
  if (checkpoint instanceof Map) {
    for (const suffix of checkpointFiles(logPath).keys()) rmSync(`${logPath}${suffix}`, { force: true });
    for (const [suffix, bytes] of checkpoint) writeFileSync(`${logPath}${suffix}`, bytes, { mode: 0o600 });
  } else if (checkpoint) writeFileSync(beside, checkpoint, { mode: 0o600 });
  const log = ReceiptLog.open(logPath, { checkpointEvery: 0 }).receipts;
  try {
    return { state: await openStateOf(log), fromCheckpoint: log.fromCheckpoint() };
  } finally {
    log.close();
  }
}

test('a checkpoint taken at random points reopens to exactly the state a full replay builds, also when stale, ahead of the log, cut short or damaged', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(opsArb, fc.integer({ min: 1, max: 12 }), fc.nat(), fc.nat(), async (ops, every, crashAt, cutAt) => {
      const path = join(dir, `r${run++}.log`);
      const writer = ReceiptLog.open(path, { checkpointEvery: every }).receipts;
      const history = new MoneyHistory(writer);
      // A crash at step k: the log and the checkpoint as they stood then (the log fsynced, the checkpoint maybe older).
      const k = crashAt % ops.length;
      let logAtCrash: Buffer | null = null;
      let checkpointAtCrash: Map<string, Buffer> | null = null;
      for (const [i, op] of ops.entries()) {
        await history.step(op);
        if (i === k) {
          logAtCrash = readFileSync(path);
          checkpointAtCrash = existsSync(`${path}.checkpoint`) ? checkpointFiles(path) : null;
        }
      }
      writer.close();
      const final = existsSync(`${path}.checkpoint`) ? readFileSync(`${path}.checkpoint`) : null;
      const finalFiles = checkpointFiles(path);
      const expected = await fullReplay(path, dir);

      // The newest checkpoint: used, same state.
      const latest = await reopen(path, finalFiles);
      assert.deepEqual(latest.state, expected);
      assert.equal(latest.fromCheckpoint, final !== null);

      // A stale checkpoint (a crash between an append and the next checkpoint): used, the longer tail replayed, same state.
      const stale = await reopen(path, checkpointAtCrash);
      assert.deepEqual(stale.state, expected);
      assert.equal(stale.fromCheckpoint, checkpointAtCrash !== null);

      if (final) {
        // Cut short anywhere, or one byte changed: not used, the whole log replayed.
        const cut = final.subarray(0, cutAt % final.length);
        assert.deepEqual(await reopen(path, cut), { state: expected, fromCheckpoint: false });
        const flipped = Buffer.from(final);
        const at = final.indexOf(0x0a) + 1 + (cutAt % (final.length - final.indexOf(0x0a) - 1));
        flipped[at] = (flipped[at] as number) ^ 0x01;
        assert.deepEqual(await reopen(path, flipped), { state: expected, fromCheckpoint: false });
        // A side file (a tree's leaves) with one byte changed, or gone: not used, the whole log replayed.
        const side = [...finalFiles.keys()].find((suffix) => suffix.startsWith('.checkpoint.leaves-'));
        if (side !== undefined) {
          const bytes = Buffer.from(finalFiles.get(side) as Buffer);
          bytes[cutAt % bytes.length] = (bytes[cutAt % bytes.length] as number) ^ 0x01;
          assert.deepEqual(await reopen(path, new Map([...finalFiles, [side, bytes]])), { state: expected, fromCheckpoint: false });
          const without = new Map(finalFiles);
          without.delete(side);
          assert.deepEqual(await reopen(path, without), { state: expected, fromCheckpoint: false });
        }
      }

      // The log as it stood at the crash with the newest checkpoint: trusted only if it stands within that log.
      if (logAtCrash && final) {
        const older = join(dir, `older-${run}.log`);
        writeFileSync(older, logAtCrash, { mode: 0o600 });
        const expectedOlder = await fullReplay(older, dir);
        const position = (JSON.parse(final.toString('utf8', 0, final.indexOf(0x0a))) as { position: number }).position;
        const mixed = await reopen(older, finalFiles);
        assert.deepEqual(mixed.state, expectedOlder);
        assert.equal(mixed.fromCheckpoint, position < logAtCrash.length);
      }
    }),
    { numRuns: Number(process.env.CHECKPOINT_RUNS ?? 25), seed: testSeed() },
  );
});

test('a checkpoint of another log is refused, and that log is replayed whole', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const write = async (path: string, upSeconds: number): Promise<void> => {
    const log = ReceiptLog.open(path, { checkpointEvery: 1 }).receipts;
    const history = new MoneyHistory(log);
    for (let i = 0; i < 6; i++) await history.step({ kind: i % 2 === 0 ? 'close' : 'pay', pick: upSeconds + i });
    log.close();
  };
  const a = join(dir, 'a.log');
  const b = join(dir, 'b.log');
  await write(a, 1);
  await write(b, 2);
  // The two logs are alike in shape (same steps), so a's checkpoint names a line that exists in b, with another hash.
  const bAlone = await reopen(b, readFileSync(`${b}.checkpoint`));
  assert.equal(bAlone.fromCheckpoint, true);
  const mixed = await reopen(b, readFileSync(`${a}.checkpoint`));
  assert.equal(mixed.fromCheckpoint, false);
  assert.deepEqual(mixed.state, await fullReplay(b, dir));
  assert.notDeepEqual(mixed.state, (await reopen(a, readFileSync(`${a}.checkpoint`))).state);
});

test('the checkpoint file is 0600, and one others can read stops the start as the log does', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'receipts.log');
  const log = ReceiptLog.open(path, { checkpointEvery: 1 }).receipts;
  const history = new MoneyHistory(log);
  for (let i = 0; i < 3; i++) await history.step({ kind: 'close', pick: i });
  log.close();
  const checkpoint = `${path}.checkpoint`;
  assert.equal(statSync(checkpoint).mode & 0o777, 0o600);
  const before = await fullReplay(path, dir);
  const logBytes = readFileSync(path);
  const checkpointBytes = readFileSync(checkpoint);
  chmodSync(checkpoint, 0o644);
  assert.throws(
    () => ReceiptLog.open(path),
    (err: unknown) =>
      err instanceof StoreError &&
      err.problem === 'permissions' &&
      err.message === `${checkpoint} has mode 0644: others can read it. Run \`chmod 600 ${checkpoint}\` (and rotate the secret if it leaked).`,
  );
  assert.deepEqual(readFileSync(path), logBytes, 'the refused start wrote nothing to the log');
  assert.deepEqual(readFileSync(checkpoint), checkpointBytes, 'nor to the checkpoint');
  assert.equal(statSync(checkpoint).mode & 0o777, 0o644, 'whose mode is left for the operator to fix');
  // Once fixed, the start uses the checkpoint and holds everything it held before.
  chmodSync(checkpoint, 0o600);
  const reopened = ReceiptLog.open(path, { checkpointEvery: 0 }).receipts;
  try {
    assert.equal(reopened.fromCheckpoint(), true);
    assert.deepEqual(await openStateOf(reopened), before, 'nothing lost');
  } finally {
    reopened.close();
  }
});

/** Three deployments' close (its receipts live until paid), and small records to append after it. */
const threeBodies = ['dep_a', 'dep_b', 'dep_c'].map((deployment, i) => v2Body({ deployment, upSeconds: 3600 - i }));
const threeClose: MoneyRecord[] = [{ t: 'close_begin', periodStartMs: T0 }, ...threeBodies.map((b, index): MoneyRecord => ({ t: 'receipt', receipt: b, periodStartMs: T0, key: `k:${b.id}`, hash: receiptHash(b), index })), { t: 'tree_head', periodStartMs: T0, head: headOver(threeBodies, T0, null) }];
const note = (i: number): MoneyRecord => ({ t: 'countersign_refused', id: (threeBodies[i % 3] as { id: string }).id, reason: `note ${i}`, atMs: T0 });

test('a due checkpoint waits while the working set is large: until four times it in records have passed, or the set is small', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  // A working set of 3 counts as small here: the checkpoint is taken at the first append after it is due, as always.
  const small = join(dir, 'small.log');
  const eager = ReceiptLog.open(small, { checkpointEvery: 2, checkpointCheapLive: 3 }).receipts;
  await eager.append(threeClose);
  await eager.append([note(0)]);
  assert.equal(existsSync(`${small}.checkpoint`), true);
  eager.close();
  // Counted large (over 1): 5 records since, 3 live; it waits until 4 × 3 = 12 records have been applied since.
  const large = join(dir, 'large.log');
  const log = ReceiptLog.open(large, { checkpointEvery: 2, checkpointCheapLive: 1 }).receipts;
  await log.append(threeClose);
  for (let i = 0; i < 7; i++) {
    await log.append([note(i)]);
    assert.equal(existsSync(`${large}.checkpoint`), false, `no checkpoint with ${5 + i} records since and 3 receipts live`);
  }
  await log.append([note(7)]);
  assert.equal(existsSync(`${large}.checkpoint`), true, 'taken once 12 records were applied since');
  assert.equal(log.footprint().receipts, 3);
  log.close();
  const reopened = await reopen(large, readFileSync(`${large}.checkpoint`));
  assert.equal(reopened.fromCheckpoint, true);
  assert.deepEqual(reopened.state, await fullReplay(large, dir));
});

test('a checkpoint that cannot be encoded never stops a money append: the records are written, the next try waits twice as long, and a start replays the log whole to the same state', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'receipts.log');
  // What JSON.stringify throws once the state passes V8's longest string (bench/billing, 1,000,000 deployments).
  let tries = 0;
  const failing = (): string => {
    tries++;
    throw new RangeError('Invalid string length');
  };
  const log = ReceiptLog.open(path, { checkpointEvery: 2, checkpointCheapLive: 1000, encodeCheckpoint: failing }).receipts;
  await log.append(threeClose);
  await log.append([note(0)]);
  assert.equal(tries, 1, 'due after 5 records: tried once');
  assert.deepEqual(log.checkpointHealth(), { failures: 1, lastError: 'Invalid string length' });
  // Backed off to 2 × 2 records: tried again at the first append after four more records were applied.
  for (let i = 1; i <= 3; i++) await log.append([note(i)]);
  assert.equal(tries, 1, 'no try while backed off');
  await log.append([note(4)]);
  assert.equal(tries, 2, 'tried again after twice the interval');
  assert.equal(existsSync(`${path}.checkpoint`), false);
  const kept = await openStateOf(log);
  log.close();
  const reopened = await reopen(path, null);
  assert.equal(reopened.fromCheckpoint, false);
  assert.deepEqual(reopened.state, kept, 'every record was written: the full replay rebuilds the state');
});

/** The JSON line after a checkpoint file's header and digest (format 1: the whole body; format 2: the part before the sections). */
function jsonPartOf(file: Buffer): { format: number; sections?: number[] } {
  const header = file.indexOf(0x0a);
  const body = header + 1 + 65;
  const end = file.indexOf(0x0a, body);
  return JSON.parse(file.toString('utf8', body, end < 0 ? file.length : end)) as { format: number; sections?: number[] };
}

test('receipts.log keeps its checkpoint as bytes (format 2: leaves and deployment columns in binary sections), and a format 1 checkpoint as main wrote it is still read', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const ops: MoneyOp[] = [];
  for (let i = 0; i < 24; i++) ops.push({ kind: OP_KINDS[(i * 7) % OP_KINDS.length] as MoneyOp['kind'], pick: i * 31 });
  for (let i = 0; i < 6; i++) ops.splice(i * 4, 0, { kind: 'close', pick: i });
  const write = async (path: string, options: Parameters<typeof ReceiptLog.open>[1]): Promise<Buffer> => {
    const log = ReceiptLog.open(path, options).receipts;
    const history = new MoneyHistory(log);
    for (const op of ops) await history.step(op);
    log.close();
    return readFileSync(`${path}.checkpoint`);
  };
  const bytesPath = join(dir, 'bytes.log');
  const bytesFile = await write(bytesPath, { checkpointEvery: 3 });
  const meta = jsonPartOf(bytesFile);
  assert.equal(meta.format, CHECKPOINT_FORMAT_BYTES);
  assert.ok((meta.sections ?? []).length >= 5 + 4, 'the deployment columns and at least one tree in sections');
  const fromBytes = await reopen(bytesPath, bytesFile);
  assert.equal(fromBytes.fromCheckpoint, true);
  assert.deepEqual(fromBytes.state, await fullReplay(bytesPath, dir));

  // The same history, its checkpoint written as format 1 text (what main wrote beside receipts.log): read, not replayed.
  const textPath = join(dir, 'text.log');
  const textFile = await write(textPath, { checkpointEvery: 3, encodeCheckpoint: (s, o) => encodeCheckpoint(s, o) });
  assert.equal(jsonPartOf(textFile).format, 1);
  assert.equal(textFile.subarray(textFile.indexOf(0x0a) + 1).indexOf(0x0a), 64, 'format 1: the digest line, then one line of JSON');
  const fromText = await reopen(textPath, textFile);
  assert.equal(fromText.fromCheckpoint, true);
  assert.deepEqual(fromText.state, fromBytes.state);
  assert.ok(bytesFile.length < textFile.length, `format 2 (${bytesFile.length} bytes) is smaller than format 1 (${textFile.length})`);
});

test('format 2 decodes to the state format 1 holds, with positions kept or left to the store and live receipts read back from the log; a section cut, a length changed or a receipt not in the log is refused', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'r.log');
  const log = ReceiptLog.open(path, { checkpointEvery: 0 }).receipts;
  t.after(() => log.close());
  const history = new MoneyHistory(log);
  for (let i = 0; i < 30; i++) await history.step({ kind: i % 3 === 0 ? 'close' : (OP_KINDS[i % OP_KINDS.length] as MoneyOp['kind']), pick: i * 17 });
  // Beside the history's deployments: one whose id no tree names (a v1 receipt's), with totals past 2^53 and below zero and a hash not in lowercase hex.
  const { PeriodStarts } = await import('../../src/gateway/billing/period-starts.js');
  const starts = PeriodStarts.empty();
  starts.push(T0);
  const open = log.openState();
  const state = { ...open, deployments: new Map([...open.deployments, ['dep_v1_only', { lastHash: 'AB'.repeat(32), periodStartsMs: starts, positions: [7], upSeconds: 3600, chargedMicros: 2n ** 70n, heldMicros: -5n, returnedMicros: -(2n ** 60n) }]]) };
  assert.ok(!state.names.includes('dep_v1_only'));
  const text = (positions: boolean, s = state): string => encodeCheckpoint(s, { positions });
  for (const positions of [true, false]) {
    const bytes = Buffer.concat(encodeCheckpointBytes(state, { positions }).bytes);
    // Live receipts of kept trees are named by their line in the log, read back through the store.
    const part = JSON.parse(bytes.toString('utf8', 65, bytes.indexOf(0x0a, 65))) as { live: Array<{ at?: number; receipt?: unknown }> };
    assert.ok(part.live.some((j) => j.at !== undefined && j.receipt === undefined), 'some live receipt named by position');
    assert.equal(decodeCheckpoint(bytes), null, 'without a way to read the log: not used');
    assert.equal(decodeCheckpoint(bytes, () => []), null, 'the log does not hold them: not used');
    const decoded = decodeCheckpoint(bytes, (at) => AppendLog.readAt<MoneyRecord>(path, at));
    assert.ok(decoded, `positions ${String(positions)}: decoded`);
    // Parsed: a receipt read back from the log has its keys in the line's (canonical) order, as after a full replay.
    assert.deepEqual(JSON.parse(text(positions, decoded).slice(65)), JSON.parse(text(positions).slice(65)));
    // A section length that no longer adds up, with the digest made to match: refused, not misread.
    const nl = bytes.indexOf(0x0a, 65);
    const json = JSON.parse(bytes.toString('utf8', 65, nl)) as { sections: number[] };
    json.sections[0] = (json.sections[0] as number) + 8;
    const rest = Buffer.concat([Buffer.from(`${JSON.stringify(json)}\n`), bytes.subarray(nl + 1)]);
    const { createHash } = await import('node:crypto');
    const read = (at: readonly number[]): MoneyRecord[] => AppendLog.readAt<MoneyRecord>(path, at);
    assert.equal(decodeCheckpoint(Buffer.concat([Buffer.from(`${createHash('sha256').update(rest).digest('hex')}\n`), rest]), read), null);
    assert.equal(decodeCheckpoint(bytes.subarray(0, bytes.length - 1), read), null);
  }
});

test('a kept tree\'s leaves lie in one side file, written once while the tree is kept and removed once no checkpoint names it', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'receipts.log');
  const log = ReceiptLog.open(path, { checkpointEvery: 1, checkpointCheapLive: 1000 }).receipts;
  const history = new MoneyHistory(log);
  const inodes = new Map<string, number>();
  let rewritten = 0;
  // Each close's append carries the checkpoint of the state before it: the trees of the closes before.
  await history.step({ kind: 'close', pick: 0 });
  for (let i = 1; i < 12; i++) {
    await history.step({ kind: 'close', pick: i });
    const file = readFileSync(`${path}.checkpoint`);
    const header = JSON.parse(file.toString('utf8', 0, file.indexOf(0x0a))) as { sides: Array<{ name: string }> };
    const onDisk = [...checkpointFiles(path).keys()].filter((s) => s.startsWith('.checkpoint.leaves-')).map((s) => s.slice('.checkpoint.leaves-'.length));
    assert.deepEqual(onDisk.sort(), header.sides.map((s) => s.name).sort(), 'exactly the side files the checkpoint names');
    assert.equal(header.sides.length, Math.min(i, 8), 'one a kept tree (TREES_KEPT = 8)');
    for (const { name } of header.sides) {
      const ino = statSync(`${path}.checkpoint.leaves-${name}`).ino;
      if (inodes.has(name) && inodes.get(name) !== ino) rewritten++;
      inodes.set(name, ino);
      assert.equal(statSync(`${path}.checkpoint.leaves-${name}`).mode & 0o777, 0o600);
    }
  }
  assert.equal(rewritten, 0, 'no side file written twice by one process');
  log.close();
  const reopened = await reopen(path, checkpointFiles(path));
  assert.equal(reopened.fromCheckpoint, true);
  assert.deepEqual(reopened.state, await fullReplay(path, dir));
});
