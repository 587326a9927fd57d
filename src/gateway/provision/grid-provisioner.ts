// The GridProvisioner: Mycelium-only VMs on ThreeFold grid v3 nodes, through the optional @threefold/grid_client.
import { inspect } from 'node:util';
import { errorMessage } from '../../identity/error-message.js';
import type { Offer } from '../../protocol/offer.js';
import { ValidationError } from '../../protocol/validate.js';
import { withTimeout } from '../../protocol/with-timeout.js';
import { ProvisionError } from './provisioner.js';
import type { NodeCandidate, Provisioner, VmHandle, VmSpec, VmStatus } from './provisioner.js';
import { GRIDPROXY_URLS, GridProxyClient, GridProxyError } from './grid-proxy-client.js';
import type { GridNetwork } from './grid-proxy-client.js';
import { parseGridProvisionerConfig, readGridMnemonic } from './grid-config.js';
import type { GridProvisionerConfig } from './grid-config.js';
import { classifyGridError, GridTimeoutError } from './grid-errors.js';
import type { GridErrorAction } from './grid-errors.js';
import {
  createdContractIds,
  DEFAULT_ENTRYPOINT,
  DEFAULT_FLIST,
  GRID_REF,
  machineFromObjs,
  SSH_KEY_ENV,
  sshKeyEnv,
  toGridRef,
  toMachinesModel,
  vmStatusOf,
} from './machines-model.js';
import type { GridMachinesModel, GridMachineState } from './machines-model.js';

import { loadGridClientFactory } from './grid-client-loader.js';

export type { GridProvisionerConfig } from './grid-config.js';
export { GRID_CLIENT_PACKAGE, loadGridClientFactory } from './grid-client-loader.js';
export { classifyGridError, TFCHAIN_KEY_ERRORS } from './grid-errors.js';
export type { GridErrorAction, GridErrorClass } from './grid-errors.js';

/** Where a grid provisioner's configuration sits in the gateway's config file, for error messages. */
const CONFIG_AT = 'config.provisioner';

/** How long a deployment may take by default: grid_client's own `deploymentTimeoutMinutes` default is 10. */
export const DEFAULT_DEPLOY_TIMEOUT_MS = 10 * 60_000;

/** grid_client's project name for hypha's deployments: grid_client lists and finds deployments per project. */
export const DEFAULT_PROJECT_NAME = 'hypha';

/** The options GridClient's constructor takes (grid_client `ClientOptions`), the slice hypha sets. */
export interface GridClientOptions {
  readonly network: GridNetwork;
  readonly mnemonic: string;
  readonly projectName: string;
  readonly deploymentTimeoutMinutes: number;
  readonly proxyURL?: string;
}

/** The slice of grid_client's `machines` module hypha uses. */
export interface GridMachinesModuleLike {
  /** Deploys a MachinesModel; answers `{ contracts: { created: [{ contractId, … }] }, … }`. */
  deploy(model: GridMachinesModel): Promise<unknown>;
  /** The machines of a deployment (grid_client `ZmachineData[]`); an empty list when it does not exist. */
  getObj(deploymentName: string): Promise<unknown>;
  /** Cancels a deployment's contracts; deleting one that does not exist succeeds. */
  delete(options: { name: string }): Promise<unknown>;
}

/** The slice of grid_client's `GridClient` hypha uses; `machines` and `twinId` exist once connect() resolved. */
export interface GridClientLike {
  readonly machines: GridMachinesModuleLike;
  readonly twinId?: number;
  connect(): Promise<void>;
  disconnect(): Promise<void>;
}

/** Makes a (not yet connected) grid client. */
export type GridClientFactory = (options: GridClientOptions) => GridClientLike;

/** Where the provisioner reports what it cannot throw (a late deployment it removed, a failed cleanup); pino loggers fit. */
export interface GridProvisionerLogger {
  warn(details: Record<string, unknown>, message: string): void;
}

