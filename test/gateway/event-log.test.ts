// EventLog: the timeline keeps only its newest events in memory (indexes included); every event stays on disk and the newest come back after a reopen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EventLog, type TimelineEvent } from '../../src/gateway/events/event-log.js';
import { AppendLog } from '../../src/gateway/store/append-log.js';
import { scratchDir } from '../helpers/paths.js';

const event = (i: number): TimelineEvent => ({ atMs: i, event: i % 2 === 0 ? 'agent.pending' : 'order.created', detail: `event ${i}`, deployment: `dep_${i % 3}`, ...(i < 10 ? { agent: 'uhCAkold' } : {}) });

test('EventLog: 1,000 events with keepInMemory 100 keep the newest 100 in memory and in every index; all 1,000 stay on disk', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'events.log');
  const { events } = EventLog.open(path, 100);
  for (let i = 0; i < 1000; i++) await events.record(event(i));
  assert.equal(events.size, 100);
  assert.deepEqual(events.recent('', 1000).map((e) => e.atMs), Array.from({ length: 100 }, (_, k) => 999 - k), 'recent sees the newest 100, newest first');
  const about = ['dep_0', 'dep_1', 'dep_2'].map((d) => events.about('deployment', d));
  assert.equal(about.reduce((n, l) => n + l.length, 0), 100, 'the indexes hold only kept events');
  for (const l of about) assert.ok(l.every((e) => e.atMs >= 900));
  assert.deepEqual(events.about('agent', 'uhCAkold'), [], 'an index whose events were all dropped is empty');
  assert.equal(events.count('order.'), 500, 'counts still cover every event recorded');
  events.close();

  assert.equal(AppendLog.read<TimelineEvent>(path).length, 1000, 'events.log on disk keeps everything');
  const again = EventLog.open(path, 100).events;
  t.after(() => again.close());
  assert.equal(again.size, 100);
  assert.deepEqual(again.recent('', 1).map((e) => e.atMs), [999]);
  assert.equal(again.recent('', 1000).at(-1)?.atMs, 900, 'after a reopen the newest 100 are in memory');
  await again.record(event(1000));
  assert.equal(again.size, 100);
  assert.equal(again.recent('', 1000).at(-1)?.atMs, 901);
});

test('AppendLog.open with keepLast still checks every line: a changed old line stops the open', (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'x.log');
  const { log } = AppendLog.open<{ i: number }>(path);
  for (let i = 0; i < 50; i++) log.appendSync({ i });
  log.close();
  const opened = AppendLog.open<{ i: number }>(path, { keepLast: 5 });
  assert.deepEqual(opened.records.map((r) => r.i), [45, 46, 47, 48, 49]);
  opened.log.close();
  writeFileSync(path, readFileSync(path, 'utf8').replace('"r":{"i":3}', '"r":{"i":4}'), { mode: 0o600 });
  assert.throws(() => AppendLog.open(path, { keepLast: 5 }), /line 4/);
});
