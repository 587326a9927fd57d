// Trust tiers: the pure rule from a customer's history (and an admin's override) to a tier, and the config that defines the tiers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { trustStanding, type TrustHistory, type TrustTier } from '../../src/gateway/trust/trust-tier.js';
import { ValidationError } from '../../src/protocol/validate.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 1);
const tiers: TrustTier[] = [
  { name: 'new', minPaidHours: 0, minPaidMicros: 0n, minAgeMs: 0, maxVms: 1, depositMs: 48 * HOUR },
  { name: 'established', minPaidHours: 100, minPaidMicros: 0n, minAgeMs: 0, maxVms: 5, depositMs: 24 * HOUR },
  { name: 'trusted', minPaidHours: 1000, minPaidMicros: 50_000_000n, minAgeMs: 30 * 24 * HOUR, maxVms: 20, depositMs: 24 * HOUR },
];
const history = (over: Partial<TrustHistory> = {}): TrustHistory => ({ paidUpSeconds: 0, paidMicros: 0n, firstPaidAtMs: null, arrearsMicros: 0n, ...over });

test('trustStanding: from history, arrears and an admin override to a tier, and what raises it', async (t) => {
  const cases: Array<{ name: string; h: TrustHistory; now?: number; override?: string; tier: string; source: string; raised: RegExp | null }> = [
    { name: 'a new identity: the first tier', h: history(), tier: 'new', source: 'history', raised: /tier "established" \(5 VMs\) needs 100 paid VM-hours \(you have 0\)/ },
    { name: '99 h 59 min paid: still new', h: history({ paidUpSeconds: 100 * 3600 - 1, firstPaidAtMs: T0 }), tier: 'new', source: 'history', raised: /you have 99\)/ },
    { name: '100 paid hours: established', h: history({ paidUpSeconds: 100 * 3600, firstPaidAtMs: T0 }), tier: 'established', source: 'history', raised: /1000 paid VM-hours .* and 50\.000000 paid in all .* and 720 h since your first paid hour/ },
    { name: 'every trusted need but age: established', h: history({ paidUpSeconds: 2000 * 3600, paidMicros: 60_000_000n, firstPaidAtMs: T0 }), now: T0 + 10 * 24 * HOUR, tier: 'established', source: 'history', raised: /720 h since your first paid hour \(240 h so far\)/ },
    { name: 'every trusted need: trusted, the top', h: history({ paidUpSeconds: 2000 * 3600, paidMicros: 60_000_000n, firstPaidAtMs: T0 }), now: T0 + 31 * 24 * HOUR, tier: 'trusted', source: 'history', raised: null },
    { name: 'arrears: back to the first tier', h: history({ paidUpSeconds: 2000 * 3600, paidMicros: 60_000_000n, firstPaidAtMs: T0, arrearsMicros: 1n }), now: T0 + 31 * 24 * HOUR, tier: 'new', source: 'arrears', raised: /paying your arrears \(0\.000001\)/ },
    { name: 'an admin override wins, arrears or not', h: history({ arrearsMicros: 5n }), override: 'trusted', tier: 'trusted', source: 'admin', raised: null },
    { name: 'an override naming a tier no longer configured is ignored', h: history(), override: 'gold', tier: 'new', source: 'history', raised: /established/ },
  ];
  for (const c of cases) {
    await t.test(c.name, () => {
      const s = trustStanding(c.h, tiers, c.now ?? T0 + HOUR, c.override === undefined ? undefined : { tier: c.override, by: 'uhCAkadmin', atMs: T0, reason: 'test' });
      assert.equal(s.tier.name, c.tier);
      assert.equal(s.source, c.source);
      if (c.raised === null) assert.equal(s.raisedBy, null);
      else assert.match(s.raisedBy ?? '', c.raised);
    });
  }
});

test('config trust.tiers: parsed in order; without it one unlimited tier at the billing deposit; bad tiers refused naming the key', () => {
  const parsed = parseGatewayConfig({ trust: { tiers: [{ name: 'new', maxVms: 1, depositHours: 48 }, { name: 'established', minPaidHours: 100, maxVms: 5, depositHours: 24, minPaid: '10' }] } }, '/tmp');
  assert.deepEqual(parsed.trust.tiers.map((x) => [x.name, x.maxVms, x.depositMs / HOUR, x.minPaidHours, x.minPaid]), [
    ['new', 1, 48, 0, '0.000000'],
    ['established', 5, 24, 100, '10.000000'],
  ]);
  const none = parseGatewayConfig({ billing: { depositHours: 12 } }, '/tmp');
  assert.equal(none.trust.tiers.length, 1);
  assert.equal(none.trust.tiers[0]?.depositMs, 12 * HOUR, 'no tiers: the billing deposit, as before');
  const bad: Array<[unknown, string]> = [
    [{ tiers: [{ name: 'new', minPaidHours: 1, maxVms: 1, depositHours: 1 }] }, 'config.trust.tiers[0]'],
    [{ tiers: [{ name: 'a', maxVms: 1, depositHours: 1 }, { name: 'b', maxVms: 1 }] }, 'config.trust.tiers[1].depositHours'],
    [{ tiers: [{ name: 'a', maxVms: 1, depositHours: 1 }, { name: 'a', maxVms: 2, depositHours: 1 }] }, 'config.trust.tiers[1].name'],
    [{ tiers: [{ name: 'a', maxVms: 1, depositHours: 1 }, { name: 'b', minPaidHours: 10, maxVms: 2, depositHours: 1 }, { name: 'c', minPaidHours: 5, maxVms: 3, depositHours: 1 }] }, 'config.trust.tiers[2]'],
    [{ tiers: [{ name: 'a', maxVms: 0, depositHours: 1 }] }, 'config.trust.tiers[0].maxVms'],
    [{ tiers: [] }, 'config.trust.tiers'],
    [{ levels: [] }, 'config.trust.levels'],
  ];
  for (const [trust, field] of bad) {
    assert.throws(() => parseGatewayConfig({ trust }, '/tmp'), (err: unknown) => err instanceof ValidationError && err.field === field, JSON.stringify(trust));
  }
});
