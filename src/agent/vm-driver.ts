// The VmDriver port: how a farmer's agent runs VMs itself (the lab driver today, real hardware later).

/** Where an agent-run VM is: serving, paused (unreachable, kept), or gone (destroyed or never deployed). */
export type VmState = 'running' | 'paused' | 'gone';

/** One agent-run VM, as the agent reports it to the gateway. */
export interface VmInfo {
  /** The gateway's deployment id; also the driver's key for the VM. */
  readonly id: string;
  /** The VM's own Mycelium address: the node's /64 prefix + `ff0f` + a 6-byte seed. */
  readonly myceliumIp: string;
  readonly state: Exclude<VmState, 'gone'>;
  /**
   * The VM's SSH host key as one OpenSSH line ("ssh-ed25519 AAAA…"), when the driver knows it,
   * so a customer can pin it in known_hosts instead of trusting it on first use.
   */
  readonly hostPublicKeySsh?: string;
}

/** What to deploy. */
export interface VmDeployRequest {
  /** 1–64 characters of [A-Za-z0-9_.-], starting with a letter or digit. */
  readonly id: string;
  /** OpenSSH public key lines ("ssh-ed25519 AAAA… comment"); may be empty for a warm-pool VM. */
  readonly sshKeys: readonly string[];
  /** 12 hex digits (6 bytes) fixing the address; random when absent (grid `myceliumSeed`). */
  readonly seedHex?: string;
  /** The order's secrets, opened by the agent: installed as files only the VM's user can read. */
  readonly secrets?: readonly VmSecretFile[];
}

/** One opened secret: its file name (protocol/sealed-secret.ts SECRET_NAME) and its bytes. */
export interface VmSecretFile {
  readonly name: string;
  readonly data: Uint8Array;
}

/** Why a driver operation failed, for the agent to map onto its answer without reading messages. */
export type VmDriverErrorCode =
  /** A bad argument; the message names it. */
  | 'invalid_request'
  /** No VM with that id. */
  | 'not_found'
  /** The request contradicts an existing VM (another seed, an address already taken). */
  | 'conflict'
  /** The driver was not started, or was closed. */
  | 'not_started'
  /** The host could not do it (a command or file failed); retrying may help. */
  | 'failed';

/** A driver operation that failed; the message starts with the operation ("labvm.deploy: …"). */
export class VmDriverError extends Error {
  constructor(readonly code: VmDriverErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'VmDriverError';
  }
}

/**
 * Runs VMs for the agent. Every method may throw VmDriverError. Like every long-running service
 * here it has one lifecycle: `start` (restores what the last run left), the operations, `close`.
 */
export interface VmDriver {
  /** Restores persisted VMs: running ones serve again, paused ones stay paused. */
  start(): Promise<void>;
  /** Deploys a VM, or returns the existing one with that id unchanged (deploy is retried after crashes). */
  deploy(request: VmDeployRequest): Promise<VmInfo>;
  /** Makes the VM unreachable (address withdrawn) and ends its sessions; keeps its seed, keys and files for resume. No-op when paused. */
  pause(id: string): Promise<VmInfo>;
  /** Brings a paused VM back on the same address with the same host key. No-op when running. */
  resume(id: string): Promise<VmInfo>;
  /** Removes the VM for good. An unknown id is fine (destroy is retried after crashes). */
  destroy(id: string): Promise<void>;
  status(id: string): Promise<VmState>;
  /** Replaces the authorized keys; sessions of keys no longer authorized end. */
  setSshKeys(id: string, sshKeys: readonly string[]): Promise<VmInfo>;
  list(): Promise<VmInfo[]>;
  /** Stops serving but keeps every VM's state, so the next `start` restores them. */
  close(): Promise<void>;
}
