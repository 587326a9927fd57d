// The gateway config's `http` section: connection caps with defaults, and extra Host values that must be IP literals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULTS, parseGatewayConfig } from '../../src/gateway/config.js';
import { ValidationError } from '../../src/protocol/validate.js';

test('http: defaults, accepted values, and a 4xx-style error naming the field for the rest', () => {
  const plain = parseGatewayConfig({}, '/tmp');
  const buckets = { unlinkedRequestsPerMinute: DEFAULTS.unlinkedRequestsPerMinute, linkedRequestsPerMinute: DEFAULTS.linkedRequestsPerMinute, agentUpgradesPerMinute: DEFAULTS.agentUpgradesPerMinute };
  assert.deepEqual(plain.http, { allowedHosts: [], maxConnections: DEFAULTS.maxConnections, maxConnectionsPerSubnet: DEFAULTS.maxConnectionsPerSubnet, ...buckets });
  const set = parseGatewayConfig({ http: { allowedHosts: ['127.0.0.1:8480', '[05A1::1]:8480'], maxConnections: 10, maxConnectionsPerSubnet: 3, unlinkedRequestsPerMinute: 7, linkedRequestsPerMinute: 70, agentUpgradesPerMinute: 5 } }, '/tmp');
  assert.deepEqual(set.http, { allowedHosts: ['127.0.0.1:8480', '[5a1::1]:8480'], maxConnections: 10, maxConnectionsPerSubnet: 3, unlinkedRequestsPerMinute: 7, linkedRequestsPerMinute: 70, agentUpgradesPerMinute: 5 });
  assert.equal(parseGatewayConfig({ http: { maxConnections: 10 } }, '/tmp').http.maxConnectionsPerSubnet, 10, 'the per-/64 default never exceeds the total');
  const bad: Array<[unknown, string]> = [
    [{ allowedHosts: ['gateway.example:8480'] }, 'config.http.allowedHosts[0]'],
    [{ allowedHosts: ['127.0.0.1/admin'] }, 'config.http.allowedHosts[0]'],
    [{ maxConnections: 0 }, 'config.http.maxConnections'],
    [{ maxConnections: 10, maxConnectionsPerSubnet: 11 }, 'config.http.maxConnectionsPerSubnet'],
    [{ unlinkedRequestsPerMinute: 0 }, 'config.http.unlinkedRequestsPerMinute'],
    [{ linkedRequestsPerMinute: 1.5 }, 'config.http.linkedRequestsPerMinute'],
    [{ agentUpgradesPerMinute: '60' }, 'config.http.agentUpgradesPerMinute'],
    [{ other: 1 }, 'config.http'],
  ];
  for (const [http, field] of bad) {
    assert.throws(() => parseGatewayConfig({ http }, '/tmp'), (err: unknown) => err instanceof ValidationError && err.field.startsWith(field), JSON.stringify(http));
  }
});
