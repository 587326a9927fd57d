// GridProvisioner with a FakeGridClient (a stand-in for @threefold/grid_client) and a real local grid proxy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inspect } from 'node:util';
import { vmAddress, writeSecureFile } from '../../src/identity/index.js';
import { ProvisionError } from '../../src/gateway/provision/provisioner.js';
import type { VmHandle, VmSpec } from '../../src/gateway/provision/provisioner.js';
import {
  GRID_CLIENT_PACKAGE,
  GridProvisioner,
  classifyGridError,
  loadGridClientFactory,
  TFCHAIN_KEY_ERRORS,
} from '../../src/gateway/provision/grid-provisioner.js';
import type {
  GridErrorAction,
  GridProvisionerConfig,
} from '../../src/gateway/provision/grid-provisioner.js';
import { GRID_REF } from '../../src/gateway/provision/machines-model.js';
import type { GridMachinesModel } from '../../src/gateway/provision/machines-model.js';
import type { Offer } from '../../src/protocol/offer.js';
import { scratchDir } from '../helpers/paths.js';
import { FakeGridClient, FARMER_1, FARMER_7, MNEMONIC, NETWORK_PREFIX, harness, type Harness } from '../helpers/fake-grid.js';

const KEYS = ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHhyphaTestKeyxxxxxxxxxxxxxxxxxxxxxxxxxxxx alice@laptop'];
const SMALL: Offer = { id: 'small', cpu: 1, memoryGb: 2, diskGb: 25, pricePerHourMicros: 50_000n, unit: 'SPORE' };

/** A grid_client error as @threefold/types builds it (tfgrid-sdk-ts packages/types/src/errors/base_error.ts): message "Name: text", plus `module` and `code`. */
function gridError(module: string, code: number, name: string, message: string): Error {
  return Object.assign(new Error(`${name}: ${message}`), { module, code });
}

/**
 * A FakeTFChainError shaped like tfchain_client's (tfgrid-sdk-ts packages/tfchain_client/src/errors.ts):
 * name "TFChainError", enumerable read-only `keyError` (the pallet error name, "GenericError" when none), `section`, `method`.
 */
function tfchainError(keyError: string | undefined, section = 'smartContractModule'): Error {
  const err = new Error(`Module Error: Failed to apply 'createNodeContract' on section '${section}' with args '1,0x…'.`);
  err.name = 'TFChainError';
  for (const [key, value] of Object.entries({ keyError: keyError ?? 'GenericError', section, method: 'createNodeContract' })) {
    Object.defineProperty(err, key, { value, enumerable: true });
  }
  return err;
}

function vmSpec(overrides: Partial<VmSpec> = {}): VmSpec {
  return { deploymentId: 'dep-1', name: 'hy0001', offer: SMALL, sshKeys: KEYS, node: '11', ...overrides };
}

function isProvisionError(operation: string, retryable: boolean, message?: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof ProvisionError, `expected a ProvisionError, got ${String(err)}`);
    assert.equal(err.operation, operation);
    assert.equal(err.retryable, retryable, `retryable of: ${err.message}`);
    if (message) assert.match(err.message, message);
    return true;
  };
}

test('candidateNodes: nodes of configured farms only, each with its farmer, most room first, none rented or dedicated, without loading grid_client', async () => {
  const h = await harness();
  try {
    const candidates = await h.provisioner.candidateNodes(SMALL);
    assert.deepEqual(candidates, [
      { node: '11', farmer: FARMER_1, freeSlots: 36 },
      { node: '12', farmer: FARMER_1, freeSlots: 10 },
      { node: '13', farmer: FARMER_7, freeSlots: 1 },
    ]);
    assert.equal(h.proxyQueries[0]?.get('farm_ids'), '1,7');
    assert.equal(h.proxyQueries[0]?.get('features'), 'mycelium');
    assert.equal(h.proxyQueries[0]?.get('rented'), 'false');
    assert.equal(h.proxyQueries[0]?.get('in_dedicated_farm'), 'false');
    assert.equal(h.proxyQueries[0]?.get('available_for'), null);
    assert.equal(h.clients.length, 0, 'node search needs no grid client');
  } finally {
    await h.done();
  }
});

