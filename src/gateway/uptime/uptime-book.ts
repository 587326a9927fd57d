// Up-time evidence in memory: samples per node and per deployment, turned into up-seconds with the shared rule.
import { isUpNow, upMillis, type Sample } from '../../protocol/uptime.js';

/** A subject's samples: a node ("node:ID") or a deployment ("vm:ID"). */
export type Subject = `node:${string}` | `vm:${string}`;

/**
 * Samples from heartbeats (and gateway probes), kept while their periods are open. After a
 * period closes, only the last sample before its end is kept: the up-time rule needs it to
 * credit the first moments of the next period.
 */
export class UptimeBook {
  private readonly samples = new Map<Subject, Sample[]>();

  constructor(private readonly intervalMs: number) {}

  /** Adds a sample, keeping each subject's samples in time order. */
  record(subject: Subject, sample: Sample): void {
    let list = this.samples.get(subject);
    if (!list) {
      list = [];
      this.samples.set(subject, list);
    }
    const last = list[list.length - 1];
    if (last === undefined || last.atMs <= sample.atMs) {
      list.push(sample);
      return;
    }
    let i = list.length - 1;
    while (i > 0 && (list[i - 1] as Sample).atMs > sample.atMs) i--;
    list.splice(i, 0, sample);
  }

  /** Up-milliseconds of `subject` within [fromMs, toMs). */
  upMillis(subject: Subject, fromMs: number, toMs: number): number {
    return upMillis(this.samples.get(subject) ?? [], fromMs, toMs, this.intervalMs);
  }

  /** Whole up-seconds within [fromMs, toMs) (a partial second is not billed). */
  upSeconds(subject: Subject, fromMs: number, toMs: number): number {
    return Math.floor(this.upMillis(subject, fromMs, toMs) / 1000);
  }

  /** Whether the subject counts as up at `nowMs` (its last sample up and under 3 intervals old). */
  isUp(subject: Subject, nowMs: number): boolean {
    return isUpNow(this.samples.get(subject) ?? [], nowMs, this.intervalMs);
  }

  /** The last sample of a subject. */
  last(subject: Subject): Sample | undefined {
    const list = this.samples.get(subject);
    return list?.[list.length - 1];
  }

  /** Forgets samples before `beforeMs`, except the last one before it (the carry-over). */
  prune(beforeMs: number): void {
    for (const [subject, list] of this.samples) {
      let keepFrom = 0;
      while (keepFrom + 1 < list.length && (list[keepFrom + 1] as Sample).atMs < beforeMs) keepFrom++;
      if (keepFrom > 0) list.splice(0, keepFrom);
      if (list.length === 1 && (list[0] as Sample).atMs < beforeMs - 3 * this.intervalMs && !(list[0] as Sample).up) this.samples.delete(subject);
    }
  }

  /** The carry-over samples (last before `beforeMs`), to persist at a period close. */
  carryOver(beforeMs: number): Record<string, Sample> {
    const out: Record<string, Sample> = {};
    for (const [subject, list] of this.samples) {
      for (let i = list.length - 1; i >= 0; i--) {
        const s = list[i] as Sample;
        if (s.atMs < beforeMs) {
          out[subject] = s;
          break;
        }
      }
    }
    return out;
  }

  /** Restores carry-over samples after a restart. */
  restore(carry: Record<string, Sample>): void {
    for (const [subject, sample] of Object.entries(carry)) this.record(subject as Subject, sample);
  }

  /** Subjects with samples (for metrics). */
  subjects(): Subject[] {
    return [...this.samples.keys()];
  }
}
