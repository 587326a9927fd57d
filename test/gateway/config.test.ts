// Gateway config parsing and listen-address checks: defaults, refusals that name the key, and no wildcard listening.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { checkListenAddress, ListenAddressError } from '../../src/gateway/listen-address.js';
import { ValidationError } from '../../src/protocol/validate.js';
import { newIdentity, writeSecureFile } from '../../src/identity/index.js';
import { scratchDir } from '../helpers/paths.js';
import { redactDatabaseUrl } from '../../src/gateway/store/postgres/redact-url.js';

test('defaults: port 8480, 1-hour periods, 90% farmer share, 24 h deposit, 72 h grace, paths under the config folder', () => {
  const c = parseGatewayConfig({}, '/etc/hypha');
  assert.equal(c.port, 8480);
  assert.equal(c.billing.periodMs, 3_600_000);
  assert.equal(c.billing.farmerShareBps, 9000);
  assert.equal(c.billing.depositMs, 24 * 3_600_000);
  assert.equal(c.billing.graceMs, 72 * 3_600_000);
  assert.equal(c.billing.pauseInGrace, true);
  assert.equal(c.heartbeatIntervalMs, 15_000);
  assert.equal(c.dataDir, '/etc/hypha/data');
  assert.deepEqual(c.ledger, { kind: 'embedded', dir: '/etc/hypha/data/ledger' });
  assert.equal(c.lab, undefined);
});

test('/64s in the config are kept in one normal form: "4a1:0:0:0::/64" is the admin "4a1::/64"', () => {
  const agent = newIdentity().agent;
  const c = parseGatewayConfig({ admins: ['4A1:0:0:0::/64'], agents: [{ agent, subnets: ['05b2:0:0:0:0:0:0:0/64'], nodes: ['n1'] }] }, '/');
  assert.deepEqual(c.admins, ['4a1::/64']);
  assert.deepEqual(c.agents[0]?.subnets, ['5b2::/64']);
});

test('abuse limits: defaults, and each is a validated config value', () => {
  const c = parseGatewayConfig({}, '/');
  assert.deepEqual(c.agentRequests, { maxPerSubnet: 3, maxTotal: 1000, expireAfterMs: 168 * 3_600_000 });
  assert.equal(c.orders.maxUnpaid, 10);
  assert.equal(c.orders.maxPerWindow, 50);
  assert.equal(c.orders.windowMs, 24 * 3_600_000);
  assert.equal(c.orders.maxSshKeyBytes, 8192);
  assert.equal(c.orders.historyPerCustomer, 200);
  assert.equal(c.events.keepInMemory, 100_000);
  const set = parseGatewayConfig({ agentRequests: { maxPerSubnet: 1, maxTotal: 5, expireAfterHours: 1 }, orders: { maxPerWindow: 5, windowHours: 1, maxSshKeyBytes: 9000, historyPerCustomer: 5, maxUnpaid: 2 }, events: { keepInMemory: 1000 } }, '/');
  assert.deepEqual(set.agentRequests, { maxPerSubnet: 1, maxTotal: 5, expireAfterMs: 3_600_000 });
  assert.equal(set.orders.maxUnpaid, 2);
  const cases: Array<[unknown, string]> = [
    [{ agentRequests: { maxPerSubnet: 0 } }, 'config.agentRequests.maxPerSubnet'],
    [{ agentRequests: { maxTotal: 1.5 } }, 'config.agentRequests.maxTotal'],
    [{ agentRequests: { expireAfterHours: 0 } }, 'config.agentRequests.expireAfterHours'],
    [{ agentRequests: { max: 1 } }, 'config.agentRequests.max'],
    [{ orders: { maxPerWindow: 0 } }, 'config.orders.maxPerWindow'],
    [{ orders: { windowHours: 0 } }, 'config.orders.windowHours'],
    [{ orders: { maxSshKeyBytes: 100 } }, 'config.orders.maxSshKeyBytes'],
    [{ orders: { maxPerWindow: 300 } }, 'config.orders.historyPerCustomer'],
    [{ events: { keepInMemory: -1 } }, 'config.events.keepInMemory'],
  ];
  for (const [raw, field] of cases) assert.throws(() => parseGatewayConfig(raw, '/'), (e: unknown) => e instanceof ValidationError && e.field === field, JSON.stringify(raw));
});