test('candidateNodes: once connected, asks for nodes available to the gateway twin', async () => {
  const h = await harness();
  try {
    await h.provisioner.deploy(vmSpec());
    const candidates = await h.provisioner.candidateNodes(SMALL);
    assert.equal(h.proxyQueries[0]?.get('available_for'), '4242');
    assert.equal(h.proxyQueries[0]?.get('rented'), null);
    assert.equal(h.proxyQueries[0]?.get('in_dedicated_farm'), null);
    // 20 is in a dedicated farm and rented by the gateway's twin 4242; 19 (dedicated farm, not rented), 21 (rented by 777) and 22 (extra fee) stay out.
    assert.deepEqual(
      candidates.map((c) => c.node),
      ['11', '12', '20', '13'],
    );
  } finally {
    await h.done();
  }
});

test('candidateNodes: a failing grid proxy is a retryable ProvisionError', async () => {
  const h = await harness({}, {}, 500);
  try {
    await assert.rejects(h.provisioner.candidateNodes(SMALL), isProvisionError('candidateNodes', true, /^provision\.candidateNodes: gridproxy\.findNodes: .* answered 500/));
  } finally {
    await h.done();
  }
});

test('deploy: connects once with the mnemonic, deploys the model, and answers the Mycelium address from getObj', async () => {
  const h = await harness({}, { projectName: 'hyphatest', deployTimeoutMs: 90_000 });
  try {
    const vm = await h.provisioner.deploy(vmSpec());
    const second = await h.provisioner.deploy(vmSpec({ deploymentId: 'dep-2', name: 'hy0002', node: '12' }));
    assert.equal(h.clients.length, 1);
    const client = h.clients[0] as FakeGridClient;
    assert.equal(client.connects, 1);
    assert.deepEqual(client.options, { network: 'test', mnemonic: MNEMONIC, projectName: 'hyphatest', deploymentTimeoutMinutes: 2, proxyURL: h.provisioner.gridproxyUrl });
    const model = client.deployed[0] as GridMachinesModel;
    assert.equal(model.name, 'hy0001');
    assert.equal(model.machines[0]?.node_id, 11);
    assert.equal(model.machines[0]?.mycelium, true);
    assert.equal(model.machines[0]?.env['SSH_KEY'], KEYS[0]);
    assert.equal(vm.myceliumIp, vmAddress(NETWORK_PREFIX, Uint8Array.of(0, 0, 0, 2, 0, 1000 % 256)));
    assert.match(vm.myceliumIp, /^570:75b1:b695:5ed7:ff0f:/);
    assert.deepEqual(vm, {
      deploymentId: 'dep-1',
      node: '11',
      myceliumIp: vm.myceliumIp,
      ref: {
        [GRID_REF.deploymentName]: 'hy0001',
        [GRID_REF.networkName]: 'hy0001net',
        [GRID_REF.network]: 'test',
        [GRID_REF.nodeId]: '11',
        [GRID_REF.contractIds]: '1000',
      },
    });
    assert.equal(second.ref[GRID_REF.contractIds], '1001');
    assert.notEqual(second.myceliumIp, vm.myceliumIp);
  } finally {
    await h.done();
  }
});

test('destroy calls machines.delete with the deployment name; status then says gone', async () => {
  const h = await harness();
  try {
    const vm = await h.provisioner.deploy(vmSpec());
    assert.equal(await h.provisioner.status(vm), 'running');
    await h.provisioner.destroy(vm);
    const client = h.clients[0] as FakeGridClient;
    assert.deepEqual(client.deleted, ['hy0001']);
    assert.equal(await h.provisioner.status(vm), 'gone');
    await h.provisioner.destroy(vm);
    assert.deepEqual(client.deleted, ['hy0001', 'hy0001'], 'destroying twice asks the grid twice and succeeds');
  } finally {
    await h.done();
  }
});

test('status maps the zos workload state of the VM', async () => {
  let state = 'ok';
  const h = await harness({
    getObj: (name) => Promise.resolve([{ name, contractId: 1000, nodeId: 11, status: state, myceliumIP: '570:75b1:b695:5ed7:ff0f::2', env: {} }]),
  });
  try {
    const vm = await h.provisioner.deploy(vmSpec());
    const seen: string[] = [];
    for (const s of ['ok', 'paused', 'error', 'deleted']) {
      state = s;
      seen.push(await h.provisioner.status(vm));
    }
    assert.deepEqual(seen, ['running', 'paused', 'unknown', 'gone']);
  } finally {
    await h.done();
  }
});

