// Maps a VmSpec to the MachinesModel that grid_client deploys, and grid_client's answers back to what a VmHandle keeps.
import { errorMessage } from '../../identity/error-message.js';
import type { VmSpec, VmStatus } from './provisioner.js';
import { kindOf, parseMyceliumAddress } from '../../identity/index.js';

/**
 * Ubuntu 24.04 micro-VM image, the first choice of the grid's own dashboard
 * (tfgrid-sdk-ts playground `micro_vm.vue`); it boots with DEFAULT_ENTRYPOINT and reads SSH_KEY.
 */
export const DEFAULT_FLIST = 'https://hub.grid.tf/tf-official-vms/ubuntu-24.04-latest.flist';

/** The entrypoint of the official micro-VM flists (playground `micro_vm.vue`). */
export const DEFAULT_ENTRYPOINT = '/sbin/zinit init';

/** The private WireGuard range of each deployment's own network (playground `createNetwork` default). */
export const DEFAULT_IP_RANGE = '10.20.0.0/16';

/** Longest deployment, machine and network name grid_client accepts (grid_client 2.9 `NameLength`). */
export const GRID_NAME_MAX_LENGTH = 35;

/** Appended to a deployment's name to name its network. */
export const NETWORK_NAME_SUFFIX = 'net';

/** Longest VmSpec.name this mapping accepts: its network name must still fit GRID_NAME_MAX_LENGTH. */
export const VM_NAME_MAX_LENGTH = GRID_NAME_MAX_LENGTH - NETWORK_NAME_SUFFIX.length;

/** MB in one GB as grid_client counts memory (`memory * 1024 ** 2` bytes; the dashboard's 2 GB is 2048). */
export const MB_PER_GB = 1024;

/** Smallest VM memory grid_client accepts (MachineModel `@Min(256)`). */
export const MIN_MEMORY_MB = 256;

/** The environment variable the official flists read the authorized SSH keys from. */
export const SSH_KEY_ENV = 'SSH_KEY';

/** zos workload result states (zosbase gridtypes `ResultState`). */
export const ZOS_STATE = { init: 'init', unchanged: 'unchanged', error: 'error', ok: 'ok', deleted: 'deleted', paused: 'paused' } as const;

/** The network of a grid deployment (grid_client `NetworkModel`). */
export interface GridNetworkModel {
  name: string;
  ip_range: string;
}

/** A disk beside the root filesystem (grid_client `DiskModel`, size in GB). */
export interface GridDiskModel {
  name: string;
  size: number;
  mountpoint: string;
}

/** One VM of a grid deployment (grid_client `MachineModel`): memory in MB, rootfs_size in GB. */
export interface GridMachineModel {
  name: string;
  node_id: number;
  cpu: number;
  memory: number;
  rootfs_size: number;
  disks: GridDiskModel[];
  flist: string;
  entrypoint: string;
  env: Record<string, string>;
  public_ip: boolean;
  public_ip6: boolean;
  planetary: boolean;
  mycelium: boolean;
  /** 6 bytes as 12 hex digits: the VM's Mycelium address is the network's /64 + ff0f + this seed. */
  myceliumSeed?: string;
}

/** A grid deployment (grid_client `MachinesModel`), what `machines.deploy` takes. */
export interface GridMachinesModel {
  name: string;
  network: GridNetworkModel;
  machines: GridMachineModel[];
  metadata: string;
  description: string;
}

/** Grid-side choices the spec does not carry. */
export interface MachinesModelOptions {
  /** The VM image (the offer's own flist wins when it has one). */
  readonly flist?: string;
  readonly entrypoint?: string;
  readonly ipRange?: string;
  /** A fixed Mycelium seed (12 hex digits); grid_client picks one when absent. */
  readonly myceliumSeedHex?: string;
}

/** The keys of VmHandle.ref a GridProvisioner writes. */
export const GRID_REF = {
  /** The grid deployment name (what machines.getObj and machines.delete take). */
  deploymentName: 'gridDeployment',
  networkName: 'gridNetworkName',
  /** The tfchain network the deployment lives on ("main", "test", …). */
  network: 'gridNetwork',
  nodeId: 'gridNodeId',
  /** Node contract ids, comma-separated, VM contract first. */
  contractIds: 'gridContractIds',
} as const;

/** The name of the network a deployment named `name` gets: one network per deployment, so VMs of different customers never share a private network or a Mycelium /64. */
export function gridNetworkName(name: string): string {
  return `${name}${NETWORK_NAME_SUFFIX}`;
}

