// Closes billing periods in order, once each: bill the period, then make its heartbeats durable and acknowledge them.
import type { Logger } from 'pino';
import { errorMessage } from '../../identity/error-message.js';
import type { Clock } from '../../protocol/clock.js';
import type { EventSink } from '../events/event-log.js';
import type { Table } from '../store/store.js';

/** What closing one period involves besides the bookkeeping here. */
export interface PeriodWork {
  /** Issues receipts and bills for [startMs, endMs); must be safe to run again after a crash. */
  closePeriod(startMs: number, endMs: number): Promise<void>;
}

/**
 * Whether the agents' heartbeats for a period have all arrived (AgentHub implements it). A
 * heartbeat is stamped when it is taken and may reach the gateway late (a busy agent, or an
 * agent replaying after the gateway restarted); the heartbeat after a period's end is what
 * credits the period's last interval, so closing without it under-credits the farmer.
 */
export interface EvidenceSource {
  /**
   * True when every connected agent has delivered a heartbeat stamped at or after `endMs`;
   * while `startingUp`, also every agent that reported before and has not reconnected yet.
   */
  evidenceComplete(endMs: number, startingUp: boolean): boolean;
}

/** What the closer needs. */
export interface PeriodCloserDeps {
  readonly clock: Clock;
  readonly periodMs: number;
  readonly settleMs: number;
  /** After a start, how long (real ms) at most to wait for agents to reconnect and replay what they buffered. */
  readonly startupWaitRealMs: number;
  readonly tickRealMs: number;
  readonly meta: Table<unknown>;
  readonly work: readonly PeriodWork[];
  /**
   * Whose heartbeats a close waits for, and for how long past end + settle at most (clock ms):
   * an agent that is connected but never catches up (hung, or its clock behind) must not stop
   * billing. Without it a close waits the settle time, and the whole startup wait after a start.
   */
  readonly evidence?: { readonly source: EvidenceSource; readonly maxWaitMs: number };
  /** Makes heartbeats before `ms` durable and acknowledges them to the agents. */
  persistEvidence(closedThroughMs: number): Promise<void>;
  readonly events: EventSink;
  readonly log: Logger;
}

/** The start of the period holding `ms` (periods are aligned on multiples of their length). */
export function periodStartOf(ms: number, periodMs: number): number {
  return Math.floor(ms / periodMs) * periodMs;
}

/** Every period ending at or before this time (clock ms) is closed; 0 before the first closer ran. */
export function closedThroughOf(meta: Pick<Table<unknown>, 'get'>): number {
  const ms = meta.get('closedThroughMs');
  return typeof ms === 'number' ? ms : 0;
}

/**
 * A period [s, s+P) is closed once the clock passes s+P plus a settle time (so late
 * heartbeats still count), in order, never twice: `closedThroughMs` in the store moves only
 * after every step of a period succeeded, and every step is idempotent, so a crash anywhere
 * just repeats the unfinished period. After a start it waits for agents to reconnect and
 * replay what they buffered while the gateway was down (at most the startup wait), and a due
 * period also waits, a bounded time, for a connected agent's late heartbeats.
 */
export class PeriodCloser {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  private lastError: string | null = null;
  private lastRunAtMs: number | null = null;
  /** Real time of start(), for the startup wait. */
  private startedAtRealMs: number | null = null;

  constructor(private readonly deps: PeriodCloserDeps) {
    if (typeof deps.meta.get('closedThroughMs') !== 'number') {
      // Not awaited (a constructor); a failed write is logged, and the store carries the key with its next write.
      deps.meta.put('closedThroughMs', periodStartOf(deps.clock.nowMs(), deps.periodMs)).catch((err: Error) => deps.log.warn({ err: err.message }, 'billing: the close cursor could not be stored yet'));
    }
  }

  /** Every period ending at or before this time is closed. */
  closedThroughMs(): number {
    return closedThroughOf(this.deps.meta);
  }

  /** The last run's time and error, for the admin page. */
  lastRun(): { atMs: number | null; error: string | null } {
    return { atMs: this.lastRunAtMs, error: this.lastError };
  }

  start(): void {
    this.startedAtRealMs = Date.now();
    // With an evidence source the startup wait ends as soon as every agent is back; without one it is waited out.
    this.timer = setTimeout(() => this.tick(), this.deps.evidence ? this.deps.tickRealMs : this.deps.startupWaitRealMs);
  }

  /** Runs one pass now (and waits for it): closes every period that is due. */
  runDue(): Promise<void> {
    // A failed pass must not stop the next one (a rejected chain would skip every later pass).
    this.running = this.running.catch(() => undefined).then(() => this.closeDue());
    return this.running;
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private tick(): void {
    if (this.stopped) return;
    void this.runDue()
      .catch((err: unknown) => this.deps.log.error({ err }, 'billing.close: a pass failed; retrying'))
      .finally(() => {
        if (!this.stopped) this.timer = setTimeout(() => this.tick(), this.deps.tickRealMs);
      });
  }

  /** Whether the period ending at `end` may close now: its evidence is in, or waiting longer is not allowed. */
  private evidenceDue(end: number): boolean {
    const startingUp = this.startedAtRealMs !== null && Date.now() - this.startedAtRealMs < this.deps.startupWaitRealMs;
    const evidence = this.deps.evidence;
    if (!evidence) return !startingUp;
    if (!startingUp && this.deps.clock.nowMs() >= end + this.deps.settleMs + evidence.maxWaitMs) return true;
    return evidence.source.evidenceComplete(end, startingUp);
  }

  private async closeDue(): Promise<void> {
    const { clock, periodMs, settleMs } = this.deps;
    // Read what already arrived on the sockets first: after the event loop was blocked, timers run before I/O.
    await new Promise((resolve) => setImmediate(resolve));
    while (!this.stopped) {
      const start = this.closedThroughMs();
      const end = start + periodMs;
      if (clock.nowMs() < end + settleMs) return;
      if (!this.evidenceDue(end)) return;
      try {
        for (const w of this.deps.work) await w.closePeriod(start, end);
        await this.deps.persistEvidence(end);
        await this.deps.meta.put('closedThroughMs', end);
        this.lastError = null;
      } catch (err) {
        this.lastError = errorMessage(err);
        this.deps.log.error({ err, periodStartMs: start }, 'billing.close: period not closed; retrying');
        // Recording it is a write too, refused for the same reason (a fenced or unreachable store): logged, never thrown from
        // here, where nobody awaits it (an unhandled rejection would end a gateway that should stand by).
        await this.deps.events
          .record({ atMs: clock.nowMs(), event: 'billing.error', detail: `closing the period starting ${new Date(start).toISOString()} failed: ${this.lastError}; it will be retried` })
          .catch((e: unknown) => this.deps.log.warn({ err: errorMessage(e) }, 'billing.close: the error could not be recorded in the timeline'));
        return;
      } finally {
        this.lastRunAtMs = clock.nowMs();
      }
    }
  }
}