const deployErrors: Array<{ name: string; error: Error; retryable: boolean; message: RegExp }> = [
  { name: 'node without resources (tfGridNode InvalidResourcesError)', error: gridError('tfGridNode', 1, 'InvalidResourcesError', "Node 11 doesn't have enough resources: sru=25, mru=2 ."), retryable: true, message: /enough resources/ },
  { name: 'node rented by someone else (UnavailableNodeError)', error: gridError('tfGridNode', 0, 'UnavailableNodeError', 'Node 11 is not available for user with twinId: 4242'), retryable: true, message: /not available/ },
  { name: 'workload failed on the node (WorkloadDeployError)', error: gridError('tfGridWorkloads', 1, 'WorkloadDeployError', 'Failed to deploy zmachine with name hy0001 on node 11 due to: flist download failed.'), retryable: true, message: /flist download failed/ },
  { name: 'deployment timed out in grid_client (TimeoutError)', error: gridError('Generic', 3, 'TimeoutError', 'Deployment with contract_id: 1000 failed to be ready after 10 minutes.'), retryable: true, message: /failed to be ready/ },
  { name: 'tfchain refused the contract', error: Object.assign(new Error('Failed to apply extrinsic'), { name: 'TFChainError', keyError: 'NodeNotAvailableToDeploy' }), retryable: true, message: /Failed to apply extrinsic/ },
  { name: 'account not KYC-verified (ValidationError)', error: gridError('Generic', 2, 'ValidationError', 'Your account is not verified. Please sign into Threefold Dashboard or Connect mobile app to complete your KYC verification.'), retryable: false, message: /KYC/ },
  { name: 'twin out of TFT (InsufficientBalanceError)', error: gridError('Generic', 9, 'InsufficientBalanceError', 'Your balance is not enough'), retryable: false, message: /fund the gateway's twin with TFT/ },
  { name: 'an unknown error', error: new Error('something odd'), retryable: false, message: /something odd/ },
];

for (const row of deployErrors) {
  test(`deploy error mapping: ${row.name} -> retryable ${String(row.retryable)}`, async () => {
    const h = await harness({ deploy: () => Promise.reject(row.error) });
    try {
      await assert.rejects(h.provisioner.deploy(vmSpec()), isProvisionError('deploy', row.retryable, /^provision\.deploy: deploying "hy0001" on node 11: /));
      await assert.rejects(h.provisioner.deploy(vmSpec()), (err: unknown) => err instanceof Error && row.message.test(err.message));
    } finally {
      await h.done();
    }
  });
}

test('deploy: a VM the grid reports without a Mycelium address is deleted again, and the error is retryable', async () => {
  const h = await harness({
    getObj: (name) => Promise.resolve([{ name, contractId: 1000, nodeId: 11, status: 'ok', myceliumIP: '', env: {} }]),
  });
  try {
    await assert.rejects(h.provisioner.deploy(vmSpec()), isProvisionError('deploy', true, /reports no Mycelium address for it; it was deleted again$/));
    assert.deepEqual((h.clients[0] as FakeGridClient).deleted, ['hy0001']);
  } finally {
    await h.done();
  }
});

test('deploy: when reading back fails and the cleanup fails too, the error says to delete by hand', async () => {
  const h = await harness({
    getObj: () => Promise.reject(gridError('Generic', 5, 'RMBError', 'node did not answer')),
    delete: () => Promise.reject(gridError('Generic', 4, 'ConnectionError', 'chain unreachable')),
  });
  try {
    await assert.rejects(
      h.provisioner.deploy(vmSpec()),
      isProvisionError('deploy', true, /reading back "hy0001": RMBError: node did not answer; deleting it failed too \(ConnectionError: chain unreachable\): delete grid deployment "hy0001" by hand$/),
    );
    assert.equal(h.warnings.length, 1);
  } finally {
    await h.done();
  }
});

test('deploy: a grid that does not answer in time is a retryable error, and a late deployment is deleted', async () => {
  let finish: () => void = () => undefined;
  const h = await harness(
    {
      deploy: (model) =>
        new Promise((resolve) => {
          finish = () => resolve({ contracts: { created: [{ contractId: 2000 }] }, model });
        }),
    },
    { deployTimeoutMs: 50 },
  );
  try {
    const started = Date.now();
    await assert.rejects(h.provisioner.deploy(vmSpec()), isProvisionError('deploy', true, /no answer from the grid within 50 ms$/));
    assert.ok(Date.now() - started < 2000);
    const client = h.clients[0] as FakeGridClient;
    assert.deepEqual(client.deleted, []);
    finish();
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(client.deleted, ['hy0001'], 'the late deployment is removed');
    assert.match(h.warnings[0] ?? '', /finished after its timeout; deleted it/);
  } finally {
    await h.done();
  }
});

test('deploy: a retry of a timed-out deployment runs only after the late one is removed', async () => {
  let finish: () => void = () => undefined;
  const hanging = new Promise<void>((resolve) => {
    finish = resolve;
  });
  let deploys = 0;
  const h: Harness = await harness(
    {
      deploy: async (model) => {
        deploys++;
        if (deploys === 1) await hanging;
        return (h.clients[0] as FakeGridClient).deployOnGrid(model);
      },
    },
    { deployTimeoutMs: 50 },
  );
  try {
    await assert.rejects(h.provisioner.deploy(vmSpec()), isProvisionError('deploy', true, /within 50 ms/));
    const retry = h.provisioner.deploy(vmSpec());
    finish();
    const vm = await retry;
    const client = h.clients[0] as FakeGridClient;
    assert.deepEqual(client.calls, ['deploy hy0001', 'delete hy0001', 'deploy hy0001']);
    assert.equal(await h.provisioner.status(vm), 'running');
  } finally {
    await h.done();
  }
});

test('deploy: a spec the grid cannot take is a non-retryable error before anything is loaded', async () => {
  const h = await harness();
  try {
    await assert.rejects(h.provisioner.deploy(vmSpec({ name: 'Bad-Name' })), isProvisionError('deploy', false, /spec\.name/));
    await assert.rejects(h.provisioner.deploy(vmSpec({ sshKeys: [] })), isProvisionError('deploy', false, /at least one key/));
    assert.equal(h.clients.length, 0);
  } finally {
    await h.done();
  }
});

test('connect: a mnemonic without a twin is not retryable and says what to do; the next call connects again', async () => {
  let fail = true;
  const h = await harness({
    connect: () => (fail ? Promise.reject(gridError('Generic', 8, 'TwinNotExistError', "Couldn't find a user for the provided mnemonic on test network.")) : Promise.resolve()),
  });
  try {
    await assert.rejects(h.provisioner.deploy(vmSpec()), isProvisionError('deploy', false, /connecting to the test grid: TwinNotExistError: .*\(create a twin for the gateway's mnemonic/));
    assert.equal(h.clients[0]?.disconnects, 1, 'a half-open client is closed');
    fail = false;
    await h.provisioner.deploy(vmSpec());
    assert.equal(h.clients.length, 2);
  } finally {
    await h.done();
  }
});

test('connect: grid services that cannot be reached (a plain Error from grid_client) are retryable', async () => {
  const h = await harness({ connect: () => Promise.reject(new Error('Failed to reach GridProxy on all provided stacks')) });
  try {
    await assert.rejects(h.provisioner.deploy(vmSpec()), isProvisionError('deploy', true, /connecting to the test grid: Failed to reach GridProxy/));
    await assert.rejects(h.provisioner.deploy(vmSpec()), isProvisionError('deploy', true));
    assert.equal(h.clients.length, 2, 'each call tries to connect again');
  } finally {
    await h.done();
  }
});

test('pause and resume are not supported on the grid and say so, not retryable', async () => {
  const h = await harness();
  try {
    const vm = await h.provisioner.deploy(vmSpec());
    await assert.rejects(h.provisioner.pause(vm), isProvisionError('pause', false, /pause is not supported on the grid .*GracePeriod/));
    await assert.rejects(h.provisioner.resume(vm), isProvisionError('resume', false, /resume is not supported on the grid/));
    assert.equal(await h.provisioner.status(vm), 'running');
  } finally {
    await h.done();
  }
});

test('setSshKeys succeeds for the keys the VM has and refuses to change them', async () => {
  const h = await harness();
  try {
    const vm = await h.provisioner.deploy(vmSpec());
    await h.provisioner.setSshKeys(vm, KEYS);
    await assert.rejects(h.provisioner.setSshKeys(vm, [...KEYS, 'ssh-ed25519 AAAAnew bob@desk']), isProvisionError('setSshKeys', false, /keeps the SSH keys it was deployed with/));
    await h.provisioner.destroy(vm);
    await assert.rejects(h.provisioner.setSshKeys(vm, KEYS), isProvisionError('setSshKeys', false, /does not exist any more/));
  } finally {
    await h.done();
  }
});

test('a handle from another grid network or without a deployment name is refused', async () => {
  const h = await harness();
  try {
    const vm = await h.provisioner.deploy(vmSpec());
    const mainnet: VmHandle = { ...vm, ref: { ...vm.ref, [GRID_REF.network]: 'main' } };
    await assert.rejects(h.provisioner.destroy(mainnet), isProvisionError('destroy', false, /on the main grid, this provisioner manages the test grid/));
    const nameless: VmHandle = { ...vm, ref: { [GRID_REF.network]: 'test' } };
    await assert.rejects(h.provisioner.status(nameless), isProvisionError('status', false, /no grid deployment name/));
    assert.deepEqual((h.clients[0] as FakeGridClient).deleted, []);
  } finally {
    await h.done();
  }
});

test('the mnemonic never appears in errors, JSON, toString or inspect output', async () => {
  const hexSeed = `0x${'ab'.repeat(32)}`;
  const leaky = () => Promise.reject(gridError('Generic', 1, 'GridClientError', `Couldn't handle twin Deployment due to: bad key ${MNEMONIC} (seed ${hexSeed}) .`));
  const h = await harness({ deploy: leaky, delete: leaky });
  try {
    const messages: string[] = [];
    await h.provisioner.deploy(vmSpec()).catch((err: Error) => messages.push(err.message));
    const vm: VmHandle = { deploymentId: 'dep-1', node: '11', myceliumIp: '570:75b1:b695:5ed7:ff0f::2', ref: { [GRID_REF.network]: 'test', [GRID_REF.deploymentName]: 'hy0001' } };
    await h.provisioner.destroy(vm).catch((err: Error) => messages.push(err.message));
    assert.equal(messages.length, 2);
    for (const m of messages) {
      assert.match(m, /bad key \[mnemonic\] \(seed \[hex secret\]\)/, 'the grid error is kept, with the secrets cut out');
      assert.ok(!m.includes('legal winner'), m);
      assert.ok(!m.includes(hexSeed), m);
    }
    const shown = [JSON.stringify(h.provisioner), String(h.provisioner), inspect(h.provisioner, { showHidden: true, depth: 10 }), h.provisioner.toString()];
    for (const text of shown) {
      assert.ok(!text.includes('legal'), text);
      assert.match(text, /mnemonic/);
    }
    assert.equal((JSON.parse(shown[0] as string) as { network: string }).network, 'test');
  } finally {
    await h.done();
  }
});

test('config: the mnemonic comes from an environment variable when named so', async () => {
  const clients: FakeGridClient[] = [];
  const provisioner = new GridProvisioner(
    { network: 'main', mnemonicEnv: 'HYPHA_GRID_MNEMONIC', farmers: { '1': FARMER_1 } },
    {
      env: { HYPHA_GRID_MNEMONIC: `  ${MNEMONIC.replace(/ /g, '  ')}\n` },
      loadGridClient: () => (options) => {
        const client = new FakeGridClient(options);
        clients.push(client);
        return client;
      },
    },
  );
  try {
    assert.equal(provisioner.gridproxyUrl, 'https://gridproxy.grid.tf');
    await provisioner.deploy(vmSpec());
    assert.equal(clients[0]?.options.mnemonic, MNEMONIC);
    assert.equal(clients[0]?.options.network, 'main');
    assert.equal('proxyURL' in (clients[0]?.options ?? {}), false, 'grid_client keeps its own default proxy');
    assert.match(String(provisioner), /mnemonic from environment variable HYPHA_GRID_MNEMONIC/);
  } finally {
    await provisioner.close();
  }
  assert.equal(clients[0]?.disconnects, 1, 'close disconnects the grid client');
});

test('config errors name what to fix and never show the mnemonic', () => {
  const scratch = scratchDir('hypha-grid-config-');
  try {
    const open = join(scratch.dir, 'open.mnemonic');
    writeFileSync(open, MNEMONIC);
    chmodSync(open, 0o644);
    const notWords = join(scratch.dir, 'bad.mnemonic');
    writeSecureFile(notWords, `${MNEMONIC} extra`);
    const base = { network: 'test', farmers: { '1': FARMER_1 } } as const;
    const cases: Array<{ config: GridProvisionerConfig; env?: Record<string, string>; error: RegExp }> = [
      { config: { ...base, mnemonicFile: open }, error: /mnemonicFile: .*open\.mnemonic has mode 0644: others can read it\. Run `chmod 600/ },
      { config: { ...base, mnemonicFile: join(scratch.dir, 'missing') }, error: /mnemonicFile: .*missing does not exist/ },
      { config: { ...base, mnemonicFile: notWords }, error: /does not hold a mnemonic: expected 12 to 24 lower-case BIP-39 words/ },
      { config: { ...base, mnemonicEnv: 'HYPHA_NOPE' }, env: {}, error: /environment variable HYPHA_NOPE is not set or empty/ },
      { config: { ...base, mnemonicEnv: 'HYPHA_M', mnemonicFile: open }, env: { HYPHA_M: MNEMONIC }, error: /exactly one of mnemonicFile/ },
      { config: { ...base }, error: /exactly one of mnemonicFile/ },
      { config: { ...base, mnemonicEnv: 'HYPHA_M', farmers: {} }, env: { HYPHA_M: MNEMONIC }, error: /config\.provisioner\.farmers: must name at least one farm/ },
      { config: { ...base, mnemonicEnv: 'HYPHA_M', farmers: { '1': 'uhCAknotakey' } }, env: { HYPHA_M: MNEMONIC }, error: /config\.provisioner\.farmers\.1: not a valid AgentPubKey/ },
      { config: { ...base, mnemonicEnv: 'HYPHA_M', farmers: { farm1: FARMER_1 } }, env: { HYPHA_M: MNEMONIC }, error: /"farm1" is not a farm id/ },
      { config: { ...base, network: 'mainnet' as 'main', mnemonicEnv: 'HYPHA_M' }, env: { HYPHA_M: MNEMONIC }, error: /config\.provisioner\.network: must be one of "main", "test", "qa", "dev"/ },
      { config: { ...base, mnemonicEnv: 'HYPHA_M', deployTimeoutMs: -1 }, env: { HYPHA_M: MNEMONIC }, error: /config\.provisioner\.deployTimeoutMs: must be between 1 and/ },
      { config: { ...base, mnemonicEnv: 'HYPHA_M', gridproxyUrl: 'gridproxy' }, env: { HYPHA_M: MNEMONIC }, error: /config\.provisioner\.gridproxyUrl: baseUrl must be an absolute/ },
    ];
    for (const c of cases) {
      assert.throws(
        () => new GridProvisioner(c.config, { env: c.env ?? {} }),
        (err: unknown) => {
          assert.ok(err instanceof ProvisionError, String(err));
          assert.equal(err.operation, 'config');
          assert.equal(err.retryable, false);
          assert.match(err.message, /^provision\.config: grid provisioner: /);
          assert.match(err.message, c.error);
          assert.ok(!err.message.includes('legal'), err.message);
          return true;
        },
        `expected ${c.error.source}`,
      );
    }
  } finally {
    scratch.remove();
  }
});

test(`without ${GRID_CLIENT_PACKAGE} installed, the first grid call says how to install it`, async () => {
  const scratch = scratchDir('hypha-no-grid-client-');
  const resolveFrom = pathToFileURL(join(scratch.dir, 'here.js'));
  try {
    assert.throws(() => loadGridClientFactory(resolveFrom), isProvisionError('loadGridClient', false, /not installed: run `npm install @threefold\/grid_client`/));
    const mnemonicFile = join(scratch.dir, 'm');
    writeSecureFile(mnemonicFile, MNEMONIC);
    const provisioner = new GridProvisioner(
      { network: 'test', mnemonicFile, farmers: { '7': FARMER_7 } },
      { loadGridClient: () => loadGridClientFactory(resolveFrom) },
    );
    await assert.rejects(provisioner.deploy(vmSpec()), isProvisionError('loadGridClient', false, /npm install @threefold\/grid_client/));
    const vm: VmHandle = { deploymentId: 'd', node: '11', myceliumIp: '570:75b1:b695:5ed7:ff0f::2', ref: { [GRID_REF.network]: 'test', [GRID_REF.deploymentName]: 'hy0001' } };
    await assert.rejects(provisioner.status(vm), isProvisionError('loadGridClient', false));
  } finally {
    scratch.remove();
  }
});

const classes: Array<{ name: string; error: unknown; action: GridErrorAction; hint?: RegExp }> = [
  { name: 'DiskAllocationError', error: gridError('tfGridNode', 2, 'DiskAllocationError', 'x'), action: 'another-node' },
  { name: 'UnavailableNodeError', error: gridError('tfGridNode', 0, 'UnavailableNodeError', 'x'), action: 'another-node' },
  { name: 'farm NodeSelectionError', error: gridError('tfGridFarm', 2, 'NodeSelectionError', 'x'), action: 'another-node' },
  { name: 'WorkloadUpdateError', error: gridError('tfGridWorkloads', 2, 'WorkloadUpdateError', 'x'), action: 'fail-order' },
  { name: 'WorkloadDeleteError', error: gridError('tfGridWorkloads', 0, 'WorkloadDeleteError', 'x'), action: 'another-node' },
  { name: 'GridClientError (a rolled-back deployment)', error: gridError('Generic', 1, 'GridClientError', 'x'), action: 'another-node' },
  { name: 'RMBError', error: gridError('Generic', 5, 'RMBError', 'x'), action: 'retry-later' },
  { name: 'RequestError', error: gridError('Generic', 7, 'RequestError', 'x'), action: 'retry-later' },
  { name: 'ValidationError', error: gridError('Generic', 2, 'ValidationError', 'x'), action: 'fail-order' },
  { name: 'TwinNotExistError', error: gridError('Generic', 8, 'TwinNotExistError', 'x'), action: 'fail-order', hint: /create a twin/ },
  { name: 'InsufficientBalanceError', error: gridError('Generic', 9, 'InsufficientBalanceError', 'x'), action: 'fail-order', hint: /TFT/ },
  { name: 'KYC Unverified', error: gridError('tfGridKyc', 0, 'Unverified', 'x'), action: 'fail-order', hint: /KYC/ },
  { name: 'KYC RateLimit', error: gridError('tfGridKyc', 2, 'RateLimit', 'x'), action: 'retry-later' },
  { name: 'an unknown module', error: gridError('dao', 3, 'Whatever', 'x'), action: 'fail-order' },
  // tfchain pallet errors by keyError (tfchain pallet-smart-contract, pallet-tfgrid, pallet-balances, pallet-kvstore).
  { name: 'TFChainError NodeNotAvailableToDeploy', error: tfchainError('NodeNotAvailableToDeploy'), action: 'another-node' },
  { name: 'TFChainError NotEnoughResourcesOnNode', error: tfchainError('NotEnoughResourcesOnNode'), action: 'another-node' },
  { name: 'TFChainError NodeHasRentContract', error: tfchainError('NodeHasRentContract'), action: 'another-node' },
  { name: 'TFChainError FarmHasNotEnoughPublicIPsFree', error: tfchainError('FarmHasNotEnoughPublicIPsFree'), action: 'another-node' },
  { name: 'TFChainError NodeNotExists (tfgridModule)', error: tfchainError('NodeNotExists', 'tfgridModule'), action: 'another-node' },
  { name: 'TFChainError TwinNotExists', error: tfchainError('TwinNotExists'), action: 'fail-order', hint: /create a twin/ },
  { name: 'TFChainError TwinNotAuthorizedToCancelContract', error: tfchainError('TwinNotAuthorizedToCancelContract'), action: 'fail-order' },
  { name: 'TFChainError CannotUpdateContractInGraceState', error: tfchainError('CannotUpdateContractInGraceState'), action: 'fail-order', hint: /TFT/ },
  { name: 'TFChainError balances InsufficientBalance', error: tfchainError('InsufficientBalance', 'balances'), action: 'fail-order', hint: /TFT/ },
  { name: 'TFChainError token FundsUnavailable', error: tfchainError('"FundsUnavailable"', 'balances'), action: 'fail-order', hint: /TFT/ },
  { name: 'TFChainError UserDidNotSignTermsAndConditions', error: tfchainError('UserDidNotSignTermsAndConditions', 'tfgridModule'), action: 'fail-order', hint: /terms and conditions/ },
  { name: 'TFChainError kvstore ValueIsTooLarge', error: tfchainError('ValueIsTooLarge', 'tfkvStore'), action: 'fail-order' },
  { name: 'TFChainError BadOriginError', error: tfchainError('BadOriginError'), action: 'fail-order' },
  { name: 'TFChainError GenericError (chain unreachable)', error: tfchainError(undefined), action: 'retry-later' },
  { name: 'TFChainError TFTPriceValueError', error: tfchainError('TFTPriceValueError'), action: 'retry-later' },
  { name: 'TFChainError UnknownDispatchError', error: tfchainError('UnknownDispatchError'), action: 'retry-later' },
  { name: 'TFChainError with a keyError tfchain may add later', error: tfchainError('SomethingNew'), action: 'retry-later' },
  { name: 'a string', error: 'boom', action: 'fail-order' },
  { name: 'undefined', error: undefined, action: 'fail-order' },
];

for (const row of classes) {
  test(`classifyGridError: ${row.name} -> ${row.action}`, () => {
    const found = classifyGridError(row.error);
    assert.equal(found.action, row.action);
    assert.equal(found.retryable, row.action !== 'fail-order');
    if (row.hint) assert.match(found.hint ?? '', row.hint);
  });
}

test('classifyGridError: every tfchain keyError in the table has an action, and only the node-bound ones say another-node', () => {
  const anotherNode = Object.entries(TFCHAIN_KEY_ERRORS)
    .filter(([, c]) => c.action === 'another-node')
    .map(([name]) => name);
  for (const name of anotherNode) assert.match(name, /Node|Farm|IP|PricingPolicy|ContractIsNotUnique/, name);
  assert.ok(!anotherNode.includes('TwinNotExists'));
});

test('classifyGridError: errors without grid fields follow unknownAction; classified ones do not', () => {
  assert.equal(classifyGridError(new Error('socket hang up'), 'retry-later').action, 'retry-later');
  assert.equal(classifyGridError(new Error('socket hang up')).action, 'fail-order');
  assert.equal(classifyGridError(gridError('Generic', 2, 'ValidationError', 'x'), 'retry-later').action, 'fail-order');
});

test('deploy: a tfchain error that says the node is taken is retryable; one that says the twin has no funds fails the order with a hint', async () => {
  const taken = await harness({ deploy: () => Promise.reject(tfchainError('NodeNotAvailableToDeploy')) });
  try {
    await assert.rejects(taken.provisioner.deploy(vmSpec()), isProvisionError('deploy', true, /deploying "hy0001" on node 11: Module Error/));
  } finally {
    await taken.done();
  }
  const broke = await harness({ deploy: () => Promise.reject(tfchainError('"FundsUnavailable"', 'balances')) });
  try {
    await assert.rejects(broke.provisioner.deploy(vmSpec()), isProvisionError('deploy', false, /\(fund the gateway's twin with TFT\)$/));
  } finally {
    await broke.done();
  }
});

test('connect: a configured twinId that is not the mnemonic\'s twin is refused, not retried', async () => {
  const h = await harness({}, { twinId: 99 });
  try {
    await h.provisioner.candidateNodes(SMALL);
    assert.equal(h.proxyQueries[0]?.get('available_for'), '99', 'before connecting, the configured twin is used');
    await assert.rejects(h.provisioner.deploy(vmSpec()), isProvisionError('config', false, /twinId is 99 but the mnemonic belongs to twin 4242/));
    assert.equal(h.clients[0]?.disconnects, 1);
  } finally {
    await h.done();
  }
});

test(`the installed ${GRID_CLIENT_PACKAGE} loads through its CommonJS build, though its ES build does not`, async (t) => {
  try {
    createRequire(import.meta.url).resolve(GRID_CLIENT_PACKAGE);
  } catch {
    t.skip(`${GRID_CLIENT_PACKAGE} (optional) is not installed`);
    return;
  }
  await assert.rejects(import(GRID_CLIENT_PACKAGE), (err: unknown) => (err as { code?: string }).code === 'ERR_UNSUPPORTED_DIR_IMPORT');
  const factory = loadGridClientFactory();
  assert.equal(typeof factory, 'function');
  // The @noble/hashes fallback is gone again once loading is done.
  assert.throws(() => createRequire(import.meta.url)('@noble/hashes/sha2'), (err: unknown) => (err as { code?: string }).code === 'ERR_PACKAGE_PATH_NOT_EXPORTED');
});