/**
 * The MachinesModel for `spec`: one VM on `spec.node` with the offer's size, reachable over
 * Mycelium only (no public IPv4/IPv6, no Planetary network), every SSH key in env SSH_KEY,
 * one key per line. Pure. TypeError/RangeError name the field that cannot be mapped.
 */
export function toMachinesModel(spec: VmSpec, options: MachinesModelOptions = {}): GridMachinesModel {
  const name = checkName(spec.name);
  const nodeId = parseNodeId(spec.node, 'spec.node');
  const { cpu, memoryGb, diskGb } = spec.offer;
  if (!Number.isInteger(cpu) || cpu < 1) throw new RangeError(`spec.offer.cpu must be a positive integer, got ${String(cpu)}`);
  const memoryMb = memoryGb * MB_PER_GB;
  if (!Number.isInteger(memoryMb) || memoryMb < MIN_MEMORY_MB) {
    throw new RangeError(`spec.offer.memoryGb must be a multiple of 1/1024 GB and at least ${MIN_MEMORY_MB} MB, got ${String(memoryGb)}`);
  }
  if (!Number.isInteger(diskGb) || diskGb < 1) throw new RangeError(`spec.offer.diskGb must be a positive integer (the grid sizes rootfs in whole GB), got ${String(diskGb)}`);
  const flist = checkFlist(spec.offer.flist ?? options.flist ?? DEFAULT_FLIST);
  const machine: GridMachineModel = {
    name,
    node_id: nodeId,
    cpu,
    memory: memoryMb,
    rootfs_size: diskGb,
    disks: [],
    flist,
    entrypoint: options.entrypoint ?? DEFAULT_ENTRYPOINT,
    env: { [SSH_KEY_ENV]: sshKeyEnv(spec.sshKeys) },
    public_ip: false,
    public_ip6: false,
    planetary: false,
    mycelium: true,
  };
  if (options.myceliumSeedHex !== undefined) {
    if (!/^[0-9a-f]{12}$/.test(options.myceliumSeedHex)) throw new RangeError('myceliumSeedHex must be 12 lower-case hex digits (6 bytes)');
    machine.myceliumSeed = options.myceliumSeedHex;
  }
  return {
    name,
    network: { name: gridNetworkName(name), ip_range: options.ipRange ?? DEFAULT_IP_RANGE },
    machines: [machine],
    metadata: JSON.stringify({ hypha: { deploymentId: spec.deploymentId } }),
    description: `hypha deployment ${spec.deploymentId}`,
  };
}

/** The SSH_KEY value for `sshKeys`: one key per line. A key must be one non-empty line. */
export function sshKeyEnv(sshKeys: readonly string[]): string {
  if (sshKeys.length === 0) throw new RangeError('sshKeys must hold at least one key: without one nobody can log into the VM');
  sshKeys.forEach((key, i) => {
    if (typeof key !== 'string' || key.trim() === '' || /[\r\n\0]/.test(key)) {
      throw new TypeError(`sshKeys[${i}] must be one non-empty line ("ssh-ed25519 AAAA… comment")`);
    }
  });
  return sshKeys.map((key) => key.trim()).join('\n');
}

