// The GridProvisioner: Mycelium-only VMs on ThreeFold grid v3 nodes, through the optional @threefold/grid_client.
import { createRequire } from 'node:module';
import { inspect } from 'node:util';
import { isAgentPubKey, readSecureFile } from '../../identity/index.js';
import type { Offer } from '../../protocol/offer.js';
import { ProvisionError } from './provisioner.js';
import type { NodeCandidate, Provisioner, VmHandle, VmSpec, VmStatus } from './provisioner.js';
import { GRID_NETWORKS, GRIDPROXY_URLS, GridProxyClient, GridProxyError } from './grid-proxy-client.js';
import type { GridNetwork } from './grid-proxy-client.js';
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

/** The npm package this provisioner drives; an optional dependency, loaded on first use. */
export const GRID_CLIENT_PACKAGE = '@threefold/grid_client';

/** How long a deployment may take by default: grid_client's own `deploymentTimeoutMinutes` default is 10. */
export const DEFAULT_DEPLOY_TIMEOUT_MS = 10 * 60_000;

/** grid_client's project name for hypha's deployments: grid_client lists and finds deployments per project. */
export const DEFAULT_PROJECT_NAME = 'hypha';

/** BIP-39 mnemonic lengths, in words. */
const MNEMONIC_WORD_COUNTS = [12, 15, 18, 21, 24];

/** What the gateway's configuration says about the grid (key `provisioner`, with `kind: "grid"`). */
export interface GridProvisionerConfig {
  readonly network: GridNetwork;
  /** A file holding the twin's mnemonic (or hex seed); it must be mode 0600. Exactly one of mnemonicFile and mnemonicEnv. */
  readonly mnemonicFile?: string;
  /** The name of an environment variable holding the mnemonic. */
  readonly mnemonicEnv?: string;
  /**
   * Farm id (decimal) -> the farmer's AgentPubKey, where SPORE for the farm's uptime goes. Only
   * nodes of these farms are candidates: the gateway cannot pay the farmer of any other farm.
   */
  readonly farmers: Readonly<Record<string, string>>;
  /** The grid proxy; GRIDPROXY_URLS[network] when absent. */
  readonly gridproxyUrl?: string;
  /** The VM image of offers that name none; DEFAULT_FLIST when absent. */
  readonly flist?: string;
  /** The image's entrypoint; DEFAULT_ENTRYPOINT when absent. */
  readonly entrypoint?: string;
  /** Bounds every grid_client call (connect, deploy, getObj, delete); DEFAULT_DEPLOY_TIMEOUT_MS when absent. */
  readonly deployTimeoutMs?: number;
  /** Bounds each grid proxy request; DEFAULT_GRIDPROXY_TIMEOUT_MS when absent. */
  readonly gridproxyTimeoutMs?: number;
  /** grid_client project name; DEFAULT_PROJECT_NAME when absent. */
  readonly projectName?: string;
  /** The gateway's twin id, so node search can include nodes it rents before the grid client is connected. */
  readonly twinId?: number;
}

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

/** How a grid error is handled: whether another node or a later try may work, and what an operator should do. */
export interface GridErrorClass {
  readonly retryable: boolean;
  readonly hint?: string;
}

/**
 * Classifies an error thrown by grid_client by its structured fields, never by its text:
 * `@threefold/types` errors carry `module` and `code` (2.9: Generic, tfGridNode, tfGridFarm,
 * tfGridWorkloads), tfchain_client errors are named "TFChainError". Node and farm errors
 * (no capacity, node unavailable or rented, disk allocation) and transport errors are
 * retryable; validation (including KYC), a missing twin, and a lack of funds are not.
 * Errors without these fields get `unknownRetryable`: connect() throws a plain Error when
 * no grid service answers ("Failed to reach GridProxy on all provided stacks", 2.9.2).
 */
export function classifyGridError(err: unknown, unknownRetryable = false): GridErrorClass {
  if (err instanceof GridTimeoutError) return { retryable: true };
  const e = (err ?? {}) as { module?: unknown; code?: unknown; name?: unknown };
  if (e.name === 'TFChainError') return { retryable: true };
  switch (e.module) {
    case 'tfGridNode':
    case 'tfGridFarm':
      return { retryable: true };
    case 'tfGridWorkloads':
      // WorkloadDeleteError 0, WorkloadDeployError 1, WorkloadUpdateError 2, WorkloadCreateError 3.
      return { retryable: e.code !== 2 };
    case 'Generic':
      switch (e.code) {
        case 1: // GridClientError: a deployment failed and was rolled back.
        case 3: // TimeoutError
        case 4: // ConnectionError
        case 5: // RMBError
        case 6: // InvalidResponse
        case 7: // RequestError
          return { retryable: true };
        case 8: // TwinNotExistError
          return { retryable: false, hint: "create a twin for the gateway's mnemonic on this network (ThreeFold dashboard), or check `network`" };
        case 9: // InsufficientBalanceError
          return { retryable: false, hint: "fund the gateway's twin with TFT" };
        default: // ValidationError (2, also KYC), DeploymentKeyDeletionError, KycError, TFChainError (0)
          return { retryable: false };
      }
    case undefined:
      return { retryable: unknownRetryable };
    default:
      return { retryable: false };
  }
}

