// The timeline: every event with a reason (order paid, VM deployed, grace started, …), append-only and indexed for the admin views.
import { AppendLog } from '../store/append-log.js';

/** One thing that happened, and why. Times are clock ms. */
export interface TimelineEvent {
  readonly atMs: number;
  /** A stable event name, e.g. "order.paid", "deployment.grace", "agent.chain_mismatch". */
  readonly event: string;
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

/**
 * The event log: `events.log` beside the store, append-only and written at once (not fsynced), kept
 * in memory with indexes by deployment, order, customer and agent for the troubleshooting views.
 */
export class EventLog implements EventSink {
  private readonly all: TimelineEvent[] = [];
  private readonly index = new Map<string, TimelineEvent[]>();
  private readonly counts = new Map<string, number>();

  private constructor(private readonly log: AppendLog<TimelineEvent>) {}

  /** Opens the log and indexes what it holds. */
  static open(path: string): { events: EventLog; tornBytes: number } {
    // The timeline explains; it holds no money and no state (those are in receipts.log, the ledger
    // journal and db.json, all fsynced), so its lines are written at once but not fsynced: an fsync
    // per batch blocked the event loop for every agent connecting (bench/agents).
    const { log, records, tornBytes } = AppendLog.open<TimelineEvent>(path, { durable: false });
    const events = new EventLog(log);
    for (const e of records) events.remember(e);
    return { events, tornBytes };
  }

  record(event: TimelineEvent): Promise<void> {
    this.remember(event);
    return this.log.append(event);
  }

  /** Events about a deployment (or order, customer, agent, node), oldest first. */
  about(kind: 'deployment' | 'order' | 'customer' | 'agent' | 'node', id: string): TimelineEvent[] {
    return this.index.get(`${kind}:${id}`) ?? [];
  }

  /** The last `n` events whose name starts with `prefix`, newest first. */
  recent(prefix: string, n: number): TimelineEvent[] {
    const out: TimelineEvent[] = [];
    for (let i = this.all.length - 1; i >= 0 && out.length < n; i--) if ((this.all[i] as TimelineEvent).event.startsWith(prefix)) out.push(this.all[i] as TimelineEvent);
    return out;
  }

  /** How many events have a name starting with `prefix`. */
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
    this.counts.set(e.event, (this.counts.get(e.event) ?? 0) + 1);
    for (const [kind, id] of [['deployment', e.deployment], ['order', e.order], ['customer', e.customer], ['agent', e.agent], ['node', e.node]] as const) {
      if (id === undefined) continue;
      const key = `${kind}:${id}`;
      const list = this.index.get(key);
      if (list) list.push(e);
      else this.index.set(key, [e]);
    }
  }
}