/** What a GridProvisioner depends on besides its configuration; tests pass fakes. */
export interface GridProvisionerDeps {
  /** Loads grid_client; loadGridClientFactory when absent. Called once, on first use. */
  readonly loadGridClient?: () => GridClientFactory;
  /** Where mnemonicEnv is looked up; process.env when absent. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly logger?: GridProvisionerLogger;
}

/** Deploys and controls VMs on ThreeFold grid v3 nodes. The mnemonic never leaves it: not in errors, logs, JSON or inspect output. */
export class GridProvisioner implements Provisioner {
  readonly kind = 'grid' as const;
  readonly network: GridNetwork;
  readonly projectName: string;
  readonly flist: string;
  readonly entrypoint: string;
  readonly deployTimeoutMs: number;
  readonly gridproxyUrl: string;
  readonly #mnemonic: string;
  readonly #mnemonicSource: string;
  readonly #farmers: ReadonlyMap<number, string>;
  readonly #proxy: GridProxyClient;
  readonly #customProxy: boolean;
  readonly #configuredTwinId: number | undefined;
  readonly #loadGridClient: () => GridClientFactory;
  readonly #logger: GridProvisionerLogger | undefined;
  #client: Promise<GridClientLike> | undefined;
  #connectedTwinId: number | undefined;
  /** grid_client keeps module-level state per deployment run, so changes to the grid run one at a time. */
  #mutations: Promise<unknown> = Promise.resolve();

