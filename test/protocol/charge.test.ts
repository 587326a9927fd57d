// computeCharge: known-answer table (test/vectors/charges.json), refused inputs, and a seeded property test against an EmbeddedLedger.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { computeCharge } from '../../src/protocol/charge.js';
import { formatAmount, parseAmount, UNIT } from '../../src/protocol/money.js';
import { EmbeddedLedger } from '../../src/gateway/ledger/embedded-ledger.js';
import { readVectors, scratchDir } from '../helpers/paths.js';
import { SeededRandom, testSeed } from '../helpers/seeded-random.js';

interface AcceptedCharge {
  name: string;
  pricePerHour: string;
  upSeconds: number;
  farmerShareBps: number;
  amount: string;
  amountMicros: string;
  farmerShareMicros: string;
  feeMicros: string;
}
interface RefusedCharge {
  name: string;
  pricePerHourMicros: string;
  upSeconds: number;
  farmerShareBps: number;
  field: string;
}

const vectors = readVectors<{ accepted: AcceptedCharge[]; refused: RefusedCharge[] }>('charges.json');

test('charges: the known-answer table', async (t) => {
  assert.ok(vectors.accepted.length >= 20, 'the vectors file was read');
  for (const v of vectors.accepted) {
    await t.test(v.name, () => {
      const c = computeCharge(parseAmount('pricePerHour', v.pricePerHour), v.upSeconds, v.farmerShareBps);
      assert.equal(c.amountMicros, BigInt(v.amountMicros), 'amount');
      assert.equal(formatAmount(c.amountMicros), v.amount, 'amount as a decimal string');
      assert.equal(c.farmerShareMicros, BigInt(v.farmerShareMicros), 'farmer share');
      assert.equal(c.feeMicros, BigInt(v.feeMicros), 'fee');
      assert.equal(typeof c.amountMicros, 'bigint');
    });
  }
});

test('charges: a charge past 2^64 micro-units is exact (bigint, no overflow)', () => {
  const big = vectors.accepted.find((v) => v.name.startsWith('10^12 SPORE/h'));
  assert.ok(big);
  const c = computeCharge(parseAmount('pricePerHour', big.pricePerHour), big.upSeconds, big.farmerShareBps);
  assert.ok(c.amountMicros > 2n ** 64n);
  assert.equal(c.amountMicros, 10n ** 18n * 87_600n, '10^18 micros/h x 87,600 h');
});

test('charges: refused inputs throw RangeError naming the argument', async (t) => {
  const cases: RefusedCharge[] = [
    ...vectors.refused,
    { name: 'NaN up-seconds', pricePerHourMicros: '50000', upSeconds: Number.NaN, farmerShareBps: 9000, field: 'upSeconds' },
    { name: 'infinite up-seconds', pricePerHourMicros: '50000', upSeconds: Number.POSITIVE_INFINITY, farmerShareBps: 9000, field: 'upSeconds' },
    { name: 'NaN share', pricePerHourMicros: '50000', upSeconds: 3600, farmerShareBps: Number.NaN, field: 'farmerShareBps' },
  ];
  for (const v of cases) {
    await t.test(v.name, () => {
      assert.throws(
        () => computeCharge(BigInt(v.pricePerHourMicros), v.upSeconds, v.farmerShareBps),
        (e: unknown) => e instanceof RangeError && e.message.startsWith(v.field),
      );
    });
  }
});

/** The invariants of one charge, with the inputs in the message so a failure can be read. */
function checkCharge(price: bigint, up: number, bps: number, seed: number): ReturnType<typeof computeCharge> {
  const c = computeCharge(price, up, bps);
  const what = `seed ${seed}: price ${price} micros/h, ${up} s, ${bps} bps -> ${c.amountMicros}/${c.farmerShareMicros}/${c.feeMicros}`;
  assert.equal(c.farmerShareMicros + c.feeMicros, c.amountMicros, `share + fee = amount (${what})`);
  assert.ok(c.feeMicros >= 0n, `fee >= 0 (${what})`);
  assert.ok(c.farmerShareMicros >= 0n && c.farmerShareMicros <= c.amountMicros, `0 <= share <= amount (${what})`);
  // Rounded down to a micro: amount x 3600 <= price x up < (amount + 1) x 3600.
  const exact = price * BigInt(up);
  assert.ok(c.amountMicros * 3600n <= exact && exact < (c.amountMicros + 1n) * 3600n, `amount is price x up / 3600 rounded down (${what})`);
  // The share is rounded down too: share x 10000 <= amount x bps < (share + 1) x 10000.
  const shareExact = c.amountMicros * BigInt(bps);
  assert.ok(c.farmerShareMicros * 10_000n <= shareExact && shareExact < (c.farmerShareMicros + 1n) * 10_000n, `share is amount x bps rounded down (${what})`);
  return c;
}

