// docs/operator.md names every config key the gateway's and the agent's config loaders accept, and the environment variables they read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { parseAgentConfig } from '../../src/agent/config.js';
import { ValidationError } from '../../src/protocol/validate.js';
import { DATABASE_URL_ENV } from '../../src/gateway/store/store-config.js';

const OPERATOR_DOC = readFileSync(new URL('../../../docs/operator.md', import.meta.url), 'utf8');

/** A key no loader knows: each object the loaders read refuses it, listing the keys it takes. */
const PROBE = 'notAKey';

/**
 * The keys a config object accepts, as its loader says when given an unknown one: expectOnlyKeys
 * (src/protocol/validate.ts) names them in its refusal. The loaders keep their key lists inline.
 */
function acceptedKeys(load: (raw: Record<string, unknown>) => unknown, raw: Record<string, unknown>, field: string): string[] {
  try {
    load(raw);
  } catch (err) {
    assert.ok(err instanceof ValidationError, `${field}: ${String(err)}`);
    assert.equal(err.field, `${field}.${PROBE}`, `the probe of ${field} was refused for something else: ${err.field} ${err.message}`);
    const list = /\(expected (.*)\)$/.exec(err.message)?.[1] ?? '';
    return [...list.matchAll(/"([^"]+)"/g)].map((m) => m[1] as string);
  }
  throw new Error(`${field}: the loader accepted the unknown key ${PROBE}`);
}

const gateway = (raw: Record<string, unknown>): unknown => parseGatewayConfig(raw, '/nonexistent');
const agentBase = { gateway: 'http://[400::1]:8480', nodes: [{ id: 'node-1' }] };
const agent = (raw: Record<string, unknown>): unknown => parseAgentConfig({ ...agentBase, ...raw }, '/nonexistent');
const probe = { [PROBE]: 1 };

/** Each object the loaders read: the config it is probed with, and how docs/operator.md names its keys. */
const OBJECTS: ReadonlyArray<{ load: typeof gateway; raw: Record<string, unknown>; field: string; prefix: string }> = [
  { load: gateway, raw: probe, field: 'config', prefix: '' },
  ...['link', 'billing', 'orders', 'agentRequests', 'events', 'escrow', 'trust', 'market', 'redeploy', 'probes', 'http', 'ha'].map((s) => ({ load: gateway, raw: { [s]: probe }, field: `config.${s}`, prefix: `${s}.` })),
  { load: gateway, raw: { store: { kind: 'postgres', url: 'postgres://h/db', ...probe } }, field: 'config.store', prefix: '' },
  { load: gateway, raw: { ledger: { kind: 'embedded', ...probe } }, field: 'config.ledger', prefix: '' },
  { load: gateway, raw: { ledger: { kind: 'embedded-remote', ...probe } }, field: 'config.ledger', prefix: '' },
  { load: gateway, raw: { ledger: { kind: 'unyt', ...probe } }, field: 'config.ledger', prefix: '' },
  { load: gateway, raw: { provisioner: { kind: 'agent', ...probe } }, field: 'config.provisioner', prefix: '' },
  { load: gateway, raw: { provisioner: { kind: 'grid', ...probe } }, field: 'config.provisioner', prefix: '' },
  { load: agent, raw: probe, field: 'config', prefix: '' },
  { load: agent, raw: { nodes: [{ id: 'node-1', ...probe }] }, field: 'config.nodes[0]', prefix: '' },
  { load: agent, raw: { reconnect: probe }, field: 'config.reconnect', prefix: 'reconnect.' },
  { load: agent, raw: { vmDriver: probe }, field: 'config.vmDriver', prefix: '' },
  { load: agent, raw: { bidding: probe }, field: 'config.bidding', prefix: '' },
  { load: gateway, raw: { agents: [probe] }, field: 'config.agents[0]', prefix: '' },
  { load: gateway, raw: { trust: { tiers: [probe] } }, field: 'config.trust.tiers[0]', prefix: '' },
];

/**
 * Whether docs/operator.md names the key in code spans: as `prefix.key` (or, in a table that
 * lists one object's keys, `key` alone), or as one of `a`, `b` in a row's first cell, or as
 * `"key":` in an example config (`"key"?` when optional).
 */
function documented(prefix: string, key: string): boolean {
  if (OPERATOR_DOC.includes(`\`${prefix}${key}\``) || OPERATOR_DOC.includes(`\`${prefix}${key}.`)) return true;
  if (OPERATOR_DOC.includes(`"${key}":`) || OPERATOR_DOC.includes(`"${key}"?`)) return true;
  return OPERATOR_DOC.split('\n').some((line) => line.startsWith('| ') && (line.split('|')[1] ?? '').includes(`\`${key}\``));
}

test('every key the gateway and agent config loaders accept is in docs/operator.md', () => {
  const missing: string[] = [];
  let count = 0;
  for (const o of OBJECTS) {
    const keys = acceptedKeys(o.load, o.raw, o.field);
    assert.ok(keys.length > 0, `${o.field}: no keys read`);
    count += keys.length;
    for (const key of keys) if (key !== 'lab' && !documented(o.prefix, key)) missing.push(`${o.field}.${key}`);
  }
  assert.ok(count >= 100, `only ${count} keys read`);
  assert.deepEqual(missing, []);
});

test('the environment variables the gateway and agent read are in docs/operator.md', () => {
  // Read by src/protocol/logger.ts, src/agent/json-lines-logger.ts, src/gateway/store/store-config.ts
  // and src/agent/lab-vm/lab-only.ts.
  for (const name of ['HYPHA_LOG_LEVEL', DATABASE_URL_ENV, 'HYPHA_LAB_STATE']) assert.ok(OPERATOR_DOC.includes(name), name);
});
