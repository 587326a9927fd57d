// The VmSpec -> MachinesModel mapping and the getObj -> VmHandle mapping back, as tables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { GRID_CLIENT_PACKAGE, withNobleHashesSubpaths } from '../../src/gateway/provision/grid-client-loader.js';
import {
  DEFAULT_ENTRYPOINT,
  DEFAULT_FLIST,
  DEFAULT_IP_RANGE,
  GRID_REF,
  createdContractIds,
  machineFromObjs,
  sshKeyEnv,
  toGridRef,
  toMachinesModel,
  vmStatusOf,
} from '../../src/gateway/provision/machines-model.js';
import type { GridMachineState } from '../../src/gateway/provision/machines-model.js';
import type { VmSpec } from '../../src/gateway/provision/provisioner.js';
import type { Offer } from '../../src/protocol/offer.js';

const KEYS = [
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHhyphaAliceLaptopKeyxxxxxxxxxxxxxxxxxxxxxxxx alice@laptop',
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHhyphaAlicePhoneKeyxxxxxxxxxxxxxxxxxxxxxxxxx alice@phone',
];

function offer(cpu: number, memoryGb: number, diskGb: number, flist?: string): Offer {
  return { id: `vm-${cpu}`, cpu, memoryGb, diskGb, pricePerHourMicros: 1_000_000n, unit: 'SPORE', ...(flist !== undefined ? { flist } : {}) };
}

function spec(o: Offer, overrides: Partial<VmSpec> = {}): VmSpec {
  return { deploymentId: 'dep-7f3a', name: 'hy7f3a', offer: o, sshKeys: KEYS, node: '42', ...overrides };
}

const sizes = [
  { size: 'small', cpu: 1, memoryGb: 2, diskGb: 25, memoryMb: 2048 },
  { size: 'medium', cpu: 2, memoryGb: 4, diskGb: 50, memoryMb: 4096 },
  { size: 'large', cpu: 4, memoryGb: 16, diskGb: 100, memoryMb: 16384 },
];

for (const row of sizes) {
  test(`${row.size} (${row.cpu} vCPU / ${row.memoryGb} GB / ${row.diskGb} GB) maps to one Mycelium-only machine`, () => {
    const model = toMachinesModel(spec(offer(row.cpu, row.memoryGb, row.diskGb)));
    assert.deepEqual(model, {
      name: 'hy7f3a',
      network: { name: 'hy7f3anet', ip_range: DEFAULT_IP_RANGE },
      machines: [
        {
          name: 'hy7f3a',
          node_id: 42,
          cpu: row.cpu,
          memory: row.memoryMb,
          rootfs_size: row.diskGb,
          disks: [],
          flist: DEFAULT_FLIST,
          entrypoint: DEFAULT_ENTRYPOINT,
          env: { SSH_KEY: `${KEYS[0]}\n${KEYS[1]}` },
          public_ip: false,
          public_ip6: false,
          planetary: false,
          mycelium: true,
        },
      ],
      metadata: '{"hypha":{"deploymentId":"dep-7f3a"}}',
      description: 'hypha deployment dep-7f3a',
    });
  });
}

test('every SSH key goes into SSH_KEY, one per line, trimmed', () => {
  const model = toMachinesModel(spec(offer(1, 2, 25), { sshKeys: [`  ${KEYS[0]}  `, KEYS[1] as string, 'ssh-rsa AAAAB3Nza third'] }));
  const env = model.machines[0]?.env;
  assert.equal(env?.['SSH_KEY']?.split('\n').length, 3);
  assert.equal(env?.['SSH_KEY'], `${KEYS[0]}\n${KEYS[1]}\nssh-rsa AAAAB3Nza third`);
  assert.deepEqual(Object.keys(env ?? {}), ['SSH_KEY']);
});

test("the offer's flist wins over the configured one; options set entrypoint, ip range and Mycelium seed", () => {
  const own = 'https://hub.grid.tf/tf-official-apps/threefoldtech-debian-12.flist';
  const model = toMachinesModel(spec(offer(1, 2, 25, own)), {
    flist: 'https://hub.grid.tf/tf-official-vms/ubuntu-22.04.flist',
    entrypoint: '/init.sh',
    ipRange: '10.30.0.0/16',
    myceliumSeedHex: '0a1b2c3d4e5f',
  });
  assert.equal(model.machines[0]?.flist, own);
  assert.equal(model.machines[0]?.entrypoint, '/init.sh');
  assert.equal(model.machines[0]?.myceliumSeed, '0a1b2c3d4e5f');
  assert.equal(model.network.ip_range, '10.30.0.0/16');
  const configured = toMachinesModel(spec(offer(1, 2, 25)), { flist: 'https://hub.grid.tf/tf-official-vms/ubuntu-22.04.flist' });
  assert.equal(configured.machines[0]?.flist, 'https://hub.grid.tf/tf-official-vms/ubuntu-22.04.flist');
  assert.equal('myceliumSeed' in (configured.machines[0] ?? {}), false);
});