test('bad values are refused naming the key', () => {
  const cases: Array<[unknown, string]> = [
    [{ port: 0 }, 'config.port'],
    [{ prot: 1 }, 'config.prot'],
    [{ admins: ['nope'] }, 'config.admins[0]'],
    [{ admins: ['2001:db8::/64'] }, 'config.admins[0]'],
    [{ billing: { farmerSharePercent: 101 } }, 'config.billing.farmerSharePercent'],
    [{ billing: { farmerSharePercent: 90.123 } }, 'config.billing.farmerSharePercent'],
    [{ billing: { graceHours: '72' } }, 'config.billing.graceHours'],
    [{ prices: { small: 0.05 } }, 'config.prices.small'],
    [{ agents: [{ agent: newIdentity().agent, subnets: ['4a1::1/64'], nodes: ['n1'] }] }, 'config.agents[0].subnets[0]'],
    [{ ledger: { kind: 'bank' } }, 'config.ledger.kind'],
    [{ lab: { hourSeconds: 1, epochMs: 0 } }, 'config.lab'],
  ];
  for (const [raw, field] of cases) {
    assert.throws(() => parseGatewayConfig(raw, '/'), (e: unknown) => (e instanceof ValidationError && e.field === field) || (e instanceof RangeError && e.message.startsWith(field)), JSON.stringify(raw));
  }
});

test('listen addresses: only 400::/7, with the reason and what to do instead', () => {
  assert.equal(checkListenAddress('[0570:75B1:b695:5ed7:541e:e8d8:efbb:b9a0]'), '570:75b1:b695:5ed7:541e:e8d8:efbb:b9a0');
  for (const bad of ['::', '0.0.0.0', '127.0.0.1', '::1', 'fe80::1', '2001:db8::1', '::ffff:10.0.0.1', 'localhost']) {
    assert.throws(() => checkListenAddress(bad), (e: unknown) => e instanceof ListenAddressError && /refusing to listen/.test(e.message) && /--listen/.test(e.message), bad);
  }
});

test('a grid provisioner is checked when the config loads: typed fields, paths resolved, the mnemonic file checked but not kept', () => {
  const scratch = scratchDir('hypha-grid-config-');
  try {
    const farmer = newIdentity().agent;
    writeSecureFile(join(scratch.dir, 'grid.mnemonic'), 'legal winner thank year wave sausage worth useful legal winner thank yellow\n');
    const c = parseGatewayConfig({ provisioner: { kind: 'grid', network: 'test', mnemonicFile: 'grid.mnemonic', farmers: { '7': farmer }, twinId: 42 } }, scratch.dir);
    assert.deepEqual(c.provisioner, { kind: 'grid', network: 'test', mnemonicFile: join(scratch.dir, 'grid.mnemonic'), farmers: { '7': farmer }, twinId: 42 });
    assert.ok(!JSON.stringify(c).includes('legal'), 'the mnemonic is not in the config');
    writeFileSync(join(scratch.dir, 'open.mnemonic'), 'legal winner thank year wave sausage worth useful legal winner thank yellow\n');
    chmodSync(join(scratch.dir, 'open.mnemonic'), 0o644);
    const base = { kind: 'grid', network: 'test', mnemonicFile: 'grid.mnemonic', farmers: { '7': farmer } };
    const cases: Array<[unknown, string]> = [
      [{ ...base, network: 'mainnet' }, 'config.provisioner.network'],
      [{ ...base, farmers: {} }, 'config.provisioner.farmers'],
      [{ ...base, farmers: { '7': 'uhCAknope' } }, 'config.provisioner.farmers.7'],
      [{ ...base, mnemonicFile: 'open.mnemonic' }, 'config.provisioner.mnemonicFile'],
      [{ ...base, mnemonicFile: 'missing.mnemonic' }, 'config.provisioner.mnemonicFile'],
      [{ ...base, mnemonicEnv: 'HYPHA_GRID_MNEMONIC' }, 'config.provisioner.mnemonicFile'],
      [{ ...base, deployTimeoutMs: 0 }, 'config.provisioner.deployTimeoutMs'],
      [{ ...base, gridproxyUrl: 'gridproxy.grid.tf' }, 'config.provisioner.gridproxyUrl'],
      [{ ...base, twinId: -1 }, 'config.provisioner.twinId'],
      [{ ...base, mnemonic: 'legal winner' }, 'config.provisioner.mnemonic'],
    ];
    for (const [provisioner, field] of cases) {
      assert.throws(
        () => parseGatewayConfig({ provisioner }, scratch.dir),
        (e: unknown) => e instanceof ValidationError && e.field === field && !e.message.includes('legal winner thank'),
        JSON.stringify(provisioner),
      );
    }
  } finally {
    scratch.remove();
  }
});

