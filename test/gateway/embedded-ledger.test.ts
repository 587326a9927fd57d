// EmbeddedLedger in a scratch folder: funding, all-or-nothing billing events, idempotent keys, payouts, and the journal on disk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { EmbeddedLedger } from '../../src/gateway/ledger/embedded-ledger.js';
import { LedgerRejectedError, LedgerUnavailableError, type BillingEvent } from '../../src/gateway/ledger/ledger.js';
import { UNIT } from '../../src/protocol/money.js';
import { scratchDir } from '../helpers/paths.js';

const NOW = Date.UTC(2026, 0, 1);

/** Runs `body` with a ledger in a fresh scratch folder, closing and removing both after. */
async function withLedger(body: (ledger: EmbeddedLedger, dir: string) => Promise<void>): Promise<void> {
  const scratch = scratchDir();
  const dir = join(scratch.dir, 'ledger');
  const ledger = EmbeddedLedger.open(dir, () => NOW);
  try {
    await body(ledger, dir);
  } finally {
    await ledger.close();
    scratch.remove();
  }
}

const event = (key: string, amountMicros: bigint, customer = 'alice'): BillingEvent => ({
  key,
  customer,
  farmer: 'farmer-1',
  amountMicros,
  unit: UNIT,
  receiptIds: [`rcp_${key}`],
  invoice: { deployment: 'dep_1', periodStart: '2026-01-01T00:00:00.000Z' },
});
const available = async (ledger: EmbeddedLedger, customer = 'alice'): Promise<bigint> => (await ledger.balance(customer)).availableMicros;

test('funding credits an agreement; an unknown customer has zero; the same fund key is applied once', async () => {
  await withLedger(async (ledger) => {
    assert.deepEqual(await ledger.balance('nobody'), { unit: UNIT, availableMicros: 0n });
    assert.deepEqual(await ledger.fund('alice', 1_000_000n, 'fund-1'), { unit: UNIT, availableMicros: 1_000_000n });
    assert.equal((await ledger.fund('alice', 500_000n, 'fund-2')).availableMicros, 1_500_000n);
    assert.equal((await ledger.fund('alice', 500_000n, 'fund-2')).availableMicros, 1_500_000n, 'the same key twice funds once');
    await assert.rejects(ledger.fund('alice', 1n, 'fund-2'), LedgerRejectedError, 'a fund key reused for another amount');
    await assert.rejects(ledger.fund('bob', 500_000n, 'fund-2'), LedgerRejectedError, 'a fund key reused for another customer');
    await assert.rejects(ledger.fund('alice', 0n, 'fund-0'), LedgerRejectedError);
    await assert.rejects(ledger.fund('alice', -5n, 'fund-neg'), LedgerRejectedError);
    assert.equal(await available(ledger), 1_500_000n);
    assert.equal(ledger.summary().entries, 2);
  });
});

test('a billing event the funding cannot cover is refused whole, changes no balance, and is journaled as refused', async () => {
  await withLedger(async (ledger, dir) => {
    await ledger.fund('alice', 100n, 'fund-1');
    const result = await ledger.postBillingEvent(event('dep_1:p1', 101n));
    assert.deepEqual(result, { status: 'insufficient_funds', availableMicros: 100n });
    assert.equal(await available(ledger), 100n, 'not even part of it was taken');
    const s = ledger.summary();
    assert.equal(s.collectedMicros, 0n);
    assert.equal(s.charges, 0);
    assert.equal(s.refusals, 1);
    const refused = EmbeddedLedger.readEntries(dir).filter((e) => e.type === 'refused');
    assert.deepEqual(refused, [{ type: 'refused', key: 'dep_1:p1', customer: 'alice', amountMicros: '101', availableMicros: '100', atMs: NOW }]);
  });
});

test('an event for exactly the balance is paid and leaves zero', async () => {
  await withLedger(async (ledger) => {
    await ledger.fund('alice', 100n, 'fund-1');
    assert.equal((await ledger.postBillingEvent(event('dep_1:p1', 100n))).status, 'paid');
    assert.equal(await available(ledger), 0n);
    assert.equal((await ledger.postBillingEvent(event('dep_1:p2', 0n))).status, 'paid', 'a zero charge is paid from an empty agreement');
    assert.equal((await ledger.postBillingEvent(event('dep_1:p3', 1n))).status, 'insufficient_funds');
  });
});

