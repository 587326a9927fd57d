// EntryList: members in the order they joined, leaving decided by the entries' own fields, and stale slots bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EntryList, SLACK } from '../../src/gateway/billing/entry-list.js';
import type { ReceiptEntry } from '../../src/gateway/billing/receipt-types.js';

/** Entries with only what the rule below reads (an id and a state). */
function entries(n: number): ReceiptEntry[] {
  return Array.from({ length: n }, (_, i) => ({ receipt: { id: `rcp_${i}` }, state: 'issued' }) as unknown as ReceiptEntry);
}

test('an entry list answers its members in the order they joined, skips those whose fields say they left, and never holds more stale slots than members + SLACK', () => {
  const list = new EntryList((e) => e.state === 'issued');
  const all = entries(4 * SLACK);
  for (const e of all) list.add(e);
  assert.equal(list.size, all.length);
  let most = 0;
  // Every third one leaves, then all but the last hundred: compactions happen on the way.
  const leave = (e: ReceiptEntry): void => {
    e.state = 'paid';
    list.left();
    // Stale slots beyond the members left.
    most = Math.max(most, list.slots - 2 * list.size);
  };
  all.filter((_e, i) => i % 3 === 0).forEach(leave);
  assert.deepEqual(
    [...list].map((e) => e.receipt.id),
    all.filter((_e, i) => i % 3 !== 0).map((e) => e.receipt.id),
  );
  all.slice(0, -100).filter((e) => e.state === 'issued').forEach(leave);
  assert.deepEqual(
    [...list].map((e) => e.receipt.id),
    all.slice(-100).filter((_e, i) => (all.length - 100 + i) % 3 !== 0).map((e) => e.receipt.id),
  );
  assert.ok(most <= SLACK, `stale slots beyond the members: ${most}`);
  assert.ok(list.slots < all.length, 'compacted at least once');
  assert.equal(list.has(all[0] as ReceiptEntry), false);
  assert.equal(list.has(all.at(-2) as ReceiptEntry), true);
});
