// receiptRecordText: a receipt's money record written from its body's canonical JSON parses to the record JSON.stringify writes, and a close stored that way reopens to the same receipts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import fc from 'fast-check';
import { canonicalJson } from '../../src/identity/index.js';
import { ReceiptRecordBytes, receiptRecordText } from '../../src/gateway/billing/money-record-text.js';
import { IssuedBodies } from '../../src/gateway/billing/issued-bodies.js';
import { allHashesHex, hashHere } from '../helpers/close-hashing.js';
import { blake2b, toHex } from '../../src/identity/index.js';
import { ReceiptLog, type MoneyRecord, type ReceiptEntry } from '../../src/gateway/billing/receipt-log.js';
import { receiptHash, type ReceiptBodyV2 } from '../../src/protocol/receipt.js';
import { headOver, T0, v2Body } from '../helpers/receipts.js';
import { scratchDir } from '../helpers/paths.js';

/** Text canonical JSON takes (no lone surrogates), with quotes, backslashes, controls and astral characters. */
const text = fc.string({ unit: 'grapheme', maxLength: 24 });
const body: fc.Arbitrary<ReceiptBodyV2> = fc
  .record({ id: text, deployment: text, customer: text, farmer: text, node: text, amount: text, prev: fc.option(text, { nil: null }), upSeconds: fc.nat(), final: fc.boolean() })
  .map((f): ReceiptBodyV2 => ({ ...v2Body(), ...f }));
/** A key or hash: any text, or one made mostly of what JSON escapes or encodes in several bytes (quotes, backslashes, controls, non-ASCII), which `text` seldom draws. */
const keyText = fc.oneof(text, fc.string({ unit: fc.constantFrom('"', '\\', '\n', '\u0001', '\u007f', 'é', '\u2028', '😀', 'a', '0'), maxLength: 12 }));

test('property: the record text parses to the same record as JSON.stringify of it', () => {
  fc.assert(
    fc.property(body, fc.nat(), text, text, fc.nat(), (b, periodStartMs, key, hash, index) => {
      const record: MoneyRecord = { t: 'receipt', receipt: b, periodStartMs, key, hash, index };
      const written = receiptRecordText(canonicalJson(b), periodStartMs, key, hash, index);
      assert.deepEqual(JSON.parse(written), JSON.parse(JSON.stringify(record)));
      assert.ok(!written.includes('\n'));
    }),
    { numRuns: 500 },
  );
  assert.throws(() => receiptRecordText('{}', 1.5, 'k', 'h', 0), RangeError);
});

test('property: ReceiptRecordBytes writes the UTF-8 of receiptRecordText, and IssuedBodies keeps each body as its UTF-8 with its blake2b-256', () => {
  // One of each kept for every run, as BillingService keeps them from close to close: reset must leave nothing behind.
  const keptBodies = new IssuedBodies(0);
  const keptWriter = new ReceiptRecordBytes(0);
  fc.assert(
    fc.property(fc.array(fc.tuple(body, fc.nat(), keyText, keyText), { minLength: 1, maxLength: 12 }), fc.integer({ min: 0, max: 3 }), fc.boolean(), (rows, expected, kept) => {
      // `expected` below the real count (even 0): the buffers grow past their first guess.
      const bodies = kept ? keptBodies : new IssuedBodies(expected);
      const writer = kept ? keptWriter : new ReceiptRecordBytes(expected * 16);
      bodies.reset(expected);
      writer.reset();
      const texts: string[] = [];
      rows.forEach(([b, periodStartMs, key, otherHash], i) => {
        const json = canonicalJson(b);
        assert.equal(bodies.add(json), i);
        hashHere(bodies);
        const hash = bodies.hashHex(i);
        assert.equal(hash, toHex(blake2b(Buffer.from(json, 'utf8'), 32)));
        assert.ok(bodies.body(i).equals(Buffer.from(json, 'utf8')));
        // Every other record names an arbitrary text as its hash: the writer must quote any text as JSON.stringify does.
        const named = i % 2 === 0 ? hash : otherHash;
        writer.add(bodies.body(i), periodStartMs, key, named, i);
        texts.push(receiptRecordText(json, periodStartMs, key, named, i));
      });
      assert.equal(bodies.count, rows.length);
      assert.equal(allHashesHex(bodies), rows.map((_, i) => toHex(blake2b(bodies.body(i), 32))).join(''));
      const { data, ends } = writer.records();
      assert.equal(Buffer.from(data).toString('utf8'), texts.join(''));
      assert.deepEqual(ends, texts.map((_, i) => Buffer.byteLength(texts.slice(0, i + 1).join(''), 'utf8')));
    }),
    { numRuns: 300 },
  );
  assert.throws(() => new ReceiptRecordBytes(0).add(Buffer.from('{}'), 1, 'k', 'h', 0.5), RangeError);
  assert.throws(() => new IssuedBodies(1).body(0), RangeError);
});

test('a close appended with record texts reopens to the receipts, hashes and proofs a JSON.stringify-written close gives', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const bodies = ['dep_a', 'dep_b', 'dep_c'].map((deployment, i) => v2Body({ deployment, upSeconds: 3600 - i }));
  const head = headOver(bodies, T0, null);
  const records = bodies.map((b, index): MoneyRecord & { t: 'receipt' } => ({ t: 'receipt', receipt: b, periodStartMs: T0, key: `hypha:${b.deployment}`, hash: receiptHash(b), index }));
  const write = async (name: string, withTexts: boolean): Promise<ReceiptLog> => {
    const path = join(dir, name);
    const { receipts } = ReceiptLog.open(path);
    await receipts.append([{ t: 'close_begin', periodStartMs: T0 }]);
    await receipts.append(records, withTexts ? records.map((r, i) => receiptRecordText(canonicalJson(bodies[i]), T0, r.key, r.hash as string, i)) : undefined);
    await receipts.append([{ t: 'tree_head', periodStartMs: T0, head }]);
    receipts.close();
    return ReceiptLog.open(path).receipts;
  };
  const plain = await write('plain.log', false);
  const texted = await write('texted.log', true);
  for (const d of ['dep_a', 'dep_b', 'dep_c']) {
    const got = await texted.of(d);
    assert.equal(got.length, 1);
    assert.deepEqual(got, await plain.of(d));
    assert.deepEqual(await texted.present(got[0] as ReceiptEntry), await plain.present((await plain.of(d))[0] as ReceiptEntry));
    assert.equal(texted.lastHash(d), plain.lastHash(d));
  }
  plain.close();
  texted.close();
});