test('the same key posted twice is applied once and answers the same', async () => {
  await withLedger(async (ledger) => {
    await ledger.fund('alice', 1_000n, 'fund-1');
    const first = await ledger.postBillingEvent(event('dep_1:p1', 300n));
    const second = await ledger.postBillingEvent(event('dep_1:p1', 300n));
    assert.equal(first.status, 'paid');
    assert.deepEqual(second, first);
    assert.equal(await available(ledger), 700n);
    assert.equal(ledger.summary().collectedMicros, 300n);
    assert.equal(ledger.summary().charges, 1);
  });
});

test('the same key posted twice at once is applied once', async () => {
  await withLedger(async (ledger) => {
    await ledger.fund('alice', 1_000n, 'fund-1');
    const [a, b] = await Promise.all([ledger.postBillingEvent(event('dep_1:p1', 300n)), ledger.postBillingEvent(event('dep_1:p1', 300n))]);
    assert.deepEqual(a, b);
    assert.equal(await available(ledger), 700n);
  });
});

test('a refused key can be posted again after funding, and then it is paid', async () => {
  await withLedger(async (ledger) => {
    await ledger.fund('alice', 100n, 'fund-1');
    assert.equal((await ledger.postBillingEvent(event('dep_1:p1', 250n))).status, 'insufficient_funds');
    assert.equal((await ledger.postBillingEvent(event('dep_1:p1', 250n))).status, 'insufficient_funds', 'still refused while unfunded');
    await ledger.fund('alice', 200n, 'fund-2');
    const paid = await ledger.postBillingEvent(event('dep_1:p1', 250n));
    assert.equal(paid.status, 'paid');
    assert.equal(await available(ledger), 50n);
    assert.deepEqual(await ledger.postBillingEvent(event('dep_1:p1', 250n)), paid, 'and from then on it answers the same');
    assert.equal(ledger.summary().refusals, 2);
    assert.equal(ledger.summary().charges, 1);
  });
});

test('a key reused for another amount, customer or entry type throws LedgerRejectedError and changes nothing', async () => {
  await withLedger(async (ledger) => {
    await ledger.fund('alice', 1_000n, 'fund-1');
    await ledger.fund('bob', 1_000n, 'fund-bob');
    await ledger.postBillingEvent(event('dep_1:p1', 300n));
    await assert.rejects(ledger.postBillingEvent(event('dep_1:p1', 301n)), (e: unknown) => e instanceof LedgerRejectedError && /key dep_1:p1 was used for another entry/.test(e.message));
    await assert.rejects(ledger.postBillingEvent(event('dep_1:p1', 300n, 'bob')), LedgerRejectedError);
    await assert.rejects(ledger.postBillingEvent(event('fund-1', 1_000n)), LedgerRejectedError, 'a fund key is not a billing key');
    await assert.rejects(ledger.payFarmer({ key: 'dep_1:p1', farmer: 'farmer-1', amountMicros: 300n, unit: UNIT, receiptIds: [] }), LedgerRejectedError);
    assert.equal(await available(ledger), 700n);
    assert.equal(await available(ledger, 'bob'), 1_000n);
    assert.equal(ledger.summary().collectedMicros, 300n);
  });
});

test('bad billing events are rejected: a negative amount, another unit', async () => {
  await withLedger(async (ledger) => {
    await ledger.fund('alice', 1_000n, 'fund-1');
    await assert.rejects(ledger.postBillingEvent(event('k1', -1n)), LedgerRejectedError);
    await assert.rejects(ledger.postBillingEvent({ ...event('k2', 1n), unit: 'TFT' }), LedgerRejectedError);
    assert.equal(await available(ledger), 1_000n);
    assert.equal(ledger.summary().entries, 1);
  });
});

