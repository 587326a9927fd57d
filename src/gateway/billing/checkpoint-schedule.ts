// When the money log writes its next checkpoint: every so many records, later while the working set is large, and less often after a checkpoint could not be encoded.

/** Records appended between checkpoints of the open state (about one hour's close and payments of 5,000 deployments); a start replays at most this many plus one batch, or (see CHECKPOINT_CHEAP_LIVE) four times the working set. */
export const CHECKPOINT_EVERY = 10_000;
/**
 * A checkpoint writes the whole working set, so one due while that set is large waits until the
 * records since the last checkpoint are at least four times it (then a start replays at most
 * that), or the set is this small. bench/billing at 100k: a checkpoint was due at the settle's
 * first append, when all 100,000 receipts of the close were live, and took a sixth of the close;
 * taken once the payouts have emptied most of the set, it costs a fraction of that.
 */
export const CHECKPOINT_CHEAP_LIVE = 4096;
/** The most a failing checkpoint's interval is stretched (CHECKPOINT_EVERY × this). */
const CHECKPOINT_BACKOFF_MAX = 64;

/** What the schedule weighs at an append: the log's counts at that moment. */
export interface CheckpointMoment {
  /** Records applied since the log was opened (replayed or appended). */
  readonly applied: number;
  /** Receipts of the working set now. */
  readonly liveSize: number;
  /** Whether a close is between its begin and its tree head (its state is not whole then). */
  readonly closeOpen: boolean;
  /** Position of the last record applied, or -1 before any. */
  readonly lastPosition: number;
}

/** Counts records since the last checkpoint and answers whether the next append carries one. */
export class CheckpointSchedule {
  private checkpointedAt = 0;
  /**
   * Stretches the checkpoint interval after a checkpoint could not be encoded: at ~1M deployments the
   * state passed V8's longest string (bench/billing), and every try costs seconds of CPU before it fails.
   */
  private backoff = 1;
  private failures = 0;
  private lastError: string | null = null;

  /** `every`: records between checkpoints (0 turns them off); `cheapLive`: a working set this small never delays one. */
  constructor(
    private readonly every: number,
    private readonly cheapLive: number,
  ) {}

  /** Counts from `applied` on: the first checkpoint stands after a record appended from then. */
  startAt(applied: number): void {
    this.checkpointedAt = applied;
  }

  /** Whether a checkpoint is due now; when it is, the count starts again from this moment. */
  take(now: CheckpointMoment): boolean {
    const since = now.applied - this.checkpointedAt;
    if (this.every <= 0 || since < this.every * this.backoff || now.closeOpen || now.lastPosition < 0) return false;
    if (now.liveSize > this.cheapLive && 4 * now.liveSize > since) return false;
    this.checkpointedAt = now.applied;
    return true;
  }

  /** A taken checkpoint was encoded: the interval is back to `every`. */
  encoded(): void {
    this.backoff = 1;
  }

  /** A taken checkpoint could not be encoded: remembered for checkpointHealth, and the next one waits twice as long. */
  failed(err: unknown): void {
    this.failures++;
    this.lastError = err instanceof Error ? err.message : String(err);
    this.backoff = Math.min(this.backoff * 2, CHECKPOINT_BACKOFF_MAX);
  }

  /** Checkpoints that could not be encoded, and the last one's error. */
  health(): { failures: number; lastError: string | null } {
    return { failures: this.failures, lastError: this.lastError };
  }
}