/** A grid node id given as decimal text ("42"), or RangeError naming `field`. */
export function parseNodeId(text: string, field: string): number {
  if (typeof text !== 'string' || !/^[1-9][0-9]{0,9}$/.test(text)) {
    throw new RangeError(`${field} must be a grid node id (a positive decimal integer), got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

/** What grid_client's `machines.getObj` reports about one VM (a slice of its `ZmachineData`). */
export interface GridMachineState {
  readonly name: string;
  readonly contractId: number;
  readonly nodeId: number;
  /** The zos workload state: "ok", "paused", "error", "init", "deleted", … */
  readonly state: string;
  /** Canonical text of the VM's Mycelium address; undefined when the grid reported none. */
  readonly myceliumIp: string | undefined;
  readonly env: Readonly<Record<string, unknown>>;
}

/**
 * The VM named `machineName` in a `machines.getObj` answer, or undefined when the deployment
 * has no such VM (deleted, or never deployed). Throws TypeError naming a malformed field, or
 * when the reported Mycelium address is not in 400::/7.
 */
export function machineFromObjs(objs: unknown, machineName: string): GridMachineState | undefined {
  if (!Array.isArray(objs)) throw new TypeError(`getObj must answer a list of machines, got ${kindOf(objs)}`);
  for (const [i, item] of objs.entries()) {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) throw new TypeError(`getObj[${i}] must be an object, got ${kindOf(item)}`);
    const obj = item as Record<string, unknown>;
    if (obj['name'] !== machineName) continue;
    const contractId = obj['contractId'];
    if (typeof contractId !== 'number' || !Number.isSafeInteger(contractId) || contractId < 1) {
      throw new TypeError(`getObj[${i}].contractId must be a positive integer, got ${String(contractId)}`);
    }
    const rawNode = obj['nodeId'];
    const nodeId = typeof rawNode === 'number' ? rawNode : typeof rawNode === 'string' && /^[0-9]+$/.test(rawNode) ? Number(rawNode) : NaN;
    if (!Number.isSafeInteger(nodeId) || nodeId < 1) throw new TypeError(`getObj[${i}].nodeId must be a positive integer, got ${String(rawNode)}`);
    const state = obj['status'];
    if (typeof state !== 'string') throw new TypeError(`getObj[${i}].status must be a string, got ${kindOf(state)}`);
    const rawIp = obj['myceliumIP'];
    let myceliumIp: string | undefined;
    if (typeof rawIp === 'string' && rawIp !== '') {
      try {
        myceliumIp = parseMyceliumAddress(rawIp).address;
      } catch (err) {
        throw new TypeError(`getObj[${i}].myceliumIP is not a Mycelium address: ${errorMessage(err)}`);
      }
    } else if (rawIp !== undefined && rawIp !== null && rawIp !== '') {
      throw new TypeError(`getObj[${i}].myceliumIP must be a string, got ${kindOf(rawIp)}`);
    }
    const env = obj['env'];
    const envRecord = env !== null && typeof env === 'object' && !Array.isArray(env) ? (env as Record<string, unknown>) : {};
    return { name: machineName, contractId, nodeId, state, myceliumIp, env: envRecord };
  }
  return undefined;
}

/** The VmStatus of a VM the grid reports in zos state `state`; a missing VM is "gone". */
export function vmStatusOf(machine: GridMachineState | undefined): VmStatus {
  if (machine === undefined) return 'gone';
  switch (machine.state) {
    case ZOS_STATE.ok:
      return 'running';
    case ZOS_STATE.paused:
      return 'paused';
    case ZOS_STATE.deleted:
      return 'gone';
    default:
      return 'unknown';
  }
}

/**
 * The contract ids of a `machines.deploy` answer (`{ contracts: { created: [{ contractId }] } }`).
 * Anything else yields no ids: the answer is informative, the VM's own contract comes from getObj.
 */
export function createdContractIds(deployResult: unknown): number[] {
  const contracts = (deployResult as { contracts?: { created?: unknown } } | null | undefined)?.contracts;
  const created = contracts?.created;
  if (!Array.isArray(created)) return [];
  const ids: number[] = [];
  for (const c of created) {
    const id = (c as { contractId?: unknown } | null)?.contractId;
    if (typeof id === 'number' && Number.isSafeInteger(id) && id > 0) ids.push(id);
  }
  return ids;
}

/** The VmHandle.ref of a deployed grid VM: deployment and network names, network, node, and contract ids (VM contract first, no duplicates). */
export function toGridRef(model: GridMachinesModel, network: string, machine: GridMachineState, otherContractIds: readonly number[]): Record<string, string> {
  const ids = [machine.contractId, ...otherContractIds.filter((id) => id !== machine.contractId)];
  return {
    [GRID_REF.deploymentName]: model.name,
    [GRID_REF.networkName]: model.network.name,
    [GRID_REF.network]: network,
    [GRID_REF.nodeId]: String(machine.nodeId),
    [GRID_REF.contractIds]: [...new Set(ids)].join(','),
  };
}

function checkName(name: string): string {
  if (typeof name !== 'string' || !/^[a-z0-9]+$/.test(name)) {
    throw new TypeError(`spec.name must be lower-case letters and digits only (the grid refuses other characters), got ${JSON.stringify(name)}`);
  }
  if (name.length > VM_NAME_MAX_LENGTH) {
    throw new RangeError(`spec.name must be at most ${VM_NAME_MAX_LENGTH} characters (grid names are at most ${GRID_NAME_MAX_LENGTH} with the "${NETWORK_NAME_SUFFIX}" network suffix), got ${name.length}`);
  }
  return name;
}

function checkFlist(flist: string): string {
  let url: URL;
  try {
    url = new URL(flist);
  } catch {
    throw new TypeError(`flist must be an https URL of a .flist image such as ${DEFAULT_FLIST}, got ${JSON.stringify(flist)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError(`flist must be an http(s) URL, got ${url.protocol}`);
  return flist;
}