test('payouts are idempotent and never more than what was collected and not yet paid out', async () => {
  await withLedger(async (ledger) => {
    await ledger.fund('alice', 1_000n, 'fund-1');
    await ledger.postBillingEvent(event('dep_1:p1', 500n));
    const payout = { key: 'payout-1', farmer: 'farmer-1', amountMicros: 450n, unit: UNIT, receiptIds: ['rcp_dep_1:p1'] };
    const first = await ledger.payFarmer(payout);
    assert.equal(first.status, 'paid');
    assert.deepEqual(await ledger.payFarmer(payout), first, 'the same payout twice pays once');
    assert.equal(ledger.summary().paidOutMicros, 450n);
    assert.equal(ledger.summary().farmers.get('farmer-1'), 450n);
    await assert.rejects(ledger.payFarmer({ ...payout, amountMicros: 451n }), LedgerRejectedError, 'the payout key reused for another amount');
    await assert.rejects(
      ledger.payFarmer({ ...payout, key: 'payout-2', amountMicros: 51n }),
      (e: unknown) => e instanceof LedgerRejectedError && /more than the marketplace has collected/.test(e.message),
      '500 collected, 450 paid out: 51 is too much',
    );
    assert.equal((await ledger.payFarmer({ ...payout, key: 'payout-3', amountMicros: 50n })).status, 'paid', 'exactly the rest is fine');
    await assert.rejects(ledger.payFarmer({ ...payout, key: 'payout-4', amountMicros: -1n }), LedgerRejectedError);
    const s = ledger.summary();
    assert.equal(s.paidOutMicros, 500n);
    assert.equal(s.payouts, 2);
  });
});

test('a payout with nothing collected is refused', async () => {
  await withLedger(async (ledger) => {
    await ledger.fund('alice', 1_000n, 'fund-1');
    await assert.rejects(ledger.payFarmer({ key: 'p', farmer: 'farmer-1', amountMicros: 1n, unit: UNIT, receiptIds: [] }), LedgerRejectedError);
    assert.equal(ledger.summary().paidOutMicros, 0n);
  });
});

test('every entry is kept: reopening rebuilds balances, totals and idempotency; readEntries lists them all', async () => {
  const scratch = scratchDir();
  const dir = join(scratch.dir, 'ledger');
  try {
    const ledger = EmbeddedLedger.open(dir, () => NOW);
    await ledger.fund('alice', 1_000n, 'fund-1');
    await ledger.fund('bob', 50n, 'fund-bob');
    const paid = await ledger.postBillingEvent(event('dep_1:p1', 400n));
    await ledger.postBillingEvent(event('dep_2:p1', 100n, 'bob'));
    await ledger.postBillingEvent(event('dep_1:p2', 300n));
    const payout = await ledger.payFarmer({ key: 'payout-1', farmer: 'farmer-1', amountMicros: 600n, unit: UNIT, receiptIds: ['rcp_dep_1:p1', 'rcp_dep_1:p2'] });
    const before = ledger.summary();
    await ledger.close();

    const entries = EmbeddedLedger.readEntries(dir);
    assert.deepEqual(
      entries.map((e) => `${e.type}:${e.key}:${e.amountMicros}`),
      ['fund:fund-1:1000', 'fund:fund-bob:50', 'charge:dep_1:p1:400', 'refused:dep_2:p1:100', 'charge:dep_1:p2:300', 'payout:payout-1:600'],
    );
    const charge = entries[2];
    assert.ok(charge?.type === 'charge');
    assert.deepEqual(charge.receiptIds, ['rcp_dep_1:p1']);
    assert.deepEqual(charge.invoice, { deployment: 'dep_1', periodStart: '2026-01-01T00:00:00.000Z' });
    assert.equal(charge.entryId, paid.status === 'paid' ? paid.entryId : '');

    const reopened = EmbeddedLedger.open(dir, () => NOW);
    try {
      const after = reopened.summary();
      assert.deepEqual(after, before);
      assert.equal(await available(reopened), 300n);
      assert.equal(await available(reopened, 'bob'), 50n);
      assert.deepEqual(await reopened.postBillingEvent(event('dep_1:p1', 400n)), paid, 'a key applied before the reopen answers the same');
      assert.deepEqual(await reopened.payFarmer({ key: 'payout-1', farmer: 'farmer-1', amountMicros: 600n, unit: UNIT, receiptIds: [] }), payout);
      assert.equal(await available(reopened), 300n, 'and is not applied again');
      assert.equal(reopened.summary().entries, before.entries);
    } finally {
      await reopened.close();
    }
  } finally {
    scratch.remove();
  }
});