function randomPrice(rng: SeededRandom): bigint {
  switch (rng.int(0, 3)) {
    case 0:
      return BigInt(rng.int(0, 100)); // a few micros: the rounding edges
    case 1:
      return BigInt(rng.int(0, 10_000_000)); // up to 10 SPORE/h
    case 2:
      return rng.bigDigits(rng.int(1, 18));
    default:
      return rng.bigDigits(36); // up to the largest amount money.ts reads
  }
}

function randomUpSeconds(rng: SeededRandom): number {
  switch (rng.int(0, 3)) {
    case 0:
      return rng.int(0, 3);
    case 1:
      return rng.int(0, 3600);
    case 2:
      return rng.pick([3599, 3600, 3601, 7199, 7200]);
    default:
      return rng.int(0, Number.MAX_SAFE_INTEGER);
  }
}

function randomBps(rng: SeededRandom): number {
  return rng.int(0, 2) === 0 ? rng.pick([0, 1, 5000, 9000, 9999, 10_000]) : rng.int(0, 10_000);
}

test('charges (property): share + fee = amount, 0 <= fee, share <= amount, both rounded down', (t) => {
  const seed = testSeed();
  t.diagnostic(`seed ${seed} (repeat with HYPHA_TEST_SEED=${seed})`);
  const rng = new SeededRandom(seed);
  for (let i = 0; i < 20_000; i++) checkCharge(randomPrice(rng), randomUpSeconds(rng), randomBps(rng), seed);
});

test('charges (property): over random runs, sum of charges = sum of shares + fees = what the EmbeddedLedger debited', async (t) => {
  const seed = testSeed();
  t.diagnostic(`seed ${seed} (repeat with HYPHA_TEST_SEED=${seed})`);
  const rng = new SeededRandom(seed);
  const scratch = scratchDir();
  try {
    for (let run = 0; run < 6; run++) {
      const ledger = EmbeddedLedger.open(join(scratch.dir, `run-${run}`), () => 0);
      try {
        const customers = ['cust-a', 'cust-b', 'cust-c'];
        const bps = randomBps(rng);
        const charges = Array.from({ length: rng.int(1, 40) }, (_, i) => {
          const c = checkCharge(BigInt(rng.int(0, 5_000_000)), rng.int(0, 3600), bps, seed);
          return { key: `run${run}:dep${i}:period`, customer: rng.pick(customers), ...c };
        });
        const owed = new Map<string, bigint>();
        for (const c of charges) owed.set(c.customer, (owed.get(c.customer) ?? 0n) + c.amountMicros);
        const extra = BigInt(rng.int(0, 1000));
        for (const customer of customers) await ledger.fund(customer, (owed.get(customer) ?? 0n) + extra + 1n, `fund:${customer}`);
        const before = new Map(await Promise.all(customers.map(async (c) => [c, (await ledger.balance(c)).availableMicros] as const)));

        const results = await Promise.all(
          charges.map((c) =>
            ledger.postBillingEvent({ key: c.key, customer: c.customer, farmer: 'farmer-1', amountMicros: c.amountMicros, unit: UNIT, receiptIds: [c.key], invoice: {} }),
          ),
        );
        assert.ok(results.every((r) => r.status === 'paid'), `seed ${seed} run ${run}: every funded event is paid`);

        const sumAmount = charges.reduce((s, c) => s + c.amountMicros, 0n);
        const sumSplit = charges.reduce((s, c) => s + c.farmerShareMicros + c.feeMicros, 0n);
        assert.equal(sumSplit, sumAmount, `seed ${seed} run ${run}: sum of shares + fees = sum of charges`);
        assert.equal(ledger.summary().collectedMicros, sumAmount, `seed ${seed} run ${run}: the ledger collected the sum of charges`);
        let dropped = 0n;
        for (const customer of customers) {
          const drop = (before.get(customer) as bigint) - (await ledger.balance(customer)).availableMicros;
          assert.equal(drop, owed.get(customer) ?? 0n, `seed ${seed} run ${run}: ${customer}'s balance dropped by their charges`);
          dropped += drop;
        }
        assert.equal(dropped, sumAmount, `seed ${seed} run ${run}: balances dropped by the sum of charges`);
      } finally {
        await ledger.close();
      }
    }
  } finally {
    scratch.remove();
  }
});
