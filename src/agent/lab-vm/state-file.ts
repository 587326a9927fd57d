// The lab VM driver's state file (lab-vms.json, mode 0600): which VMs exist, so a restarted agent restores them.
import { join } from 'node:path';
import { fromHex, normaliseIpv6, readSecureFile, SecureFileError, vmAddress, writeSecureFile } from '../../identity/index.js';
import { VmDriverError } from '../vm-driver.js';
import { isSeedHex, isVmId, type VmRecord } from './vm-record.js';
import { MAX_VMS } from './vm-user.js';

const STATE_FILE = 'lab-vms.json';
const STATE_VERSION = 1;

interface StateFile {
  readonly version: number;
  readonly nodeSubnet: string;
  readonly vms: readonly VmRecord[];
}

/** Writes every VM's record atomically. */
export function saveVmState(stateDir: string, nodeSubnet: string, records: readonly VmRecord[]): void {
  const state: StateFile = { version: STATE_VERSION, nodeSubnet, vms: records };
  writeSecureFile(join(stateDir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
}

/**
 * Reads the VM records of node `nodeSubnet` (whose /64 prefix is `prefix`); none when there is no
 * file yet. A record from before VMs had their own users gets a free slot.
 */
export function loadVmState(stateDir: string, nodeSubnet: string, prefix: Uint8Array): VmRecord[] {
  const path = join(stateDir, STATE_FILE);
  let text: string;
  try {
    text = readSecureFile(path).toString('utf8');
  } catch (err) {
    if (err instanceof SecureFileError && err.problem === 'not_found') return [];
    throw err;
  }
  let state: unknown;
  try {
    state = JSON.parse(text);
  } catch {
    throw new VmDriverError('failed', `${path} is not JSON; restore it from a backup or move it away`);
  }
  const s = state as Partial<StateFile>;
  if (s.version !== STATE_VERSION || !Array.isArray(s.vms)) {
    throw new VmDriverError('failed', `${path} is not a version ${STATE_VERSION} lab VM state file`);
  }
  if (s.nodeSubnet !== nodeSubnet) {
    throw new VmDriverError('failed', `${path} holds VMs of node subnet ${String(s.nodeSubnet)}, not ${nodeSubnet}; give this node its own stateDir`);
  }
  const parsed = s.vms.map((raw: unknown, i) => checkRecord(raw, `${path}: vms[${i}]`, nodeSubnet, prefix));
  const taken = new Set<number>();
  for (const [i, r] of parsed.entries()) {
    if (r.slot === undefined) continue;
    if (taken.has(r.slot)) throw new VmDriverError('failed', `${path}: vms[${i}] shares slot ${r.slot} with another VM`);
    taken.add(r.slot);
  }
  return parsed.map((r) => ({ ...r, slot: r.slot ?? freeSlot(taken) }));
}

/** The lowest slot not in `taken` (which it then holds). */
export function freeSlot(taken: Set<number>): number {
  for (let slot = 0; slot < MAX_VMS; slot++) {
    if (!taken.has(slot)) {
      taken.add(slot);
      return slot;
    }
  }
  throw new VmDriverError('conflict', `this node already runs ${MAX_VMS} lab VMs, the most one node may; destroy one first`);
}

function checkRecord(raw: unknown, where: string, nodeSubnet: string, prefix: Uint8Array): Omit<VmRecord, 'slot'> & { slot?: number } {
  const r = raw as Partial<VmRecord>;
  const ok =
    typeof r === 'object' &&
    r !== null &&
    isVmId(r.id) &&
    isSeedHex(r.seedHex) &&
    (r.state === 'running' || r.state === 'paused') &&
    Array.isArray(r.sshKeys) &&
    r.sshKeys.every((k) => typeof k === 'string') &&
    typeof r.createdAtMs === 'number' &&
    (r.slot === undefined || (Number.isInteger(r.slot) && r.slot >= 0 && r.slot < MAX_VMS));
  if (!ok) throw new VmDriverError('failed', `${where} is malformed`);
  const myceliumIp = vmAddress(prefix, fromHex('seedHex', r.seedHex, 6));
  if (typeof r.myceliumIp !== 'string' || normaliseIpv6(r.myceliumIp) !== myceliumIp) {
    throw new VmDriverError('failed', `${where}: its address does not match its seed in ${nodeSubnet}`);
  }
  return {
    id: r.id,
    seedHex: r.seedHex.toLowerCase(),
    myceliumIp,
    state: r.state,
    sshKeys: r.sshKeys,
    createdAtMs: r.createdAtMs,
    ...(r.slot === undefined ? {} : { slot: r.slot }),
  };
}
