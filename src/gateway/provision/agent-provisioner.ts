// AgentProvisioner: VMs run by farmers' agents (the lab driver today), placed by free capacity and driven over the agent WebSocket.
import { slotsFor, type Capacity, type Offer } from '../../protocol/offer.js';
import type { CommandOp, ResultMessage } from '../../protocol/agent-messages.js';
import { AgentCommandError, type NodeView } from '../agents/agent-hub.js';
import { ProvisionError, type NodeCandidate, type Provisioner, type VmHandle, type VmSpec, type VmStatus } from './provisioner.js';
import type { SealedSecret } from '../../protocol/sealed-secret.js';

/** What the agent provisioner needs of the gateway. */
export interface AgentProvisionerDeps {
  /** Approved nodes with their connection state and declared capacity. */
  nodes(): NodeView[];
  /** Capacity already taken on a node (VMs placed or being placed there). */
  usedOn(node: string): Capacity;
  command(node: string, op: CommandOp, vm: { id: string; sshKeys?: readonly string[]; secrets?: readonly SealedSecret[] }, timeoutMs: number): Promise<ResultMessage>;
  readonly commandTimeoutMs: number;
}

/** Places VMs on connected, up agent nodes with room, most room first; commands them over the hub. */
export class AgentProvisioner implements Provisioner {
  readonly kind = 'agent' as const;

  constructor(private readonly deps: AgentProvisionerDeps) {}

  candidateNodes(offer: Offer): Promise<NodeCandidate[]> {
    const out: NodeCandidate[] = [];
    for (const n of this.deps.nodes()) {
      if (!n.connected || !n.up || !n.capacity) continue;
      const used = this.deps.usedOn(n.id);
      const free = { cpu: n.capacity.cpu - used.cpu, memoryGb: n.capacity.memoryGb - used.memoryGb, diskGb: n.capacity.diskGb - used.diskGb };
      const freeSlots = slotsFor(offer, free);
      if (freeSlots > 0) out.push({ node: n.id, farmer: n.farmer, freeSlots });
    }
    return Promise.resolve(out.sort((a, b) => b.freeSlots - a.freeSlots || a.node.localeCompare(b.node)));
  }

  async deploy(spec: VmSpec): Promise<VmHandle> {
    const r = await this.run('deploy', spec.node, { id: spec.deploymentId, sshKeys: spec.sshKeys, ...(spec.secrets ? { secrets: spec.secrets } : {}) });
    if (!r.vm || r.vm.myceliumIp === '') throw new ProvisionError('deploy', `the agent of ${spec.node} did not say where the VM is`, true);
    return { deploymentId: spec.deploymentId, node: spec.node, myceliumIp: r.vm.myceliumIp, ref: {} };
  }

  async pause(vm: VmHandle): Promise<void> {
    await this.run('pause', vm.node, { id: vm.deploymentId });
  }

  async resume(vm: VmHandle): Promise<void> {
    await this.run('resume', vm.node, { id: vm.deploymentId });
  }

  async destroy(vm: VmHandle): Promise<void> {
    await this.run('destroy', vm.node, { id: vm.deploymentId });
  }

  async status(vm: VmHandle): Promise<VmStatus> {
    try {
      const r = await this.run('status', vm.node, { id: vm.deploymentId });
      const state = r.vm?.state;
      return state === 'running' || state === 'paused' || state === 'gone' ? state : 'unknown';
    } catch {
      return 'unknown';
    }
  }

  async setSshKeys(vm: VmHandle, sshKeys: readonly string[]): Promise<void> {
    await this.run('set-ssh-keys', vm.node, { id: vm.deploymentId, sshKeys });
  }

  private async run(op: CommandOp, node: string, vm: { id: string; sshKeys?: readonly string[]; secrets?: readonly SealedSecret[] }): Promise<ResultMessage> {
    try {
      return await this.deps.command(node, op, vm, this.deps.commandTimeoutMs);
    } catch (err) {
      if (err instanceof AgentCommandError) throw new ProvisionError(op, err.message, err.retryable);
      throw err;
    }
  }
}