/**
 * Loads @threefold/grid_client through require(): its "import" entry point is an ES build
 * with extension-less imports that Node's ESM loader refuses (ERR_UNSUPPORTED_DIR_IMPORT,
 * checked with 2.9.2), its CommonJS build loads. Throws ProvisionError (not retryable) when
 * the package is not installed or does not load.
 */
export function loadGridClientFactory(resolveFrom: string | URL = import.meta.url): GridClientFactory {
  const require = createRequire(resolveFrom);
  try {
    require.resolve(GRID_CLIENT_PACKAGE);
  } catch {
    throw new ProvisionError(
      'loadGridClient',
      `the grid provisioner needs ${GRID_CLIENT_PACKAGE}, an optional dependency that is not installed: run \`npm install ${GRID_CLIENT_PACKAGE}\``,
      false,
    );
  }
  let loaded: unknown;
  try {
    loaded = require(GRID_CLIENT_PACKAGE);
  } catch (err) {
    throw new ProvisionError(
      'loadGridClient',
      `${GRID_CLIENT_PACKAGE} is installed but does not load (${(err as Error).message}); reinstall it with \`npm install ${GRID_CLIENT_PACKAGE}\``,
      false,
    );
  }
  const GridClient = (loaded as { GridClient?: unknown }).GridClient;
  if (typeof GridClient !== 'function') {
    throw new ProvisionError('loadGridClient', `${GRID_CLIENT_PACKAGE} does not export a GridClient class; install a 2.x release`, false);
  }
  const Client = GridClient as new (options: GridClientOptions) => GridClientLike;
  return (options) => new Client(options);
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
    if (!GRID_NETWORKS.includes(config.network)) {
      throw configError(`network must be one of ${GRID_NETWORKS.map((n) => `"${n}"`).join(', ')}, got ${JSON.stringify(config.network)}`);
    }
    this.network = config.network;
    const read = readMnemonic(config, deps.env ?? process.env);
    this.#mnemonic = read.mnemonic;
    this.#mnemonicSource = read.source;
    this.#farmers = parseFarmers(config.farmers);
    this.projectName = config.projectName ?? DEFAULT_PROJECT_NAME;
    if (!/^[A-Za-z0-9_/-]{1,64}$/.test(this.projectName)) throw configError('projectName must be 1 to 64 letters, digits, "_", "-" or "/"');
    this.flist = config.flist ?? DEFAULT_FLIST;
    this.entrypoint = config.entrypoint ?? DEFAULT_ENTRYPOINT;
    this.deployTimeoutMs = config.deployTimeoutMs ?? DEFAULT_DEPLOY_TIMEOUT_MS;
    if (!Number.isSafeInteger(this.deployTimeoutMs) || this.deployTimeoutMs < 1) {
      throw configError(`deployTimeoutMs must be a positive integer of milliseconds, got ${String(config.deployTimeoutMs)}`);
    }
    if (config.twinId !== undefined && (!Number.isSafeInteger(config.twinId) || config.twinId < 1)) {
      throw configError(`twinId must be a positive integer, got ${String(config.twinId)}`);
    }
    this.#configuredTwinId = config.twinId;
    this.#customProxy = config.gridproxyUrl !== undefined;
    try {
      this.#proxy = new GridProxyClient({
        baseUrl: config.gridproxyUrl ?? GRIDPROXY_URLS[this.network],
        ...(config.gridproxyTimeoutMs !== undefined ? { timeoutMs: config.gridproxyTimeoutMs } : {}),
      });
    } catch (err) {
      throw configError(`gridproxy: ${(err as Error).message}`);
    }
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
      throw new ProvisionError('candidateNodes', (err as Error).message, false);
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
      throw new ProvisionError('deploy', (err as Error).message, false);
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
      throw new ProvisionError('setSshKeys', (err as Error).message, false);
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
      throw this.#failure(operation, `connecting to the ${this.network} grid`, err, true);
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
    if (typeof client.twinId === 'number') this.#connectedTwinId = client.twinId;
    return client;
  }

  #serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#mutations.then(work, work);
    this.#mutations = run.catch(() => undefined);
    return run;
  }

  /** `work`, or GridTimeoutError after deployTimeoutMs (then `onTimeout` runs; `work` goes on and must clean up after itself). */
  #bounded<T>(work: Promise<T>, onTimeout?: () => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        onTimeout?.();
        reject(new GridTimeoutError(this.deployTimeoutMs));
      }, this.deployTimeoutMs);
      work.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }

  /** Deletes a deployment that finished after its caller was told it failed; runs inside the deploy's queue slot, never throws. */
  async #removeLateDeployment(client: GridClientLike, name: string): Promise<void> {
    try {
      await client.machines.delete({ name });
      this.#logger?.warn({ deployment: name }, 'grid deployment finished after its timeout; deleted it');
    } catch (err) {
      this.#logger?.warn({ deployment: name, error: this.#redact(errorText(err)) }, 'grid deployment finished after its timeout and could not be deleted: delete it by hand');
    }
  }

  /** Deletes a deployment that cannot be handed over; says how that went, for the error message. */
  async #deleteAfterFailure(client: GridClientLike, name: string): Promise<string> {
    try {
      await this.#bounded(this.#serially(() => client.machines.delete({ name })));
      return 'it was deleted again';
    } catch (err) {
      const text = this.#redact(errorText(err));
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

  #failure(operation: string, what: string, err: unknown, unknownRetryable = false): ProvisionError {
    if (err instanceof ProvisionError) return err;
    const { text, retryable } = this.#describe(err, unknownRetryable);
    return new ProvisionError(operation, `${what}: ${text}`, retryable);
  }

  /** A grid error as text fit for an error message (the mnemonic redacted, the operator's hint added), and whether it is retryable. */
  #describe(err: unknown, unknownRetryable = false): { text: string; retryable: boolean } {
    const { retryable, hint } = classifyGridError(err, unknownRetryable);
    const text = this.#redact(errorText(err));
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

