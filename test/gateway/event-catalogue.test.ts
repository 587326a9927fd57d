// The event catalogue: every event has one of the four severities, every catalogued name is recorded somewhere in the source, and the timeline's colour comes from it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EVENT_CATALOGUE, EVENT_NAMES, SEVERITIES, severityOf } from '../../src/gateway/events/event-catalogue.js';
import { timelineTable } from '../../src/gateway/admin/status-page-render.js';
import { eventClass } from '../../src/gateway/render/event-class.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { deploymentHistory, HISTORY_LIMIT } from '../../src/gateway/page/deployment-history.js';
import { renderReceipts } from '../../src/gateway/page/customer-page-render.js';
import type { TimelineEvent } from '../../src/gateway/events/event-log.js';
import type { DeploymentView } from '../../src/gateway/deployments/deployment-service.js';

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

test('the customer\'s history: their order and VM events once each, newest first, nothing of the farmer\'s evidence, coloured from the catalogue', () => {
  const T0 = Date.parse('2026-01-01T00:00:00.000Z');
  const paid: TimelineEvent = { atMs: T0 + 1000, event: 'order.paid', detail: 'agreement holds 1.000000 SPORE', order: 'ord_1', deployment: 'dep_1' };
  const byDeployment: TimelineEvent[] = [
    paid,
    { atMs: T0 + 2000, event: 'deployment.active', detail: 'handed over: ssh root@4ab::1', deployment: 'dep_1' },
    { atMs: T0 + 3000, event: 'agent.probe_disagreement', detail: 'the farmer says up, probes say down', deployment: 'dep_1' },
    { atMs: T0 + 4000, event: 'receipt.countersign_refused', detail: 'the farmer refused', deployment: 'dep_1' },
    { atMs: T0 + 5000, event: 'deployment.grace', detail: 'funds ran out', deployment: 'dep_1' },
  ];
  const byOrder: TimelineEvent[] = [{ atMs: T0, event: 'order.created', detail: 'ordered small', order: 'ord_1' }, paid];
  const history = deploymentHistory(byDeployment, byOrder);
  assert.deepEqual(history.map((h) => h.event), ['deployment.grace', 'deployment.active', 'order.paid', 'order.created']);
  const many = Array.from({ length: HISTORY_LIMIT + 5 }, (_, i): TimelineEvent => ({ atMs: T0 + i, event: 'deployment.paused', detail: `p${i}`, deployment: 'dep_1' }));
  const bounded = deploymentHistory(many);
  assert.equal(bounded.length, HISTORY_LIMIT, 'bounded');
  assert.equal(bounded[0]?.detail, `p${HISTORY_LIMIT + 4}`, 'keeping the newest');

  const dep = { id: 'dep_1', name: 'web', offer: 'small', pricePerHour: '0.050000', unit: 'SPORE' } as DeploymentView;
  const out = renderReceipts(dep, [], { url: 'u', agent: 'uhCAkG' }, history).text;
  for (const h of history) assert.match(out, new RegExp(`<tr data-event="${h.event.replace('.', '\\.')}"><td><time[^>]*>[^<]*</time></td><td class="ev-${severityOf(h.event)}">`), h.event);
  assert.match(out, /<td class="ev-good">deployment\.active<\/td>/);
  assert.doesNotMatch(out, /agent\.|farmer says|farmer refused/, 'the farmer\'s evidence stays on the admin page');
});
