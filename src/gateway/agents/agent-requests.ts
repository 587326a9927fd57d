// Pending join requests of unknown farmer agents: stored for an admin to decide, capped per /64 and in all, and dropped when stale.
import type { Table } from '../store/store.js';
import type { AgentApproval } from '../store/records.js';

/** How many requests may wait, and for how long (config `agentRequests`). */
export interface AgentRequestPolicy {
  readonly maxPerSubnet: number;
  readonly maxTotal: number;
  readonly expireAfterMs: number;
}

/** What became of a hello from an agent that is not approved. */
export type RequestOutcome =
  | { readonly kind: 'stored'; readonly request: AgentApproval }
  | { readonly kind: 'already_pending'; readonly request: AgentApproval }
  | { readonly kind: 'refused'; readonly limit: 'agentRequests.maxPerSubnet' | 'agentRequests.maxTotal'; readonly reason: string };

/**
 * A self-signed hello costs its sender nothing (a fresh key is free), so the requests it leaves
 * are bounded: at most `maxPerSubnet` waiting from one /64 (Mycelium authenticates the /64, so
 * that is what a sender pays for) and `maxTotal` in all; each waits `expireAfterMs`, then is
 * dropped and the agent may ask again. A refusal names the limit it hit first, as the
 * reason travels in a WebSocket close frame (at most 123 bytes).
 */
export class AgentRequests {
  constructor(
    private readonly agents: Table<AgentApproval>,
    private readonly policy: AgentRequestPolicy,
  ) {}

  /** Records `agent`'s request to speak for `nodes` from `subnet`, unless a limit is reached. */
  async request(agent: string, subnet: string, nodes: readonly string[], nowMs: number): Promise<RequestOutcome> {
    await this.expire(nowMs);
    const existing = this.agents.get(agent);
    if (existing?.state === 'pending') return { kind: 'already_pending', request: existing };
    const pending = this.pending();
    const fromSubnet = pending.filter((a) => a.subnets.includes(subnet)).length;
    if (fromSubnet >= this.policy.maxPerSubnet) {
      return {
        kind: 'refused',
        limit: 'agentRequests.maxPerSubnet',
        reason: `agentRequests.maxPerSubnet (${this.policy.maxPerSubnet}) reached: ${fromSubnet} requests from ${subnet} wait for an admin; retry later`,
      };
    }
    if (pending.length >= this.policy.maxTotal) {
      return { kind: 'refused', limit: 'agentRequests.maxTotal', reason: `agentRequests.maxTotal (${this.policy.maxTotal}) reached: ${pending.length} requests wait for an admin; retry later` };
    }
    const request: AgentApproval = { agent, state: 'pending', source: 'request', subnets: [subnet], nodes: [...nodes], requestedAtMs: nowMs };
    await this.agents.put(agent, request);
    return { kind: 'stored', request };
  }

  /** Drops requests older than the policy allows; returns how many. */
  async expire(nowMs: number): Promise<number> {
    const stale = this.pending().filter((a) => (a.requestedAtMs ?? 0) + this.policy.expireAfterMs <= nowMs);
    await Promise.all(stale.map((a) => this.agents.delete(a.agent)));
    return stale.length;
  }

  private pending(): AgentApproval[] {
    return this.agents.values().filter((a) => a.state === 'pending');
  }
}
