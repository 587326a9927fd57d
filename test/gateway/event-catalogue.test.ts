// The event catalogue: every event has one of the four severities, every catalogued name is recorded somewhere in the source, and the timeline's colour comes from it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EVENT_CATALOGUE, EVENT_NAMES, SEVERITIES, severityOf } from '../../src/gateway/events/event-catalogue.js';
import { timelineTable } from '../../src/gateway/admin/status-page-render.js';
import { eventClass } from '../../src/gateway/render/event-class.js';
import { REPO_ROOT } from '../helpers/paths.js';

test('every catalogued event has one of the four severities and says when it is recorded', () => {
  assert.ok(EVENT_NAMES.length >= 40, `the catalogue lists the gateway's events (${EVENT_NAMES.length})`);
  for (const name of EVENT_NAMES) {
    const entry = EVENT_CATALOGUE[name];
    assert.ok(SEVERITIES.includes(entry.severity), `${name}: severity ${String(entry.severity)}`);
    assert.ok(entry.when.length > 0, `${name}: when`);
    assert.match(name, /^[a-z]+\.[a-z_]+$/, 'names are area.what');
  }
  for (const severity of SEVERITIES) assert.ok(EVENT_NAMES.some((n) => severityOf(n) === severity), `some event is ${severity}`);
  assert.equal(severityOf('order.from_an_older_gateway'), 'info', 'a name an older gateway wrote is shown, uncoloured');
  assert.equal(eventClass('deployment.grace'), 'ev-warn');
});

test('the timeline renders each event with the class of its catalogued severity', () => {
  const rows = EVENT_NAMES.map((event, i) => ({ at: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(), event, detail: `d${i}` }));
  const out = timelineTable(rows, 'timeline').text;
  for (const name of EVENT_NAMES) {
    const cell = new RegExp(`<tr data-event="${name.replace('.', '\\.')}"><td><time[^>]*>[^<]*</time></td><td class="([^"]*)">${name.replace('.', '\\.')}</td>`).exec(out);
    assert.ok(cell, `${name} has a row`);
    assert.equal(cell[1], `ev-${EVENT_CATALOGUE[name].severity}`, name);
  }
  assert.match(out, /<td class="ev-good">deployment\.active<\/td>/, 'the green stays');
});

test('every catalogued name is recorded somewhere in the gateway (no stale entries)', () => {
  const sources: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (e.name.endsWith('.ts') && e.name !== 'event-catalogue.ts') sources.push(readFileSync(join(dir, e.name), 'utf8'));
    }
  };
  walk(join(REPO_ROOT, 'src', 'gateway'));
  const all = sources.join('\n');
  for (const name of EVENT_NAMES) assert.ok(all.includes(`'${name}'`), `${name} is in the catalogue but no source names it`);
});
