// The `market` and `redeploy` gateway config blocks and the agent's `bidding`: defaults, and refusals that name the key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { parseAgentConfig } from '../../src/agent/config.js';
import { ValidationError } from '../../src/protocol/validate.js';

test('market and redeploy: defaults and bounds', () => {
  const c = parseGatewayConfig({}, '/etc/hypha');
  assert.deepEqual(c.market, { maxRequests: 10_000, maxExpiresInMinutes: 1440 });
  assert.deepEqual(c.redeploy, { afterMs: 30 * 60_000, maxPerDay: 3 });
  const set = parseGatewayConfig({ market: { maxRequests: 5, maxExpiresInMinutes: 10 }, redeploy: { afterMinutes: 5, maxPerDay: 0 } }, '/');
  assert.deepEqual(set.market, { maxRequests: 5, maxExpiresInMinutes: 10 });
  assert.deepEqual(set.redeploy, { afterMs: 5 * 60_000, maxPerDay: 0 });
  const bad: Array<[unknown, string]> = [
    [{ market: { maxRequests: 0 } }, 'config.market.maxRequests'],
    [{ market: { maxExpiresInMinutes: 20_000 } }, 'config.market.maxExpiresInMinutes'],
    [{ market: { size: 1 } }, 'config.market.size'],
    [{ redeploy: { afterMinutes: 0 } }, 'config.redeploy.afterMinutes'],
    [{ redeploy: { maxPerDay: 101 } }, 'config.redeploy.maxPerDay'],
    [{ redeploy: { enabled: true } }, 'config.redeploy.enabled'],
  ];
  for (const [raw, field] of bad) assert.throws(() => parseGatewayConfig(raw, '/'), (err: unknown) => err instanceof ValidationError && err.field === field, field);
});

test('the agent\'s bidding block is optional and checked when the config loads', () => {
  const base = { gateway: 'http://[4a1::1]:8480', nodes: [{ id: 'n1' }] };
  assert.equal(parseAgentConfig(base, '/').bidding, undefined);
  const c = parseAgentConfig({ ...base, bidding: { perCpuHour: '0.01', marginPercent: 12.5 } }, '/');
  assert.equal(c.bidding?.policy.perCpuHourMicros, 10_000n);
  assert.equal(c.bidding?.policy.marginBps, 1250);
  assert.throws(() => parseAgentConfig({ ...base, bidding: { perCpuHour: 1 } }, '/'), (err: unknown) => err instanceof ValidationError && err.field === 'config.bidding.perCpuHour');
});