/** A grid_client call that did not finish within the provisioner's timeout. */
class GridTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`no answer from the grid within ${timeoutMs} ms`);
    this.name = 'GridTimeoutError';
  }
}

function readMnemonic(config: GridProvisionerConfig, env: Readonly<Record<string, string | undefined>>): { mnemonic: string; source: string } {
  const hasFile = config.mnemonicFile !== undefined;
  const hasEnv = config.mnemonicEnv !== undefined;
  if (hasFile === hasEnv) {
    throw configError('give the mnemonic through exactly one of mnemonicFile (a mode-0600 file) and mnemonicEnv (an environment variable name)');
  }
  let raw: string;
  let source: string;
  if (config.mnemonicFile !== undefined) {
    source = `file ${config.mnemonicFile}`;
    try {
      raw = readSecureFile(config.mnemonicFile).toString('utf8');
    } catch (err) {
      throw configError(`mnemonicFile: ${(err as Error).message}`);
    }
  } else {
    const name = config.mnemonicEnv as string;
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw configError(`mnemonicEnv must be an environment variable name, got ${JSON.stringify(name)}`);
    source = `environment variable ${name}`;
    const value = env[name];
    if (value === undefined || value.trim() === '') throw configError(`mnemonicEnv: environment variable ${name} is not set or empty`);
    raw = value;
  }
  const mnemonic = raw.trim().split(/\s+/).join(' ');
  const words = mnemonic.split(' ');
  const isWords = MNEMONIC_WORD_COUNTS.includes(words.length) && words.every((w) => /^[a-z]+$/.test(w));
  const isSeed = /^(0x)?[0-9a-fA-F]{64}$/.test(mnemonic);
  if (!isWords && !isSeed) {
    throw configError(`the ${source} does not hold a mnemonic: expected 12 to 24 lower-case BIP-39 words, or a 32-byte hex seed`);
  }
  return { mnemonic, source };
}

function parseFarmers(farmers: Readonly<Record<string, string>> | undefined): ReadonlyMap<number, string> {
  if (farmers === null || typeof farmers !== 'object' || Array.isArray(farmers)) {
    throw configError('farmers must map farm ids to their farmers\' AgentPubKeys, e.g. {"42": "uhCAk…"}');
  }
  const out = new Map<number, string>();
  for (const [farmId, agent] of Object.entries(farmers)) {
    if (!/^[1-9][0-9]{0,9}$/.test(farmId)) throw configError(`farmers: ${JSON.stringify(farmId)} is not a farm id (a positive integer)`);
    if (!isAgentPubKey(agent)) throw configError(`farmers.${farmId}: not a valid AgentPubKey ("uhCAk…")`);
    out.set(Number(farmId), agent);
  }
  if (out.size === 0) {
    throw configError('farmers must name at least one farm: only nodes of listed farms are candidates, because the gateway pays each farm\'s farmer');
  }
  return out;
}

function configError(message: string): ProvisionError {
  return new ProvisionError('config', `grid provisioner: ${message}`, false);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
