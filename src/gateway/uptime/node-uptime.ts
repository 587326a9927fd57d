// Per-node up-time per closed period, kept for the admin page (the last 48 periods of each node).
import type { UptimeBook } from './uptime-book.js';
import type { Table } from '../store/store.js';
import type { PeriodWork } from '../billing/period-closer.js';

/** One node's up-time in one period. */
export interface NodePeriodUptime {
  readonly periodStartMs: number;
  readonly upSeconds: number;
  readonly periodSeconds: number;
}

/** Periods of history kept per node. */
export const NODE_UPTIME_PERIODS = 48;

/** A PeriodWork that records each known node's up-seconds at every close. */
export class NodeUptimeRecorder implements PeriodWork {
  constructor(private readonly uptime: UptimeBook, private readonly meta: Table<unknown>, private readonly nodes: () => readonly string[]) {}

  async closePeriod(startMs: number, endMs: number): Promise<void> {
    const all = { ...this.history() };
    for (const node of this.nodes()) {
      const list = (all[node] ?? []).filter((p) => p.periodStartMs !== startMs);
      list.push({ periodStartMs: startMs, upSeconds: this.uptime.upSeconds(`node:${node}`, startMs, endMs), periodSeconds: (endMs - startMs) / 1000 });
      all[node] = list.slice(-NODE_UPTIME_PERIODS);
    }
    await this.meta.put('nodeUptime', all);
  }

  /** Every node's recorded periods, oldest first. */
  history(): Record<string, NodePeriodUptime[]> {
    return (this.meta.get('nodeUptime') as Record<string, NodePeriodUptime[]> | undefined) ?? {};
  }
}
