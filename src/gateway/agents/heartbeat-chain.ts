// One agent's heartbeat hash chain as the gateway keeps it: which heartbeat comes next, replays, gaps, forgeries, and what a period close makes durable.
import { chainNext, GENESIS_HEAD, type Heartbeat } from '../../protocol/heartbeat.js';
import { RecentHeads } from './recent-heads.js';

/** Heads kept to check resent heartbeats: an agent replays at most what it buffered since the last acknowledgement. */
export const RECENT_HEADS = 4096;

/** A heartbeat as the chain needs it: its place, the head it names before it, and its content. */
export interface ChainedHeartbeat extends Heartbeat {
  readonly prev: string;
}

/** What the chain made of one heartbeat. */
export type ChainStep =
  /** Already in the chain (a replay after reconnecting); `mismatch` when it differs from what was chained then. */
  | { readonly kind: 'replay'; readonly mismatch: boolean }
  /**
   * The chain moved on to this heartbeat. `gapFrom` names the first missing seq when some never
   * arrived; `mismatch` says it names a previous head that is not the chain's (forged or
   * reordered). Either way it is chained: the agent's own chain is the record from here on.
   */
  | { readonly kind: 'next'; readonly head: string; readonly gapFrom?: number; readonly mismatch: boolean };

/** The two replay answers, made once: a replay is every heartbeat an agent resends after reconnecting. */
const REPLAY_SAME: ChainStep = Object.freeze({ kind: 'replay', mismatch: false });
const REPLAY_MISMATCH: ChainStep = Object.freeze({ kind: 'replay', mismatch: true });

/**
 * The chain of one agent: its last seq and head, the heads of the last RECENT_HEADS heartbeats
 * (to check replays), and each open period's last heartbeat (what a period close stores and a
 * signed chain head is checked against). Pure: no sockets, no clock, no store.
 */
export class HeartbeatChain {
  private readonly recent = new RecentHeads(RECENT_HEADS);
  private readonly periodLast = new Map<number, { seq: number; head: string }>();

  constructor(
    private seqValue: number,
    private headValue: string,
    private readonly periodMs: number,
  ) {}

  /** A chain with no heartbeat yet. */
  static genesis(periodMs: number): HeartbeatChain {
    return new HeartbeatChain(0, GENESIS_HEAD, periodMs);
  }

  get seq(): number {
    return this.seqValue;
  }

  get head(): string {
    return this.headValue;
  }

  /** Open periods holding a last heartbeat (bounded by the clamp in `accept`). */
  get openPeriods(): number {
    return this.periodLast.size;
  }

  /** Whether a heartbeat stamped in period `index` (start / periodMs) or later has been chained. */
  hasPeriodFrom(index: number): boolean {
    for (const k of this.periodLast.keys()) if (k >= index) return true;
    return false;
  }

  /**
   * Takes one heartbeat. `window` is the gateway's view of time (clock ms): the last period close
   * and now. A heartbeat counts for its own period, but never before the last closed period nor
   * after the current one: otherwise every distinct period an agent stamps (any time up to year
   * 275,760) would add an entry that is never closed or pruned. Honest clocks are not moved.
   * `headOf` is the heartbeat's head, chainNext(hb.prev, hb), when the caller has it already
   * (readHeartbeatFrame hashes a frame's bytes as it reads them).
   */
  accept(hb: ChainedHeartbeat, window: { readonly closedThroughMs: number; readonly nowMs: number }, headOf?: string): ChainStep {
    if (hb.seq <= this.seqValue) {
      // A heartbeat sent again must be the same one: same previous head, same content.
      const known = this.recent.get(hb.seq);
      // Hashed only when there is a kept head to compare with: a replay older than those costs nothing.
      return known !== undefined && (headOf ?? chainNext(hb.prev, hb)) !== known ? REPLAY_MISMATCH : REPLAY_SAME;
    }
    const expected = this.seqValue + 1;
    const gap = hb.seq !== expected;
    const mismatch = !gap && hb.prev !== this.headValue;
    const head = headOf ?? chainNext(hb.prev, hb);
    this.seqValue = hb.seq;
    this.headValue = head;
    this.recent.put(hb.seq, head);
    const lastClosed = Math.floor(window.closedThroughMs / this.periodMs) - 1;
    const current = Math.floor(window.nowMs / this.periodMs);
    const period = Math.min(Math.max(Math.floor(hb.atMs / this.periodMs), lastClosed), current);
    // Most heartbeats land in the period of the one before: its entry is updated rather than replaced
    // (closeThrough deletes an entry before handing it out, so a returned one is never changed).
    const last = this.periodLast.get(period);
    if (last === undefined) {
      this.periodLast.set(period, { seq: hb.seq, head });
    } else {
      last.seq = hb.seq;
      last.head = head;
    }
    return gap ? { kind: 'next', head, gapFrom: expected, mismatch } : { kind: 'next', head, mismatch };
  }

  /** The head the chain has for `seq`, if it still knows it (a recent heartbeat, or the last of an open period). */
  headAt(seq: number): string | undefined {
    const recent = this.recent.get(seq);
    if (recent !== undefined) return recent;
    for (const p of this.periodLast.values()) if (p.seq === seq) return p.head;
    return undefined;
  }

  /**
   * Forgets the periods that end by `closedThroughMs` and returns the last heartbeat among
   * them: what becomes durable and is acknowledged to the agent (undefined when none).
   */
  closeThrough(closedThroughMs: number): { seq: number; head: string } | undefined {
    let durable: { seq: number; head: string } | undefined;
    for (const [k, last] of this.periodLast) {
      if ((k + 1) * this.periodMs > closedThroughMs) continue;
      if (durable === undefined || last.seq > durable.seq) durable = last;
      this.periodLast.delete(k);
    }
    return durable;
  }
}
