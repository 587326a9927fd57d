// The farmer's bid pricing policy as a table: resource cost, margin rounded up, floor, the customer's maximum, zero and large sizes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { priceRequest, type PricingPolicy } from '../../src/agent/bidding/pricing-policy.js';

const policy: PricingPolicy = { perCpuHourMicros: 10_000n, perGbRamHourMicros: 2_000n, perGbDiskHourMicros: 100n, floorPerHourMicros: 5_000n, marginBps: 1_000 };
const MAX = 10n ** 30n;

test('priceRequest: cost of each resource, plus the margin (rounded up), never under the floor, never over the maximum', () => {
  const table: Array<[string, PricingPolicy, { cpu: number; memoryGb: number; diskGb: number }, bigint, bigint | string]> = [
    // 1*10000 + 2*2000 + 20*100 = 16000; +10 % = 17600
    ['small VM', policy, { cpu: 1, memoryGb: 2, diskGb: 20 }, MAX, 17_600n],
    ['no margin', { ...policy, marginBps: 0 }, { cpu: 1, memoryGb: 2, diskGb: 20 }, MAX, 16_000n],
    // 1 micro-unit of cost, +10 % = 1.1 -> rounded up to 2 (never rounds a margin away), floor 0
    ['margin rounds up', { ...policy, perCpuHourMicros: 1n, perGbRamHourMicros: 0n, perGbDiskHourMicros: 0n, floorPerHourMicros: 0n }, { cpu: 1, memoryGb: 1, diskGb: 1 }, MAX, 2n],
    ['the floor wins over a cheap size', { ...policy, perCpuHourMicros: 0n, perGbRamHourMicros: 0n, perGbDiskHourMicros: 0n }, { cpu: 1, memoryGb: 1, diskGb: 1 }, MAX, 5_000n],
    ['a zero policy bids zero', { perCpuHourMicros: 0n, perGbRamHourMicros: 0n, perGbDiskHourMicros: 0n, floorPerHourMicros: 0n, marginBps: 0 }, { cpu: 4, memoryGb: 8, diskGb: 80 }, 0n, 0n],
    ['exactly the maximum is a bid', policy, { cpu: 1, memoryGb: 2, diskGb: 20 }, 17_600n, 17_600n],
    ['one micro-unit over the maximum: no bid', policy, { cpu: 1, memoryGb: 2, diskGb: 20 }, 17_599n, 'no-bid'],
    ['the floor over the maximum: no bid', { ...policy, floorPerHourMicros: 1_000_000n }, { cpu: 1, memoryGb: 1, diskGb: 1 }, 999_999n, 'no-bid'],
    // bigint: no overflow at the largest sizes the protocol allows (1024 vCPU, 65536 GB, 1e6 GB disk)
    ['the largest size, no overflow', { ...policy, perCpuHourMicros: 10n ** 12n }, { cpu: 1024, memoryGb: 65_536, diskGb: 1_000_000 }, MAX, ((1024n * 10n ** 12n + 65_536n * 2_000n + 1_000_000n * 100n) * 11_000n + 9_999n) / 10_000n],
  ];
  for (const [name, p, size, max, want] of table) {
    const got = priceRequest(p, size, max);
    if (want === 'no-bid') assert.equal(got.kind, 'no-bid', name);
    else assert.deepEqual(got, { kind: 'bid', pricePerHourMicros: want }, name);
  }
});

test('priceRequest: a no-bid says which price was over which maximum', () => {
  const got = priceRequest(policy, { cpu: 1, memoryGb: 2, diskGb: 20 }, 100n);
  assert.equal(got.kind, 'no-bid');
  assert.match(got.kind === 'no-bid' ? got.reason : '', /17600 .* above the request's maximum 100/);
});