  /** Checks `config` and reads the mnemonic; throws ProvisionError (operation "config") naming what to fix. */
  constructor(config: GridProvisionerConfig, deps: GridProvisionerDeps = {}) {
    let checked: GridProvisionerConfig;
    let read: { mnemonic: string; source: string };
    try {
      checked = parseGridProvisionerConfig(config, CONFIG_AT);
      read = readGridMnemonic(checked, deps.env ?? process.env, CONFIG_AT);
    } catch (err) {
      if (err instanceof ValidationError) throw configError(err.message);
      throw err;
    }
    this.network = checked.network;
    this.#mnemonic = read.mnemonic;
    this.#mnemonicSource = read.source;
    this.#farmers = new Map(Object.entries(checked.farmers).map(([farmId, agent]) => [Number(farmId), agent]));
    this.projectName = checked.projectName ?? DEFAULT_PROJECT_NAME;
    this.flist = checked.flist ?? DEFAULT_FLIST;
    this.entrypoint = checked.entrypoint ?? DEFAULT_ENTRYPOINT;
    this.deployTimeoutMs = checked.deployTimeoutMs ?? DEFAULT_DEPLOY_TIMEOUT_MS;
    this.#configuredTwinId = checked.twinId;
    this.#customProxy = checked.gridproxyUrl !== undefined;
    this.#proxy = new GridProxyClient({
      baseUrl: checked.gridproxyUrl ?? GRIDPROXY_URLS[this.network],
      ...(checked.gridproxyTimeoutMs !== undefined ? { timeoutMs: checked.gridproxyTimeoutMs } : {}),
    });
    this.gridproxyUrl = this.#proxy.baseUrl;
    this.#loadGridClient = deps.loadGridClient ?? (() => loadGridClientFactory());
    this.#logger = deps.logger;
  }

  /** Nodes of the configured farms that are up, have the mycelium feature and room for `offer`, most room first. */
  async candidateNodes(offer: Offer): Promise<NodeCandidate[]> {
    const twinId = this.#connectedTwinId ?? this.#configuredTwinId;
    let nodes;
    try {
      nodes = await this.#proxy.findNodes(offer, { farmIds: [...this.#farmers.keys()], ...(twinId !== undefined ? { availableForTwinId: twinId } : {}) });
    } catch (err) {
      if (err instanceof GridProxyError) throw new ProvisionError('candidateNodes', err.message, true);
      throw new ProvisionError('candidateNodes', errorMessage(err), false);
    }
    const out: NodeCandidate[] = [];
    for (const node of nodes) {
      const farmer = this.#farmers.get(node.farmId);
      if (farmer !== undefined) out.push({ node: String(node.nodeId), farmer, freeSlots: node.freeSlots });
    }
    return out;
  }

  /**
   * Deploys one VM on `spec.node` in a network of its own, with `mycelium: true` and the
   * customer's keys in env SSH_KEY, and answers its Mycelium address. A deployment that the
   * grid reports without a Mycelium address is deleted again.
   */
  async deploy(spec: VmSpec): Promise<VmHandle> {
    let model: GridMachinesModel;
    try {
      model = toMachinesModel(spec, { flist: this.flist, entrypoint: this.entrypoint });
    } catch (err) {
      throw new ProvisionError('deploy', errorMessage(err), false);
    }
    const name = model.name;
    const what = `deploying "${name}" on node ${spec.node}`;
    const client = await this.#connected('deploy');
    let result: unknown;
    let abandoned = false;
    try {
      result = await this.#bounded(
        this.#serially(async () => {
          const answer = await client.machines.deploy(model);
          // Still inside the queue slot, so no later deploy of the same name runs first.
          if (abandoned) await this.#removeLateDeployment(client, name);
          return answer;
        }),
        () => {
          abandoned = true;
        },
      );
    } catch (err) {
      throw this.#failure('deploy', what, err);
    }
    let machine: GridMachineState | undefined;
    try {
      machine = machineFromObjs(await this.#bounded(client.machines.getObj(name)), name);
    } catch (err) {
      const cleanup = await this.#deleteAfterFailure(client, name);
      throw new ProvisionError('deploy', `reading back "${name}": ${this.#describe(err).text}; ${cleanup}`, true);
    }
    if (machine?.myceliumIp === undefined) {
      const cleanup = await this.#deleteAfterFailure(client, name);
      throw new ProvisionError('deploy', `"${name}" was deployed on node ${spec.node} but the grid reports no Mycelium address for it; ${cleanup}`, true);
    }
    return {
      deploymentId: spec.deploymentId,
      node: spec.node,
      myceliumIp: machine.myceliumIp,
      ref: toGridRef(model, this.network, machine, createdContractIds(result)),
    };
  }

  /**
   * Not supported: zos pauses a VM only while tfchain holds its contract in GracePeriod (the
   * twin that pays cannot pay), and neither tfchain nor grid_client lets the owner pause. The
   * gateway's twin keeps paying, so a grid VM keeps running through the customer's grace.
   */
  pause(vm: VmHandle): Promise<void> {
    return Promise.reject(this.#noPause('pause', vm));
  }

  /** Not supported, as pause (see there). */
  resume(vm: VmHandle): Promise<void> {
    return Promise.reject(this.#noPause('resume', vm));
  }

  /** Cancels the deployment's contracts (VM, disk and its network). Destroying a VM that is gone succeeds. */
  async destroy(vm: VmHandle): Promise<void> {
    const name = this.#deploymentNameOf('destroy', vm);
    const client = await this.#connected('destroy');
    try {
      await this.#bounded(this.#serially(() => client.machines.delete({ name })));
    } catch (err) {
      throw this.#failure('destroy', `deleting "${name}"`, err);
    }
  }

  /** The VM's state as its node reports it: ok -> running, paused -> paused, deleted or absent -> gone, else unknown. */
  async status(vm: VmHandle): Promise<VmStatus> {
    return vmStatusOf(await this.#machine('status', vm));
  }

  /**
   * Succeeds when the VM already has exactly `sshKeys`. Changing them is not supported: the
   * keys live in the zmachine's env, and zos refuses to update a zmachine workload in place
   * (zosbase provision engine: "workload 'zmachine' does not support upgrade"); grid_client's
   * machines.update therefore cannot change them either.
   */
  async setSshKeys(vm: VmHandle, sshKeys: readonly string[]): Promise<void> {
    let wanted: string;
    try {
      wanted = sshKeyEnv(sshKeys);
    } catch (err) {
      throw new ProvisionError('setSshKeys', errorMessage(err), false);
    }
    const machine = await this.#machine('setSshKeys', vm);
    if (machine === undefined) throw new ProvisionError('setSshKeys', `grid deployment "${this.#deploymentNameOf('setSshKeys', vm)}" does not exist any more`, false);
    if (machine.env[SSH_KEY_ENV] === wanted) return;
    throw new ProvisionError(
      'setSshKeys',
      'a grid VM keeps the SSH keys it was deployed with: zos does not update a running VM (zmachine) in place; deploy a new VM with the new keys',
      false,
    );
  }

  /** Disconnects the grid client, if one was connected. */
  async close(): Promise<void> {
    const pending = this.#client;
    this.#client = undefined;
    if (pending === undefined) return;
    const client = await pending.catch(() => undefined);
    if (client !== undefined) await client.disconnect();
  }

  /** What the provisioner is, without its secret. */
  toJSON(): Record<string, unknown> {
    return {
      kind: this.kind,
      network: this.network,
      mnemonic: `(from ${this.#mnemonicSource})`,
      gridproxyUrl: this.gridproxyUrl,
      farms: [...this.#farmers.keys()],
      projectName: this.projectName,
      flist: this.flist,
      deployTimeoutMs: this.deployTimeoutMs,
    };
  }

  toString(): string {
    return `GridProvisioner(${this.network}, mnemonic from ${this.#mnemonicSource}, farms ${[...this.#farmers.keys()].join(',')})`;
  }

  [inspect.custom](): string {
    return this.toString();
  }

  async #machine(operation: string, vm: VmHandle): Promise<GridMachineState | undefined> {
    const name = this.#deploymentNameOf(operation, vm);
    const client = await this.#connected(operation);
    try {
      return machineFromObjs(await this.#bounded(client.machines.getObj(name)), name);
    } catch (err) {
      throw this.#failure(operation, `reading "${name}"`, err);
    }
  }

  async #connected(operation: string): Promise<GridClientLike> {
    const pending = (this.#client ??= this.#connect());
    try {
      return await pending;
    } catch (err) {
      if (this.#client === pending) this.#client = undefined;
      if (err instanceof ProvisionError) throw err;
      throw this.#failure(operation, `connecting to the ${this.network} grid`, err, 'retry-later');
    }
  }

  async #connect(): Promise<GridClientLike> {
    const factory = this.#loadGridClient();
    const client = factory({
      network: this.network,
      mnemonic: this.#mnemonic,
      projectName: this.projectName,
      deploymentTimeoutMinutes: Math.max(1, Math.ceil(this.deployTimeoutMs / 60_000)),
      ...(this.#customProxy ? { proxyURL: this.gridproxyUrl } : {}),
    });
    let abandoned = false;
    const connecting = client.connect().then(async () => {
      if (abandoned) await client.disconnect().catch(() => undefined);
    });
    try {
      await this.#bounded(connecting, () => {
        abandoned = true;
      });
    } catch (err) {
      await client.disconnect().catch(() => undefined);
      throw err;
    }
    if (typeof client.twinId === 'number') {
      if (this.#configuredTwinId !== undefined && client.twinId !== this.#configuredTwinId) {
        await client.disconnect().catch(() => undefined);
        throw configError(`twinId is ${this.#configuredTwinId} but the mnemonic belongs to twin ${client.twinId} on the ${this.network} grid: correct or remove twinId`);
      }
      this.#connectedTwinId = client.twinId;
    }
    return client;
  }

  #serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#mutations.then(work, work);
    this.#mutations = run.catch(() => undefined);
    return run;
  }

  /** `work`, or GridTimeoutError after deployTimeoutMs (then `onTimeout` runs; `work` goes on and must clean up after itself). */
  #bounded<T>(work: Promise<T>, onTimeout?: () => void): Promise<T> {
    const bounded = withTimeout(work, this.deployTimeoutMs, () => {
      onTimeout?.();
      return new GridTimeoutError(this.deployTimeoutMs);
    });
    // A rejection that is not an Error (a bare string) is wrapped, so callers always get an Error.
    return bounded.catch((err: unknown) => Promise.reject(err instanceof Error ? err : new Error(errorMessage(err))));
  }

  /** Deletes a deployment that finished after its caller was told it failed; runs inside the deploy's queue slot, never throws. */
  async #removeLateDeployment(client: GridClientLike, name: string): Promise<void> {
    try {
      await client.machines.delete({ name });
      this.#logger?.warn({ deployment: name }, 'grid deployment finished after its timeout; deleted it');
    } catch (err) {
      this.#logger?.warn({ deployment: name, error: this.#redact(errorMessage(err)) }, 'grid deployment finished after its timeout and could not be deleted: delete it by hand');
    }
  }

  /** Deletes a deployment that cannot be handed over; says how that went, for the error message. */
  async #deleteAfterFailure(client: GridClientLike, name: string): Promise<string> {
    try {
      await this.#bounded(this.#serially(() => client.machines.delete({ name })));
      return 'it was deleted again';
    } catch (err) {
      const text = this.#redact(errorMessage(err));
      this.#logger?.warn({ deployment: name, error: text }, 'could not delete a failed grid deployment: delete it by hand');
      return `deleting it failed too (${text}): delete grid deployment "${name}" by hand`;
    }
  }

  #deploymentNameOf(operation: string, vm: VmHandle): string {
    const network = vm.ref[GRID_REF.network];
    if (network !== this.network) {
      throw new ProvisionError(operation, `VM ${vm.deploymentId} is on the ${String(network)} grid, this provisioner manages the ${this.network} grid`, false);
    }
    const name = vm.ref[GRID_REF.deploymentName];
    if (name === undefined || !/^[a-z0-9]+$/.test(name)) {
      throw new ProvisionError(operation, `VM ${vm.deploymentId} has no grid deployment name in ref.${GRID_REF.deploymentName}`, false);
    }
    return name;
  }

  #noPause(operation: 'pause' | 'resume', vm: VmHandle): ProvisionError {
    return new ProvisionError(
      operation,
      `${operation} is not supported on the grid (VM ${vm.deploymentId}): zos pauses a VM only while its tfchain contract is in GracePeriod, and the gateway's twin keeps paying, so the VM stays running through grace; configure grace to keep grid VMs running`,
      false,
    );
  }

  #failure(operation: string, what: string, err: unknown, unknownAction: GridErrorAction = 'fail-order'): ProvisionError {
    if (err instanceof ProvisionError) return err;
    const { text, retryable } = this.#describe(err, unknownAction);
    return new ProvisionError(operation, `${what}: ${text}`, retryable);
  }

  /** A grid error as text fit for an error message (the mnemonic redacted, the operator's hint added), and whether it is retryable. */
  #describe(err: unknown, unknownAction: GridErrorAction = 'fail-order'): { text: string; retryable: boolean } {
    const { retryable, hint } = classifyGridError(err, unknownAction);
    const text = this.#redact(errorMessage(err));
    return { text: hint === undefined ? text : `${text} (${hint})`, retryable };
  }

  /**
   * `text` without the mnemonic, and without any 0x-prefixed 32-byte hex string: grid_client
   * turns the mnemonic into such a seed (`toHexSeed`) and passes that around internally.
   */
  #redact(text: string): string {
    return text.split(this.#mnemonic).join('[mnemonic]').replace(/0x[0-9a-fA-F]{64}/g, '[hex secret]');
  }
}

function configError(message: string): ProvisionError {
  return new ProvisionError('config', `grid provisioner: ${message}`, false);
}
