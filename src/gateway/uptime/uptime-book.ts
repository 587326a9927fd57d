// Up-time evidence in memory: per node and per deployment, the up-intervals the shared rule credits, folded in as samples arrive.
import { MISSED_HEARTBEATS_FOR_DOWN, isUpNow, type Sample } from '../../protocol/uptime.js';

/**
 * A subject's samples: a node ("node:ID"), a deployment ("vm:ID": its billing evidence), or the
 * gateway's own probes of a deployment an agent reports on ("probe:ID": the cross-check).
 */
export type Subject = `node:${string}` | `vm:${string}` | `probe:${string}`;

interface Track {
  /** Credited [start, end) intervals, in time order, adjacent ones merged. */
  readonly spans: Array<[number, number]>;
  /** The newest sample: the next one is credited from it. */
  last?: Sample;
  /** Each open period's last sample (by period index): the carry-over of a period close. */
  readonly lastInPeriod: Map<number, Sample>;
}

/**
 * Applies the rule of protocol/uptime.ts incrementally: when a sample arrives, the previous one,
 * if it was "up" and no more than 3 intervals earlier, credits the time between them. So a VM
 * costs one or two intervals of memory per period rather than every heartbeat (at 100k VMs and
 * 15 s heartbeats that was 24 million samples, about 1.5 GiB; bench/billing). Samples of one
 * subject come in time order (one agent's chain, or the gateway's own probes); an older one is
 * ignored and counted.
 */
export class UptimeBook {
  private readonly tracks = new Map<Subject, Track>();
  /** Samples ignored because they were older than the subject's newest. */
  outOfOrder = 0;

  constructor(private readonly intervalMs: number, private readonly periodMs: number) {}

  /** Folds in a sample. */
  record(subject: Subject, sample: Sample): void {
    let t = this.tracks.get(subject);
    if (!t) {
      t = { spans: [], lastInPeriod: new Map() };
      this.tracks.set(subject, t);
    }
    const last = t.last;
    if (last !== undefined) {
      if (sample.atMs < last.atMs) {
        this.outOfOrder++;
        return;
      }
      if (last.up && sample.atMs > last.atMs && sample.atMs - last.atMs <= MISSED_HEARTBEATS_FOR_DOWN * this.intervalMs) {
        const tail = t.spans[t.spans.length - 1];
        if (tail && tail[1] === last.atMs) tail[1] = sample.atMs;
        else t.spans.push([last.atMs, sample.atMs]);
      }
    }
    t.last = sample;
    t.lastInPeriod.set(Math.floor(sample.atMs / this.periodMs), sample);
  }

  /** Up-milliseconds of `subject` within [fromMs, toMs). */
  upMillis(subject: Subject, fromMs: number, toMs: number): number {
    const spans = this.tracks.get(subject)?.spans ?? [];
    let total = 0;
    for (let i = spans.length - 1; i >= 0; i--) {
      const [start, end] = spans[i] as [number, number];
      if (end <= fromMs) break;
      const overlap = Math.min(end, toMs) - Math.max(start, fromMs);
      if (overlap > 0) total += overlap;
    }
    return total;
  }

  /** Whole up-seconds within [fromMs, toMs) (a partial second is not billed). */
  upSeconds(subject: Subject, fromMs: number, toMs: number): number {
    return Math.floor(this.upMillis(subject, fromMs, toMs) / 1000);
  }

  /** Whether the subject counts as up at `nowMs` (its last sample up and under 3 intervals old). */
  isUp(subject: Subject, nowMs: number): boolean {
    const last = this.tracks.get(subject)?.last;
    return isUpNow(last ? [last] : [], nowMs, this.intervalMs);
  }

  /** The last sample of a subject. */
  last(subject: Subject): Sample | undefined {
    return this.tracks.get(subject)?.last;
  }

  /** Forgets credit before `beforeMs` (its periods are closed); a long-silent, down subject is forgotten. */
  prune(beforeMs: number): void {
    for (const [subject, t] of this.tracks) {
      let drop = 0;
      while (drop < t.spans.length && (t.spans[drop] as [number, number])[1] <= beforeMs) drop++;
      if (drop > 0) t.spans.splice(0, drop);
      const first = t.spans[0];
      if (first && first[0] < beforeMs) first[0] = beforeMs;
      const carry = this.carryOf(t, beforeMs);
      for (const k of t.lastInPeriod.keys()) if ((k + 1) * this.periodMs <= beforeMs && t.lastInPeriod.get(k) !== carry) t.lastInPeriod.delete(k);
      const last = t.last;
      if (t.spans.length === 0 && (last === undefined || (!last.up && last.atMs < beforeMs - MISSED_HEARTBEATS_FOR_DOWN * this.intervalMs))) this.tracks.delete(subject);
    }
  }

  /** The carry-over (each subject's last sample before `beforeMs`, a period boundary), to persist at a period close. */
  carryOver(beforeMs: number): Record<string, Sample> {
    const out: Record<string, Sample> = {};
    for (const [subject, t] of this.tracks) {
      const carry = this.carryOf(t, beforeMs);
      if (carry) out[subject] = carry;
    }
    return out;
  }

  /** The last sample before `beforeMs` (a period boundary): the last of the latest period that ends by then. */
  private carryOf(t: Track, beforeMs: number): Sample | undefined {
    let best: Sample | undefined;
    for (const [k, s] of t.lastInPeriod) if ((k + 1) * this.periodMs <= beforeMs && (best === undefined || s.atMs > best.atMs)) best = s;
    return best;
  }

  /** Restores carry-over samples after a restart (before any replayed sample arrives). */
  restore(carry: Record<string, Sample>): void {
    for (const [subject, sample] of Object.entries(carry)) this.record(subject as Subject, sample);
  }

  /** Subjects tracked (for metrics). */
  subjects(): Subject[] {
    return [...this.tracks.keys()];
  }
}
