// The timeline: every event with a reason (order paid, VM deployed, grace started, …), append-only and indexed for the admin views.
import { AppendLog } from '../store/append-log.js';
import { ResumableLog, readResume, verifiedTip } from '../store/log-resume.js';
import type { EventName } from './event-catalogue.js';
import type { LoadedLog, RecordLog } from '../store/record-log.js';

/** One thing that happened, and why. Times are clock ms. */
export interface TimelineEvent {
  readonly atMs: number;
  /** A stable event name from the catalogue (event-catalogue.ts), e.g. "order.paid", "deployment.grace". */
  readonly event: EventName;
  /** What a person reads: the reason, in words. */
  readonly detail: string;
  readonly deployment?: string;
  readonly order?: string;
  readonly customer?: string;
  readonly agent?: string;
  readonly node?: string;
  readonly data?: Readonly<Record<string, unknown>>;
}

/** Where business logic reports events (a narrow port; EventLog implements it). */
export interface EventSink {
  record(event: TimelineEvent): Promise<void>;
}

/** Fewest events between two tips of events.log.resume (a tip rewrites that small file). */
const MIN_TIP_SPACING = 1000;

/** Events kept in memory when the caller does not say (config events.keepInMemory). */
export const DEFAULT_EVENTS_IN_MEMORY = 100_000;

/**
 * The event log: `events.log` beside the store, append-only and written at once (not fsynced).
 * The newest `keepInMemory` events are kept in memory with indexes by deployment, order,
 * customer, agent and node for the troubleshooting views; older ones stay on disk only, so
 * memory does not grow with the age of the gateway or with what callers make it record.
 */
export class EventLog implements EventSink {
  /** The kept events, oldest first, from index `first` on (a moving start, compacted now and then). */
  private all: TimelineEvent[] = [];
  private first = 0;
  private readonly index = new Map<string, TimelineEvent[]>();
  private readonly counts = new Map<string, number>();

  private constructor(private readonly log: RecordLog<TimelineEvent>, private readonly keepInMemory: number) {}

  /**
   * Opens the log and indexes its newest `keepInMemory` events. It reads from the newest tip of
   * `events.log.resume` that has at least `keepInMemory` events after it (so about keepInMemory plus
   * a tip's spacing, whatever the log's length), or the whole log when no tip is usable.
   */
  static open(path: string, keepInMemory: number = DEFAULT_EVENTS_IN_MEMORY): { events: EventLog; tornBytes: number } {
    // The timeline explains; it holds no money and no state (those are in receipts.log, the ledger
    // journal and db.json, all fsynced), so its lines are written at once but not fsynced: an fsync
    // per batch blocked the event loop for every agent connecting (bench/agents).
    const options = { durable: false, keepLast: keepInMemory };
    const every = Math.max(MIN_TIP_SPACING, Math.ceil(keepInMemory / 4));
    const found = readResume(path);
    const newest = found?.tips.at(-1);
    const start = newest ? [...(found?.tips ?? [])].reverse().find((t) => t.n <= newest.n - keepInMemory) : undefined;
    const from = start ? verifiedTip(path, start) : null;
    let opened = AppendLog.open<TimelineEvent>(path, { ...options, ...(from ? { from } : {}) });
    let tornBytes = opened.tornBytes;
    let resumed = from !== null;
    if (resumed && opened.records.length < keepInMemory) {
      // Fewer events after the tip than are kept (the log lost its unsynced end in a crash): read it whole.
      opened.log.close();
      opened = AppendLog.open<TimelineEvent>(path, options);
      tornBytes += opened.tornBytes;
      resumed = false;
    }
    const count = opened.log.count;
    const tips = resumed ? (found?.tips ?? []).filter((t) => t.n <= count) : [];
    // Enough tips that one stands at least keepInMemory events before the newest (tips land on batch ends, so up to a few spacings apart).
    const log = new ResumableLog(opened.log, { every: () => every, keepTips: Math.ceil(keepInMemory / every) + 4, tips });
    return { events: EventLog.load({ log, records: opened.records }, keepInMemory), tornBytes };
  }

  /** Indexes a log's newest events (the caller reads at most `keepInMemory` of them, oldest first). */
  static load(loaded: LoadedLog<TimelineEvent>, keepInMemory: number = DEFAULT_EVENTS_IN_MEMORY): EventLog {
    const events = new EventLog(loaded.log, keepInMemory);
    for (const e of loaded.records) events.remember(e);
    return events;
  }

  async record(event: TimelineEvent): Promise<void> {
    this.remember(event);
    await this.log.append(event);
  }

  /** Events about a deployment (or order, customer, agent, node), oldest first. */
  about(kind: 'deployment' | 'order' | 'customer' | 'agent' | 'node', id: string): TimelineEvent[] {
    return this.index.get(`${kind}:${id}`) ?? [];
  }

  /** The last `n` events (of those kept in memory) whose name starts with `prefix`, newest first. */
  recent(prefix: string, n: number): TimelineEvent[] {
    const out: TimelineEvent[] = [];
    for (let i = this.all.length - 1; i >= this.first && out.length < n; i--) if ((this.all[i] as TimelineEvent).event.startsWith(prefix)) out.push(this.all[i] as TimelineEvent);
    return out;
  }

  /** Events kept in memory now (at most keepInMemory). */
  get size(): number {
    return this.all.length - this.first;
  }

  /** How many events have a name starting with `prefix` (since the gateway started, plus those kept from before). */
  count(prefix: string): number {
    let n = 0;
    for (const [name, c] of this.counts) if (name.startsWith(prefix)) n += c;
    return n;
  }

  close(): void {
    this.log.close();
  }

  private remember(e: TimelineEvent): void {
    this.all.push(e);
    if (this.all.length - this.first > this.keepInMemory) this.forgetOldest();
    this.counts.set(e.event, (this.counts.get(e.event) ?? 0) + 1);
    for (const [kind, id] of [['deployment', e.deployment], ['order', e.order], ['customer', e.customer], ['agent', e.agent], ['node', e.node]] as const) {
      if (id === undefined) continue;
      const key = `${kind}:${id}`;
      const list = this.index.get(key);
      if (list) list.push(e);
      else this.index.set(key, [e]);
    }
  }

  /** Drops the oldest kept event from memory and from every index list it is in (it is the first of each). */
  private forgetOldest(): void {
    const e = this.all[this.first] as TimelineEvent;
    this.first++;
    if (this.first > 1024 && this.first * 2 > this.all.length) {
      this.all = this.all.slice(this.first);
      this.first = 0;
    }
    for (const [kind, id] of [['deployment', e.deployment], ['order', e.order], ['customer', e.customer], ['agent', e.agent], ['node', e.node]] as const) {
      if (id === undefined) continue;
      const key = `${kind}:${id}`;
      const list = this.index.get(key);
      if (list?.[0] !== e) continue;
      list.shift();
      if (list.length === 0) this.index.delete(key);
    }
  }
}
