// TickBatch: the write scheduler both Store adapters share; the writes made in one tick become one durable write.

/**
 * Coalesces every change made in one tick of the event loop into one call of `write`, run after
 * the tick (setImmediate). Writes run one after another, never overlapping, so a later state never
 * lands before an earlier one; every caller of `schedule` in a tick gets that write's outcome.
 * A failed write rejects its callers only: the next write starts anyway, and `write` is expected
 * to write the current state (so it carries the failed batch's changes too).
 */
export class TickBatch {
  private pending: Promise<void> | null = null;
  private writing: Promise<void> = Promise.resolve();

  /** `write` makes the adapter's current changes durable; it is never called while a previous call runs. */
  constructor(private readonly write: () => Promise<void>) {}

  /** Asks for a write after this tick; resolves once that write is durable, rejects with its error. */
  schedule(): Promise<void> {
    if (!this.pending) {
      this.pending = new Promise<void>((resolve, reject) => {
        setImmediate(() => {
          this.pending = null;
          // The previous write's failure was told to its own callers; it must not stop this one.
          this.writing = this.writing.catch(() => undefined).then(() => this.write());
          this.writing.then(resolve, reject);
        });
      });
    }
    return this.pending;
  }

  /** Resolves when every write asked for so far is done; rejects when the last one failed. */
  flush(): Promise<void> {
    return this.pending ?? this.writing;
  }
}
