// The class a timeline gives an event's name, from its severity in the event catalogue: the one place the pages' event colours come from.
import { severityOf } from '../events/event-catalogue.js';

/** `ev-good`, `ev-info`, `ev-warn` or `ev-bad` (base-style.ts colours all but info). */
export function eventClass(name: string): string {
  return `ev-${severityOf(name)}`;
}