test('the journal is mode 0600 in a folder only its owner can enter', async () => {
  await withLedger(async (ledger, dir) => {
    await ledger.fund('alice', 1n, 'fund-1');
    assert.equal(statSync(join(dir, 'journal.log')).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o077, 0);
  });
});

test('a journal changed on disk stops the open instead of being trusted', async () => {
  const scratch = scratchDir();
  const dir = join(scratch.dir, 'ledger');
  try {
    const ledger = EmbeddedLedger.open(dir, () => NOW);
    await ledger.fund('alice', 1_000n, 'fund-1');
    await ledger.close();
    appendFileSync(join(dir, 'journal.log'), '{"n":2,"h":"00000000000000000000000000000000","r":{"type":"fund","key":"forged","customer":"alice","amountMicros":"1000000","unit":"SPORE","atMs":0,"entryId":"x"}}\n');
    assert.throws(() => EmbeddedLedger.open(dir, () => NOW), /hash chain/);
  } finally {
    scratch.remove();
  }
});

test('after a journal write fails the ledger stops (fail-stop) and what was not written is not there after a reopen', async () => {
  const scratch = scratchDir();
  const dir = join(scratch.dir, 'ledger');
  try {
    const ledger = EmbeddedLedger.open(dir, () => NOW);
    await ledger.fund('alice', 1_000n, 'fund-1');
    await ledger.close(); // the journal is closed: the next write fails
    await assert.rejects(ledger.postBillingEvent(event('dep_1:p1', 100n)), LedgerUnavailableError);
    await assert.rejects(async () => ledger.balance('alice'), LedgerUnavailableError, 'memory may be ahead of disk: it answers nothing more');
    await assert.rejects(ledger.fund('alice', 1n, 'fund-2'), LedgerUnavailableError);
    const reopened = EmbeddedLedger.open(dir, () => NOW);
    try {
      assert.equal(await available(reopened), 1_000n);
      assert.equal(reopened.summary().charges, 0);
    } finally {
      await reopened.close();
    }
  } finally {
    scratch.remove();
  }
});

test('a batch of one customer\'s events is charged whole (an entry per event) or not at all; keys already charged answer their entry; a bad batch is refused', async () => {
  await withLedger(async (ledger, dir) => {
    await ledger.fund('alice', 1000n, 'f1');
    const first = await ledger.postBillingEvent(event('k1', 100n));
    assert.equal(first.status, 'paid');
    const linesBefore = EmbeddedLedger.readEntries(dir).length;
    // 100 (already charged) + 300 + 400: only the two new ones are charged.
    const batch = [event('k1', 100n), event('k2', 300n), event('k3', 400n)];
    const paid = await ledger.postBillingEvents('alice', batch);
    assert.equal(paid.status, 'paid');
    assert.equal((paid as { entryIds: readonly string[] }).entryIds[0], (first as { entryId: string }).entryId);
    assert.equal(await available(ledger), 200n);
    const entries = EmbeddedLedger.readEntries(dir);
    assert.deepEqual(entries.slice(linesBefore).map((e) => [e.type, e.key]), [['charge', 'k2'], ['charge', 'k3']]);
    // The same batch again charges nothing.
    assert.deepEqual(await ledger.postBillingEvents('alice', batch), paid);
    assert.equal(await available(ledger), 200n);
    // 150 + 100 > 200: refused whole, nothing journaled (the caller posts them one by one).
    const count = EmbeddedLedger.readEntries(dir).length;
    assert.deepEqual(await ledger.postBillingEvents('alice', [event('k4', 150n), event('k5', 100n)]), { status: 'insufficient_funds', availableMicros: 200n });
    assert.equal(EmbeddedLedger.readEntries(dir).length, count);
    assert.equal(await available(ledger), 200n);
    await assert.rejects(ledger.postBillingEvents('alice', [event('k6', 1n, 'bob')]), (e: unknown) => e instanceof LedgerRejectedError && /of customer bob, not alice/.test(e.message));
    await assert.rejects(ledger.postBillingEvents('alice', [event('k6', 1n), event('k6', 1n)]), (e: unknown) => e instanceof LedgerRejectedError && /twice in one batch/.test(e.message));
    await assert.rejects(ledger.postBillingEvents('alice', [event('k2', 301n)]), (e: unknown) => e instanceof LedgerRejectedError && /used for another entry/.test(e.message));
  });
});