test('store: embedded by default; postgres from config.store or HYPHA_DATABASE_URL; bad values name the field and never repeat the URL', () => {
  assert.deepEqual(parseGatewayConfig({}, '/').store, { kind: 'embedded' });
  assert.deepEqual(parseGatewayConfig({ store: { kind: 'embedded' } }, '/', 'postgres://u:p@h/db').store, { kind: 'embedded' }, 'an explicit embedded store wins over the environment');
  assert.deepEqual(parseGatewayConfig({}, '/', 'postgres://u:p@h/db').store, { kind: 'postgres', url: 'postgres://u:p@h/db' });
  assert.deepEqual(parseGatewayConfig({ store: { kind: 'postgres' } }, '/', 'postgresql://u@/db?host=/run/pg').store, { kind: 'postgres', url: 'postgresql://u@/db?host=/run/pg' });
  assert.deepEqual(parseGatewayConfig({ store: { kind: 'postgres', url: 'postgres://a@h/x' } }, '/', 'postgres://b@h/y').store, { kind: 'postgres', url: 'postgres://a@h/x' });
  const cases: Array<[unknown, string | undefined, string]> = [
    [{ kind: 'postgres' }, undefined, 'config.store.url'],
    [{ kind: 'postgres', url: 'mysql://u:hunter2@h/db' }, undefined, 'config.store.url'],
    [{ kind: 'postgres', url: 'postgres://u:hunter2@h/my db' }, undefined, 'config.store.url'],
    [{ kind: 'postgres', url: 42 }, undefined, 'config.store.url'],
    [{ kind: 'sqlite' }, undefined, 'config.store.kind'],
    [{ kind: 'embedded', url: 'postgres://h/db' }, undefined, 'config.store.url'],
    ['postgres', undefined, 'config.store'],
    [undefined, 'http://u:hunter2@h/db', 'HYPHA_DATABASE_URL'],
  ];
  for (const [store, env, field] of cases) {
    assert.throws(
      () => parseGatewayConfig(store === undefined ? {} : { store }, '/', env),
      (e: unknown) => e instanceof ValidationError && e.field === field && !e.message.includes('hunter2'),
      `${JSON.stringify(store)} / ${String(env)}`,
    );
  }
});

test('redactDatabaseUrl: the password is masked in the userinfo and in a password= parameter; a URL without one is unchanged', () => {
  assert.equal(redactDatabaseUrl('postgres://hypha:s3cr%40t@db.example:5432/hypha'), 'postgres://hypha:***@db.example:5432/hypha');
  assert.equal(redactDatabaseUrl('postgresql://hypha@/hypha?host=/run/pg&password=s3cret&port=5433'), 'postgresql://hypha@/hypha?host=/run/pg&password=***&port=5433');
  assert.equal(redactDatabaseUrl('postgresql://hypha@/hypha?host=%2Ftmp%2Fsock&port=5432'), 'postgresql://hypha@/hypha?host=%2Ftmp%2Fsock&port=5432');
  assert.equal(redactDatabaseUrl('postgres://:only-password@h/db'), 'postgres://:***@h/db');
});
