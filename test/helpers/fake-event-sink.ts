// FakeEventSink: a fake of the EventSink port for unit tests, named as one — it keeps events in an array.
import type { EventSink, TimelineEvent } from '../../src/gateway/events/event-log.js';

/** A fake of the EventSink port: every recorded event, in order. */
export class FakeEventSink implements EventSink {
  readonly events: TimelineEvent[] = [];

  record(event: TimelineEvent): Promise<void> {
    this.events.push(event);
    return Promise.resolve();
  }

  /** The names of the recorded events, in order. */
  names(): string[] {
    return this.events.map((e) => e.event);
  }
}
