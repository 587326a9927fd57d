// FakeGridClient: a fake of @threefold/grid_client's machines module for unit tests, named as one, and a GridProvisioner harness around it with a real local grid proxy.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { encodeAgentPubKey, fromHex, parseSubnet64, vmAddress, writeSecureFile } from '../../src/identity/index.js';
import { GridProvisioner } from '../../src/gateway/provision/grid-provisioner.js';
import type { GridClientLike, GridClientOptions, GridMachinesModuleLike, GridProvisionerConfig, GridProvisionerDeps } from '../../src/gateway/provision/grid-provisioner.js';
import type { GridMachinesModel } from '../../src/gateway/provision/machines-model.js';
import { readVectors, scratchDir } from './paths.js';

/** The BIP-39 test vector mnemonic (trezor vectors): public, never funded on any grid. */
export const MNEMONIC = 'legal winner thank year wave sausage worth useful legal winner thank yellow';
export const FARMER_1 = encodeAgentPubKey(fromHex('k', '11'.repeat(32), 32));
export const FARMER_7 = encodeAgentPubKey(fromHex('k', '77'.repeat(32), 32));
export const NETWORK_PREFIX = parseSubnet64('570:75b1:b695:5ed7::/64');
const fixture = readVectors<{ response: unknown[] }>('grid-proxy-nodes.json');

/**
 * A fake of the slice of grid_client's GridClient the provisioner uses (tfgrid-sdk-ts
 * packages/grid_client/src/client.ts: connect() sets twinId and the modules; src/modules/machines.ts:
 * deploy, getObj, delete), a tiny in-memory grid
 * that deploys machines with a Mycelium address, answers getObj like grid_client
 * (`ZmachineData[]`, empty when the deployment does not exist) and deletes. `machines` is only
 * usable after connect(), as on the real client. Each hook replaces one behaviour.
 */
export class FakeGridClient implements GridClientLike {
  twinId: number | undefined;
  connects = 0;
  disconnects = 0;
  readonly deployed: GridMachinesModel[] = [];
  readonly deleted: string[] = [];
  /** Every deploy and delete, in the order the grid saw them. */
  readonly calls: string[] = [];
  readonly grid = new Map<string, Record<string, unknown>[]>();
  #connected = false;
  #nextContract = 1000;
  #machines: GridMachinesModuleLike;

  constructor(
    readonly options: GridClientOptions,
    readonly hooks: Partial<{
      connect: () => Promise<void>;
      deploy: (model: GridMachinesModel) => Promise<unknown>;
      getObj: (name: string) => Promise<unknown>;
      delete: (name: string) => Promise<unknown>;
    }> = {},
  ) {
    this.#machines = {
      deploy: (model) => {
        this.calls.push(`deploy ${model.name}`);
        return (this.hooks.deploy ?? ((m) => this.deployOnGrid(m)))(model);
      },
      getObj: (name) => (this.hooks.getObj ?? ((n) => Promise.resolve(this.grid.get(n) ?? [])))(name),
      delete: ({ name }) => {
        this.deleted.push(name);
        this.calls.push(`delete ${name}`);
        if (this.hooks.delete) return this.hooks.delete(name);
        this.grid.delete(name);
        return Promise.resolve({ created: [], updated: [], deleted: [] });
      },
    };
  }

  get machines(): GridMachinesModuleLike {
    if (!this.#connected) throw new TypeError("Cannot read properties of undefined (reading 'deploy')");
    return this.#machines;
  }

  async connect(): Promise<void> {
    this.connects++;
    if (this.hooks.connect) await this.hooks.connect();
    this.#connected = true;
    this.twinId = 4242;
  }

  disconnect(): Promise<void> {
    this.disconnects++;
    this.#connected = false;
    return Promise.resolve();
  }

  deployOnGrid(model: GridMachinesModel): Promise<unknown> {
    this.deployed.push(model);
    const machine = model.machines[0] as GridMachinesModel['machines'][number];
    const contractId = this.#nextContract++;
    const seed = Uint8Array.of(0, 0, 0, 2, 0, contractId % 256);
    this.grid.set(model.name, [
      {
        version: 0,
        contractId,
        nodeId: machine.node_id,
        name: machine.name,
        created: 1767225600,
        status: 'ok',
        message: '',
        flist: machine.flist,
        publicIP: null,
        planetary: '',
        myceliumIP: vmAddress(NETWORK_PREFIX, seed),
        interfaces: [{ network: model.network.name, ip: '10.20.2.2' }],
        capacity: { cpu: machine.cpu, memory: machine.memory },
        mounts: [],
        env: machine.env,
        entrypoint: machine.entrypoint,
        metadata: model.metadata,
        description: model.description,
        rootfs_size: machine.rootfs_size * 1024 ** 3,
        corex: false,
        gpu: undefined,
      },
    ]);
    return Promise.resolve({ contracts: { created: [{ contractId, contractType: { nodeContract: { nodeId: machine.node_id } } }], updated: [], deleted: [] }, wireguard_config: '' });
  }
}

export interface Harness {
  readonly provisioner: GridProvisioner;
  readonly clients: FakeGridClient[];
  readonly warnings: string[];
  readonly proxyQueries: URLSearchParams[];
  done(): Promise<void>;
}

/** A provisioner with a mnemonic file (mode 0600), FakeGridClients, and a local grid proxy serving the fixture. */
export async function harness(
  hooks: ConstructorParameters<typeof FakeGridClient>[1] = {},
  config: Partial<GridProvisionerConfig> = {},
  proxyStatus = 200,
): Promise<Harness> {
  const scratch = scratchDir('hypha-grid-');
  const mnemonicFile = join(scratch.dir, 'grid.mnemonic');
  writeSecureFile(mnemonicFile, `${MNEMONIC}\n`);
  const proxyQueries: URLSearchParams[] = [];
  const server = createServer((req, res) => {
    proxyQueries.push(new URL(req.url ?? '/', 'http://127.0.0.1').searchParams);
    res.writeHead(proxyStatus, { 'content-type': 'application/json' });
    res.end(proxyStatus === 200 ? JSON.stringify(fixture.response) : '{"error":"boom"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const clients: FakeGridClient[] = [];
  const warnings: string[] = [];
  const deps: GridProvisionerDeps = {
    loadGridClient: () => (options) => {
      const client = new FakeGridClient(options, hooks);
      clients.push(client);
      return client;
    },
    logger: { warn: (details, message) => warnings.push(`${message} ${JSON.stringify(details)}`) },
  };
  const provisioner = new GridProvisioner(
    {
      network: 'test',
      mnemonicFile,
      farmers: { '1': FARMER_1, '7': FARMER_7 },
      gridproxyUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      ...config,
    },
    deps,
  );
  return {
    provisioner,
    clients,
    warnings,
    proxyQueries,
    done: async () => {
      await provisioner.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      scratch.remove();
    },
  };
}

