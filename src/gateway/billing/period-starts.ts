// A deployment's receipt period starts, as runs of evenly spaced starts: exact, and as small as the number of gaps, not of receipts.

/**
 * The period starts of a deployment's committed receipts, oldest first. A deployment billed every
 * period adds to one run (start, step, count); only a gap (stopped, a gateway down) starts a new one,
 * so this stays small however long the history grows (a plain list was 8 bytes a receipt, read at
 * every start). `has` answers exactly what scanning the plain list from its end answered.
 */
export class PeriodStarts {
  /** Flat runs: start, step, count, … (step 0 while a run has one start). */
  private constructor(private readonly runs: number[]) {}

  static empty(): PeriodStarts {
    return new PeriodStarts([]);
  }

  /** Rebuilds from `toRuns()`; throws on a malformed list (a damaged checkpoint). */
  static fromRuns(runs: readonly number[]): PeriodStarts {
    if (runs.length % 3 !== 0 || runs.some((x, i) => !Number.isSafeInteger(x) || (i % 3 === 2 && x < 1) || (i % 3 === 1 && x < 0))) throw new RangeError('PeriodStarts: runs must be (start, step >= 0, count >= 1) triples of whole numbers');
    return new PeriodStarts([...runs]);
  }

  /** Number of starts. */
  get length(): number {
    let n = 0;
    for (let i = 2; i < this.runs.length; i += 3) n += this.runs[i] as number;
    return n;
  }

  /** Appends a start (the newest). */
  push(ms: number): void {
    const at = this.runs.length - 3;
    if (at >= 0) {
      const start = this.runs[at] as number;
      const step = this.runs[at + 1] as number;
      const count = this.runs[at + 2] as number;
      if (count === 1 && ms > start) {
        this.runs[at + 1] = ms - start;
        this.runs[at + 2] = 2;
        return;
      }
      if (count > 1 && ms === start + step * count) {
        this.runs[at + 2] = count + 1;
        return;
      }
    }
    this.runs.push(ms, 0, 1);
  }

  /**
   * Whether `ms` is among the starts, scanning from the newest and stopping at the first start
   * older than `ms` (the starts of a chain only grow, as the list-based scan assumed).
   */
  has(ms: number): boolean {
    for (let at = this.runs.length - 3; at >= 0; at -= 3) {
      const start = this.runs[at] as number;
      const step = this.runs[at + 1] as number;
      const count = this.runs[at + 2] as number;
      const last = start + step * (count - 1);
      if (last === ms) return true;
      if (last < ms) return false;
      // Within the run the starts fall from `last` to `start` by `step` (> 0 here, as count > 1).
      if (ms >= start) return (ms - start) % step === 0;
    }
    return false;
  }

  /** The runs, for a checkpoint. */
  toRuns(): number[] {
    return [...this.runs];
  }

  /** Number of runs (toRuns has three numbers a run). */
  runCount(): number {
    return this.runs.length / 3;
  }

  /** Writes the runs (as toRuns answers them) into `into` from `at`; answers where they end (a checkpoint's column, without an array a deployment). */
  writeRuns(into: Float64Array, at: number): number {
    for (const x of this.runs) into[at++] = x;
    return at;
  }
}
