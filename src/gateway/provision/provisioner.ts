// The Provisioner port: deploys and controls VMs, on the ThreeFold grid or on farmers' agents.
import type { Offer } from '../../protocol/offer.js';
import type { SealedSecret } from '../../protocol/sealed-secret.js';

/** What to deploy. */
export interface VmSpec {
  readonly deploymentId: string;
  /** A short name, [a-z0-9] only, unique per gateway (grid deployments need one). */
  readonly name: string;
  readonly offer: Offer;
  /** OpenSSH public key lines ("ssh-ed25519 AAAA… comment"), already validated. */
  readonly sshKeys: readonly string[];
  /** The node chosen from candidateNodes. */
  readonly node: string;
  /** Secrets sealed to the node's farmer agent, which opens and installs them (agent provisioner only). */
  readonly secrets?: readonly SealedSecret[];
}

/** A deployed VM, as the gateway stores it. `ref` holds provisioner-specific ids (contract ids, …). */
export interface VmHandle {
  readonly deploymentId: string;
  readonly node: string;
  readonly myceliumIp: string;
  readonly ref: Readonly<Record<string, string>>;
}

/** Where a VM is, as far as its provisioner can tell. */
export type VmStatus = 'running' | 'paused' | 'gone' | 'unknown';

/** A node that can take a VM of the offer asked about. */
export interface NodeCandidate {
  readonly node: string;
  /** The farmer's AgentPubKey: where SPORE for this node's uptime goes. */
  readonly farmer: string;
  /** How many more VMs of the offer fit. */
  readonly freeSlots: number;
}

/** A provisioning step failed. `retryable`: another node (or a later try) may work. */
export class ProvisionError extends Error {
  constructor(readonly operation: string, message: string, readonly retryable: boolean) {
    super(`provision.${operation}: ${message}`);
    this.name = 'ProvisionError';
  }
}

/** Deploys and controls VMs. Every method may throw ProvisionError. */
export interface Provisioner {
  readonly kind: 'agent' | 'grid';
  /** Nodes with room for `offer`, most room first. */
  candidateNodes(offer: Offer): Promise<NodeCandidate[]>;
  deploy(spec: VmSpec): Promise<VmHandle>;
  pause(vm: VmHandle): Promise<void>;
  resume(vm: VmHandle): Promise<void>;
  destroy(vm: VmHandle): Promise<void>;
  status(vm: VmHandle): Promise<VmStatus>;
  /** Replaces the VM's authorized SSH keys. */
  setSshKeys(vm: VmHandle, sshKeys: readonly string[]): Promise<void>;
  /** Lets go of connections (the grid client's); the gateway calls it on shutdown. */
  close?(): Promise<void>;
}
