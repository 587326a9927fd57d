// The chain heads agents sign for each period: checked against the gateway's own chain and kept (a few periods) for the period's receipts.
import { decodeAgentPubKey, fromBase64, verifyJsonStatement } from '../../identity/index.js';
import { CHAIN_HEAD_PURPOSE, type ChainHeadMessage, type ReceiptAgentHead } from '../../protocol/index.js';
import type { EventName } from '../events/event-catalogue.js';

/** Periods before the last close whose signed heads are still taken and kept (what an agent replays after an outage). */
const KEPT_HEAD_PERIODS = 4;

/** Why a signed head was refused: an event for the timeline and the log. */
export interface HeadRefusal {
  readonly event: EventName;
  readonly detail: string;
  readonly data: Record<string, unknown>;
}

/** What checking a head needs from the hub: the gateway's identity and time, and its own view of the agent's chain. */
export interface ChainHeadContext {
  readonly gateway: string;
  readonly periodMs: number;
  readonly nowMs: number;
  readonly closedThroughMs: number;
  /** The gateway's head for `seq` of this agent, if it still knows it. */
  headAt(seq: number): string | undefined;
}

/**
 * Signed heads by agent and period start. Only whole periods from the ones still kept up to now
 * are taken: any other start would be an entry that is never pruned.
 */
export class SignedChainHeads {
  private readonly heads = new Map<string, Map<number, ReceiptAgentHead>>();

  /** Checks `m` from `agent` and keeps it; a refusal to report, or null (kept, or too old to matter). */
  take(agent: string, m: ChainHeadMessage, ctx: ChainHeadContext): HeadRefusal | null {
    const refuse = (detail: string): HeadRefusal => ({ event: 'agent.chain_head_mismatch', detail, data: { seq: m.seq } });
    const periodMs = ctx.periodMs;
    if (m.periodStartMs % periodMs !== 0 || m.periodEndMs !== m.periodStartMs + periodMs || m.periodStartMs > ctx.nowMs) {
      return refuse(`the chain head for seq ${m.seq} names ${m.periodStartMs}..${m.periodEndMs}, which is not a period up to now`);
    }
    if (m.periodStartMs < ctx.closedThroughMs - KEPT_HEAD_PERIODS * periodMs) return null;
    let sig: Uint8Array;
    try {
      sig = fromBase64('signature', m.signature, 64);
    } catch {
      return refuse(`the chain head for seq ${m.seq} has an unreadable signature`);
    }
    const statement = { agent, gateway: ctx.gateway, periodStartMs: m.periodStartMs, periodEndMs: m.periodEndMs, seq: m.seq, head: m.head };
    if (!verifyJsonStatement(sig, CHAIN_HEAD_PURPOSE, statement, decodeAgentPubKey(agent))) {
      return refuse(`the chain-head signature for seq ${m.seq} does not verify`);
    }
    const ours = ctx.headAt(m.seq);
    if (ours !== undefined && ours !== m.head) {
      return refuse(`the agent signed head ${m.head.slice(0, 12)}… for seq ${m.seq}, the gateway has ${ours.slice(0, 12)}…`);
    }
    const byPeriod = this.heads.get(agent) ?? new Map<number, ReceiptAgentHead>();
    byPeriod.set(m.periodStartMs, { periodStartMs: m.periodStartMs, periodEndMs: m.periodEndMs, seq: m.seq, head: m.head, signature: m.signature });
    this.heads.set(agent, byPeriod);
    return null;
  }

  /** The agent's signed head for the period starting at `periodStartMs`, if it sent one. */
  get(agent: string, periodStartMs: number): ReceiptAgentHead | null {
    return this.heads.get(agent)?.get(periodStartMs) ?? null;
  }

  /** How many heads are kept for `agent`. */
  count(agent: string): number {
    return this.heads.get(agent)?.size ?? 0;
  }

  /** Forgets heads of periods that closed more than KEPT_HEAD_PERIODS ago. */
  prune(closedThroughMs: number, periodMs: number): void {
    const keepFrom = closedThroughMs - KEPT_HEAD_PERIODS * periodMs;
    for (const byPeriod of this.heads.values()) for (const start of byPeriod.keys()) if (start < keepFrom) byPeriod.delete(start);
  }
}
