// A table of timeline events for the admin views, each event name coloured by its severity in the event catalogue.
import { html, type SafeHtml } from '../../render/html.js';
import { table } from '../../render/table.js';
import { eventClass } from '../../render/event-class.js';
import type { EventRow } from '../admin-view-types.js';
import { deploymentLink, time } from './cells.js';

/** How a table of events is shown: `rows` come oldest first unless `alreadyNewestFirst`. */
export interface TimelineOptions {
  readonly newestFirst?: boolean;
  readonly alreadyNewestFirst?: boolean;
  /** Link each row's deployment (off on the deployment's own page). */
  readonly linkDeployments?: boolean;
  /** What to say when there are no events. */
  readonly empty?: string;
}

/** The events as a table with id `id`; each row carries `data-event`, each name the class of its severity. */
export function timelineTable(rows: readonly EventRow[], id: string, o: TimelineOptions = {}): SafeHtml {
  const newestFirst = o.newestFirst ?? false;
  const ordered = newestFirst === (o.alreadyNewestFirst ?? false) ? rows : [...rows].reverse();
  return table<EventRow>(
    [
      { header: 'time', cell: (e) => time(e.at) },
      { header: 'event', cell: (e) => e.event, className: (e) => eventClass(e.event) },
      { header: 'reason / detail', cell: (e) => html`${e.detail}${e.deployment && o.linkDeployments !== false ? html` · ${deploymentLink(e.deployment)}` : ''}` },
    ],
    ordered,
    o.empty ?? 'No events.',
    { id, className: 'timeline', caption: newestFirst ? 'newest first' : 'oldest first', rowData: (e) => ({ event: e.event }) },
  );
}