test('fractional memory maps to whole MB (0.5 GB -> 512 MB)', () => {
  assert.equal(toMachinesModel(spec(offer(1, 0.5, 10))).machines[0]?.memory, 512);
});

const refused: Array<{ name: string; spec: VmSpec; options?: Parameters<typeof toMachinesModel>[1]; error: RegExp; type: typeof TypeError | typeof RangeError }> = [
  { name: 'upper-case name', spec: spec(offer(1, 2, 25), { name: 'Hy7f3a' }), error: /spec\.name must be lower-case letters and digits/, type: TypeError },
  { name: 'name with a dash', spec: spec(offer(1, 2, 25), { name: 'hy-7f' }), error: /spec\.name/, type: TypeError },
  { name: 'name too long for its network name', spec: spec(offer(1, 2, 25), { name: 'a'.repeat(33) }), error: /at most 32 characters/, type: RangeError },
  { name: 'node that is not a number', spec: spec(offer(1, 2, 25), { node: 'node-42' }), error: /spec\.node must be a grid node id/, type: RangeError },
  { name: 'node zero', spec: spec(offer(1, 2, 25), { node: '0' }), error: /spec\.node/, type: RangeError },
  { name: 'zero CPU', spec: spec(offer(0, 2, 25)), error: /spec\.offer\.cpu/, type: RangeError },
  { name: 'memory under 256 MB', spec: spec(offer(1, 0.125, 25)), error: /spec\.offer\.memoryGb/, type: RangeError },
  { name: 'memory not whole MB', spec: spec(offer(1, 1.0001, 25)), error: /spec\.offer\.memoryGb/, type: RangeError },
  { name: 'fractional disk', spec: spec(offer(1, 2, 2.5)), error: /spec\.offer\.diskGb/, type: RangeError },
  { name: 'no SSH key', spec: spec(offer(1, 2, 25), { sshKeys: [] }), error: /at least one key/, type: RangeError },
  { name: 'a key with a line break', spec: spec(offer(1, 2, 25), { sshKeys: ['ssh-ed25519 AAAA a\nssh-ed25519 BBBB b'] }), error: /sshKeys\[0\] must be one non-empty line/, type: TypeError },
  { name: 'an empty key', spec: spec(offer(1, 2, 25), { sshKeys: [KEYS[0] as string, ' '] }), error: /sshKeys\[1\]/, type: TypeError },
  { name: 'an flist that is not a URL', spec: spec(offer(1, 2, 25, 'ubuntu.flist')), error: /flist must be an https URL/, type: TypeError },
  { name: 'a seed of the wrong length', spec: spec(offer(1, 2, 25)), options: { myceliumSeedHex: 'abcd' }, error: /myceliumSeedHex must be 12/, type: RangeError },
];

for (const row of refused) {
  test(`refused: ${row.name}`, () => {
    assert.throws(
      () => toMachinesModel(row.spec, row.options),
      (err: unknown) => err instanceof row.type && row.error.test(err.message),
    );
  });
}

/** A getObj answer in grid_client's ZmachineData shape (base.ts `_getZmachineData`). */
function zmachine(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: 0,
    contractId: 123456,
    nodeId: 42,
    name: 'hy7f3a',
    created: 1767225600,
    status: 'ok',
    message: '',
    flist: DEFAULT_FLIST,
    publicIP: null,
    planetary: '',
    myceliumIP: '0570:75b1:b695:5ed7:ff0f:0000:0000:0002',
    interfaces: [{ network: 'hy7f3anet', ip: '10.20.2.2' }],
    capacity: { cpu: 1, memory: 2048 },
    mounts: [],
    env: { SSH_KEY: KEYS.join('\n') },
    entrypoint: DEFAULT_ENTRYPOINT,
    metadata: '',
    description: 'hypha deployment dep-7f3a',
    rootfs_size: 26843545600,
    corex: false,
    gpu: undefined,
    ...overrides,
  };
}

test('machineFromObjs reads the VM: contract, node, state, canonical Mycelium address, env', () => {
  const state = machineFromObjs([zmachine({ name: 'other', contractId: 9 }), zmachine()], 'hy7f3a');
  assert.deepEqual(state, {
    name: 'hy7f3a',
    contractId: 123456,
    nodeId: 42,
    state: 'ok',
    myceliumIp: '570:75b1:b695:5ed7:ff0f::2',
    env: { SSH_KEY: KEYS.join('\n') },
  });
  assert.equal(machineFromObjs([zmachine({ nodeId: '42' })], 'hy7f3a')?.nodeId, 42);
  assert.equal(machineFromObjs([zmachine({ myceliumIP: '' })], 'hy7f3a')?.myceliumIp, undefined);
  assert.equal(machineFromObjs([], 'hy7f3a'), undefined);
  assert.equal(machineFromObjs([zmachine({ name: 'other' })], 'hy7f3a'), undefined);
});

