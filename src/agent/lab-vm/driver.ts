// The lab's VmDriver: VM lifecycle (deploy, pause, resume, destroy) over addresses, SSH endpoints, VM users and the state file.
import { chmod, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../../identity/error-message.js';
import { fromHex, parseSubnet64, randomBytes, readSecureFile, subnet64Of, toHex, vmAddress, writeSecureFile } from '../../identity/index.js';
import { VmDriverError, type VmDeployRequest, type VmDriver, type VmInfo, type VmState } from '../vm-driver.js';
import { sshKeyFingerprint } from '../../protocol/ssh-key.js';
import { hostPublicKeySshOf, newHostKeyPem, parseAuthorizedKeys, type AuthorizedKey } from './authorized-keys.js';
import { addInterfaceAddress, removeInterfaceAddress } from './interface-address.js';
import { VmSshEndpoint } from './ssh-endpoint.js';
import { freeSlot, loadVmState, saveVmState } from './state-file.js';
import { checkId, checkSeedHex, invalid, type VmRecord } from './vm-record.js';
import { killUserProcesses, prepareHome, vmUser, type VmUser } from './vm-user.js';
import { installSecrets } from './vm-secrets.js';

const HOST_KEY_FILE = 'ssh_host_ed25519_key';
/**
 * Folders on the way to a VM's home: root-owned, others may pass through but not list, so each VM
 * user reaches its own home (0700) and nothing else; every file in them is 0600.
 */
const PASS_THROUGH_MODE = 0o711;

/** Options for LabVmDriver. */
export interface LabVmDriverOptions {
  /** Folder for the state file, host keys and home folders; created mode 0711 if missing. */
  readonly stateDir: string;
  /** The node's Mycelium /64 in CIDR text ("570:75b1:b695:5ed7::/64"); VM addresses are carved from it. */
  readonly nodeSubnet: string;
  /** The interface VM addresses are added to: Mycelium's TUN (default name `mycelium`). */
  readonly interfaceName?: string;
  readonly sshPort?: number;
  /** Told the VM id and the key's OpenSSH SHA256 fingerprint each time a customer's key logs in. */
  readonly onLogin?: (vmId: string, keyFingerprint: string) => void;
}

interface LabVm {
  record: VmRecord;
  authorized: readonly AuthorizedKey[];
  readonly hostKeyPem: Buffer;
  readonly hostPublicKeySsh: string;
  readonly user: VmUser;
  endpoint?: VmSshEndpoint;
}

/**
 * A VmDriver for the lab: a "VM" is a real SSH endpoint on its own 400::/7 address inside the
 * node's /64 (prefix + ff0f + 6-byte seed, as grid VMs get), run by the agent inside the node's
 * network namespace. Only the given public keys may log in (as "root", the name grid VMs use);
 * commands run with /bin/sh as the VM's own unprivileged user, in the VM's home folder.
 * Operations run one at a time, so the state file never races.
 */
export class LabVmDriver implements VmDriver {
  private readonly stateDir: string;
  private readonly nodeSubnet: string;
  private readonly prefix: Uint8Array;
  private readonly interfaceName: string;
  private readonly onLogin: LabVmDriverOptions['onLogin'];
  private readonly sshPort: number;
  private readonly vms = new Map<string, LabVm>();
  private started = false;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: LabVmDriverOptions) {
    if (typeof options.stateDir !== 'string' || options.stateDir === '') {
      throw new VmDriverError('invalid_request', 'labvm: stateDir must be a folder path');
    }
    try {
      this.prefix = parseSubnet64(options.nodeSubnet);
    } catch (err) {
      throw new VmDriverError('invalid_request', `labvm: nodeSubnet: ${errorMessage(err)}`, { cause: err });
    }
    const interfaceName = options.interfaceName ?? 'mycelium';
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(interfaceName)) {
      throw new VmDriverError('invalid_request', 'labvm: interfaceName must be a Linux interface name (1-15 characters)');
    }
    const sshPort = options.sshPort ?? 22;
    if (!Number.isInteger(sshPort) || sshPort < 1 || sshPort > 65_535) {
      throw new VmDriverError('invalid_request', 'labvm: sshPort must be an integer from 1 to 65535');
    }
    this.stateDir = options.stateDir;
    this.onLogin = options.onLogin;
    const subnetBytes = new Uint8Array(16);
    subnetBytes.set(this.prefix);
    this.nodeSubnet = subnet64Of(subnetBytes);
    this.interfaceName = interfaceName;
    this.sshPort = sshPort;
  }

  /** Loads the state folder and brings persisted running VMs back; on failure closes what it opened. */
  start(): Promise<void> {
    return this.serial('start', false, async () => {
      if (this.started) return;
      for (const dir of [this.stateDir, join(this.stateDir, 'vms')]) {
        await mkdir(dir, { recursive: true, mode: PASS_THROUGH_MODE });
        await chmod(dir, PASS_THROUGH_MODE);
      }
      try {
        for (const record of loadVmState(this.stateDir, this.nodeSubnet, this.prefix)) {
          const vm = this.restoreVm(record);
          this.vms.set(record.id, vm);
          if (record.state === 'running') await this.bringUp(vm);
          else await this.takeDown(vm);
        }
      } catch (err) {
        await Promise.all([...this.vms.values()].map((vm) => this.stopEndpoint(vm)));
        this.vms.clear();
        throw err;
      }
      this.started = true;
    });
  }

  deploy(request: VmDeployRequest): Promise<VmInfo> {
    return this.serial('deploy', true, async () => {
      if (typeof request !== 'object' || request === null) throw invalid('the request must be an object {id, sshKeys, seedHex?}');
      const id = checkId(request.id);
      const authorized = parseAuthorizedKeys(request.sshKeys);
      const wantedSeed = request.seedHex === undefined ? undefined : checkSeedHex(request.seedHex);
      const existing = this.vms.get(id);
      if (existing) {
        if (wantedSeed !== undefined && wantedSeed !== existing.record.seedHex) {
          throw new VmDriverError('conflict', `VM ${id} exists with another seed; destroy it first to change its address`);
        }
        return infoOf(existing);
      }
      const seedHex = wantedSeed ?? this.freshSeedHex();
      const myceliumIp = vmAddress(this.prefix, fromHex('seedHex', seedHex, 6));
      const holder = [...this.vms.values()].find((vm) => vm.record.myceliumIp === myceliumIp);
      if (holder) throw new VmDriverError('conflict', `seedHex ${seedHex} gives the address of VM ${holder.record.id}; pick another seed`);
      const slot = freeSlot(new Set([...this.vms.values()].map((vm) => vm.record.slot)));

      const dir = this.vmDir(id);
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true, mode: PASS_THROUGH_MODE });
      await chmod(dir, PASS_THROUGH_MODE);
      const hostKeyPem = newHostKeyPem();
      writeSecureFile(join(dir, HOST_KEY_FILE), hostKeyPem);
      const vm: LabVm = {
        record: { id, seedHex, myceliumIp, state: 'running', sshKeys: request.sshKeys.map((k) => k.trim()), createdAtMs: Date.now(), slot },
        authorized,
        hostKeyPem,
        hostPublicKeySsh: hostPublicKeySshOf(hostKeyPem),
        user: vmUser(this.nodeSubnet, slot),
      };
      this.vms.set(id, vm);
      try {
        this.saveState();
        await this.bringUp(vm);
        if (request.secrets !== undefined && request.secrets.length > 0) await installSecrets(join(dir, 'home'), vm.user, request.secrets);
      } catch (err) {
        await this.takeDown(vm).catch(() => undefined);
        this.vms.delete(id);
        try {
          this.saveState();
        } catch {
          // The record stays on disk; the next start brings it up and a retried deploy returns it.
        }
        await rm(dir, { recursive: true, force: true }).catch(() => undefined);
        throw err;
      }
      return infoOf(vm);
    });
  }

  pause(id: string): Promise<VmInfo> {
    return this.serial('pause', true, async () => {
      const vm = this.get(id);
      // Saved first: a crash half-way still restarts the VM paused, which is what billing asked for.
      if (vm.record.state !== 'paused') this.setRecord(vm, { ...vm.record, state: 'paused' });
      await this.takeDown(vm);
      return infoOf(vm);
    });
  }

  resume(id: string): Promise<VmInfo> {
    return this.serial('resume', true, async () => {
      const vm = this.get(id);
      if (vm.record.state === 'running') {
        await this.bringUp(vm);
        return infoOf(vm);
      }
      const paused = vm.record;
      this.setRecord(vm, { ...paused, state: 'running' });
      try {
        await this.bringUp(vm);
      } catch (err) {
        await this.takeDown(vm).catch(() => undefined);
        try {
          this.setRecord(vm, paused);
        } catch {
          // Left "running" on disk: the next start retries bringing it up.
        }
        throw err;
      }
      return infoOf(vm);
    });
  }

  destroy(id: string): Promise<void> {
    return this.serial('destroy', true, async () => {
      checkId(id);
      const vm = this.vms.get(id);
      if (vm) {
        await this.takeDown(vm);
        this.vms.delete(id);
        try {
          this.saveState();
        } catch (err) {
          this.vms.set(id, vm);
          throw err;
        }
      }
      await rm(this.vmDir(id), { recursive: true, force: true });
    });
  }

  status(id: string): Promise<VmState> {
    return this.serial('status', true, () => Promise.resolve(this.vms.get(checkId(id))?.record.state ?? 'gone'));
  }

  setSshKeys(id: string, sshKeys: readonly string[]): Promise<VmInfo> {
    return this.serial('setSshKeys', true, () => {
      const vm = this.get(id);
      const authorized = parseAuthorizedKeys(sshKeys);
      this.setRecord(vm, { ...vm.record, sshKeys: sshKeys.map((k) => k.trim()) });
      vm.authorized = authorized;
      vm.endpoint?.endUnauthorized(authorized);
      return Promise.resolve(infoOf(vm));
    });
  }

  list(): Promise<VmInfo[]> {
    return this.serial('list', true, () => Promise.resolve([...this.vms.values()].map(infoOf)));
  }

  /** Stops every VM's server and ends its sessions; addresses and state stay for the next start. */
  close(): Promise<void> {
    return this.serial('close', false, async () => {
      if (!this.started) return;
      this.started = false;
      await Promise.all([...this.vms.values()].map((vm) => this.stopEndpoint(vm)));
      this.vms.clear();
    });
  }

  /** Runs `fn` after every earlier operation, wrapping what it throws with the operation's name. */
  private serial<T>(op: string, needsStart: boolean, fn: () => Promise<T>): Promise<T> {
    const task = this.queue
      .then(() => {
        if (needsStart && !this.started) throw new VmDriverError('not_started', 'the driver is not started; call start() first');
        return fn();
      })
      .catch((err: unknown) => {
        throw wrapError(op, err);
      });
    this.queue = task.catch(() => undefined);
    return task;
  }

  private get(id: string): LabVm {
    const vm = this.vms.get(checkId(id));
    if (!vm) throw new VmDriverError('not_found', `no VM ${id}; list() shows the VMs this agent runs`);
    return vm;
  }

  private vmDir(id: string): string {
    return join(this.stateDir, 'vms', id);
  }

  private freshSeedHex(): string {
    const taken = new Set([...this.vms.values()].map((vm) => vm.record.seedHex));
    for (;;) {
      const seedHex = toHex(randomBytes(6));
      if (!taken.has(seedHex)) return seedHex;
    }
  }

  /** Replaces a VM's record and saves; the old record stays when saving fails. */
  private setRecord(vm: LabVm, record: VmRecord): void {
    const before = vm.record;
    vm.record = record;
    try {
      this.saveState();
    } catch (err) {
      vm.record = before;
      throw err;
    }
  }

  private saveState(): void {
    saveVmState(this.stateDir, this.nodeSubnet, [...this.vms.values()].map((vm) => vm.record));
  }

  private restoreVm(record: VmRecord): LabVm {
    const hostKeyPem = readSecureFile(join(this.vmDir(record.id), HOST_KEY_FILE));
    return {
      record,
      authorized: parseAuthorizedKeys(record.sshKeys),
      hostKeyPem,
      hostPublicKeySsh: hostPublicKeySshOf(hostKeyPem),
      user: vmUser(this.nodeSubnet, record.slot),
    };
  }

  /** Home, address, then the SSH server on it; each step is a no-op when already done. */
  private async bringUp(vm: LabVm): Promise<void> {
    const home = join(this.vmDir(vm.record.id), 'home');
    await prepareHome(home, vm.user);
    await addInterfaceAddress(this.interfaceName, vm.record.myceliumIp);
    vm.endpoint ??= await VmSshEndpoint.listen({
      address: vm.record.myceliumIp,
      port: this.sshPort,
      hostKeyPem: vm.hostKeyPem,
      authorized: () => vm.authorized,
      home,
      user: vm.user,
      onLogin: (blob) => this.onLogin?.(vm.record.id, sshKeyFingerprint(blob)),
    });
  }

  /** Server closed, sessions and the VM user's processes ended, address removed; each step is a no-op when already done. */
  private async takeDown(vm: LabVm): Promise<void> {
    await this.stopEndpoint(vm);
    await killUserProcesses(vm.user);
    await removeInterfaceAddress(this.interfaceName, vm.record.myceliumIp);
  }

  private async stopEndpoint(vm: LabVm): Promise<void> {
    const endpoint = vm.endpoint;
    if (!endpoint) return;
    vm.endpoint = undefined;
    await endpoint.close();
  }
}

function infoOf(vm: LabVm): VmInfo {
  return { id: vm.record.id, myceliumIp: vm.record.myceliumIp, state: vm.record.state, hostPublicKeySsh: vm.hostPublicKeySsh };
}

function wrapError(op: string, err: unknown): VmDriverError {
  const prefix = `labvm.${op}: `;
  if (err instanceof VmDriverError) return new VmDriverError(err.code, prefix + err.message, { cause: err });
  return new VmDriverError('failed', prefix + errorMessage(err), { cause: err });
}
