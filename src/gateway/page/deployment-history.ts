// What the customer's page shows of a deployment's timeline: its own order and VM events (those the catalogue marks for customers), newest first, bounded.
import type { TimelineEvent } from '../events/event-log.js';
import { shownToCustomer, type EventName } from '../events/event-catalogue.js';

/** How many events the history lists (the newest). */
export const HISTORY_LIMIT = 50;

/** One line of the history. */
export interface HistoryRow {
  readonly at: string;
  readonly event: EventName;
  readonly detail: string;
}

/**
 * The events of a deployment and of its order, each once (an event names both once paid), without
 * the ones kept for admins (a farmer's evidence, an admin's action, a node's failure), newest first.
 */
export function deploymentHistory(...lists: ReadonlyArray<readonly TimelineEvent[]>): HistoryRow[] {
  const seen = new Set<TimelineEvent>();
  const shown: TimelineEvent[] = [];
  for (const e of lists.flat()) {
    if (seen.has(e) || !shownToCustomer(e.event)) continue;
    seen.add(e);
    shown.push(e);
  }
  return shown
    .sort((a, b) => b.atMs - a.atMs)
    .slice(0, HISTORY_LIMIT)
    .map((e) => ({ at: new Date(e.atMs).toISOString(), event: e.event, detail: e.detail }));
}