const badObjs: Array<{ name: string; objs: unknown; error: RegExp }> = [
  { name: 'not a list', objs: { name: 'hy7f3a' }, error: /getObj must answer a list/ },
  { name: 'a Planetary (200::/7) address as Mycelium IP', objs: [zmachine({ myceliumIP: '300:1234::1' })], error: /getObj\[0\]\.myceliumIP is not a Mycelium address/ },
  { name: 'a missing contract id', objs: [zmachine({ contractId: undefined })], error: /getObj\[0\]\.contractId/ },
  { name: 'a status that is not text', objs: [zmachine({ status: 1 })], error: /getObj\[0\]\.status/ },
  { name: 'a node id that is not a number', objs: [zmachine({ nodeId: 'x' })], error: /getObj\[0\]\.nodeId/ },
];

for (const row of badObjs) {
  test(`machineFromObjs refuses ${row.name}`, () => {
    assert.throws(() => machineFromObjs(row.objs, 'hy7f3a'), (err: unknown) => err instanceof TypeError && row.error.test(err.message));
  });
}

const statuses: Array<[string | undefined, string]> = [
  ['ok', 'running'],
  ['paused', 'paused'],
  ['deleted', 'gone'],
  ['error', 'unknown'],
  ['init', 'unknown'],
  ['unchanged', 'unknown'],
  [undefined, 'gone'],
];

for (const [state, expected] of statuses) {
  test(`zos state ${state ?? '(no machine)'} is VmStatus ${expected}`, () => {
    const machine: GridMachineState | undefined =
      state === undefined ? undefined : { name: 'hy7f3a', contractId: 1, nodeId: 42, state, myceliumIp: undefined, env: {} };
    assert.equal(vmStatusOf(machine), expected);
  });
}

test('createdContractIds reads the deploy answer and ignores what is not a contract id', () => {
  const answer = {
    contracts: {
      created: [{ contractId: 123456, contractType: { nodeContract: { nodeId: 42 } } }, { contractId: 'x' }, null, { contractId: 123457 }],
      updated: [],
      deleted: [],
    },
    wireguard_config: '',
  };
  assert.deepEqual(createdContractIds(answer), [123456, 123457]);
  assert.deepEqual(createdContractIds(undefined), []);
  assert.deepEqual(createdContractIds({ contracts: {} }), []);
});

test('toGridRef keeps names, network, node and contract ids (VM contract first, once)', () => {
  const model = toMachinesModel(spec(offer(1, 2, 25)));
  const machine = machineFromObjs([zmachine()], 'hy7f3a') as GridMachineState;
  assert.deepEqual(toGridRef(model, 'test', machine, [123455, 123456]), {
    [GRID_REF.deploymentName]: 'hy7f3a',
    [GRID_REF.networkName]: 'hy7f3anet',
    [GRID_REF.network]: 'test',
    [GRID_REF.nodeId]: '42',
    [GRID_REF.contractIds]: '123456,123455',
  });
});

test('sshKeyEnv is the same text the model carries', () => {
  assert.equal(sshKeyEnv(KEYS), toMachinesModel(spec(offer(1, 2, 25))).machines[0]?.env['SSH_KEY']);
});

test('the model passes the installed grid_client MachinesModel validation, and every field survives its transform (myceliumSeed included)', (t) => {
  const require = createRequire(import.meta.url);
  let entry: string;
  try {
    entry = require.resolve(GRID_CLIENT_PACKAGE);
  } catch {
    t.skip(`${GRID_CLIENT_PACKAGE} (optional) is not installed`);
    return;
  }
  // grid_client's own deploy path: @validateInput does plainToInstance(MachinesModel, input, { excludeExtraneousValues: true }) then validateObject.
  const gridClient = withNobleHashesSubpaths(() => require(GRID_CLIENT_PACKAGE) as unknown) as { MachinesModel: new () => object; validateObject: (o: object) => void };
  const { plainToInstance } = createRequire(entry)('class-transformer') as { plainToInstance: (cls: new () => object, plain: unknown, options: object) => object };
  const model = toMachinesModel(spec(offer(2, 4, 50)), { myceliumSeedHex: '0a1b2c3d4e5f' });
  const instance = plainToInstance(gridClient.MachinesModel, model, { excludeExtraneousValues: true });
  gridClient.validateObject(instance);
  assert.deepEqual(JSON.parse(JSON.stringify(instance)), JSON.parse(JSON.stringify(model)), 'grid_client keeps every field hypha sets: none is misnamed');
  const misnamed = { ...model, machines: [{ ...model.machines[0], myceliumSeed: undefined, mycelium_seed: '0a1b2c3d4e5f' }] };
  const dropped = plainToInstance(gridClient.MachinesModel, misnamed, { excludeExtraneousValues: true }) as { machines: Array<Record<string, unknown>> };
  assert.equal(dropped.machines[0]?.['mycelium_seed'], undefined, 'a snake_case seed would be silently dropped');
  assert.throws(() => gridClient.validateObject(plainToInstance(gridClient.MachinesModel, { ...model, machines: [{ ...model.machines[0], myceliumSeed: 'abc' }] }, { excludeExtraneousValues: true })));
});
