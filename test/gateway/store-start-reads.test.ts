// What an embedded start reads of events.log and orders-archive.log with a long history: the tail after a tip of the log's resume file, not the whole file; a damaged or foreign resume file means a whole read with the same state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EventLog, type TimelineEvent } from '../../src/gateway/events/event-log.js';
import { OrderArchive } from '../../src/gateway/orders/order-archive.js';
import { resumePath } from '../../src/gateway/store/log-resume.js';
import type { OrderRecord } from '../../src/gateway/store/records.js';
import { scratchDir } from '../helpers/paths.js';

const HISTORY = 50_000;
const KEEP_EVENTS = 1000;
const KEEP_ORDERS = 10;
const CUSTOMERS = 20;
const SUBNETS = 8;

/** Bytes this process has read through read(2) and friends so far (/proc/self/io rchar): what an open costs in reads, whatever API it used. */
function bytesRead(): number {
  const m = /^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'));
  if (!m) throw new Error('no rchar in /proc/self/io');
  return Number(m[1]);
}

/** What `open` read, and what it returned. */
function measured<T>(open: () => T): { value: T; bytes: number } {
  const before = bytesRead();
  const value = open();
  return { value, bytes: bytesRead() - before };
}

const event = (i: number): TimelineEvent => ({ atMs: i, event: i % 2 === 0 ? 'agent.pending' : 'order.created', detail: `event ${i}`, deployment: `dep_${i % 7}`, customer: `c${i % CUSTOMERS}` });

/** An archived order; creation times repeat (3 orders share each), so ties are kept in archive order. */
const order = (i: number): OrderRecord =>
  ({
    id: `ord_${i}`,
    customer: `c${i % CUSTOMERS}`,
    offer: 'small',
    name: `vm-${i}`,
    sshKeys: ['ssh-ed25519 AAAA test'],
    pricePerHour: '0.010000',
    deposit: '0.240000',
    unit: 'SPORE',
    state: i % 2 === 0 ? 'expired' : 'failed',
    createdAtMs: Math.floor(i / 3),
    expiresAtMs: Math.floor(i / 3) + 1000,
    ...(i % 5 === 0 ? {} : { subnet: `4${i % SUBNETS}a::/64` }),
    attempts: [],
  }) as unknown as OrderRecord;

/** Appends `count` records through `add`, 1,000 at a time (one batch each, as a busy gateway groups them), then lets the last tip be written. */
async function fill(count: number, add: (i: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < count; i += 1000) await Promise.all(Array.from({ length: Math.min(1000, count - i) }, (_, k) => add(i + k)));
  await new Promise((resolve) => setImmediate(resolve));
}

/** Everything a reopened timeline answers from memory. */
function timelineState(events: EventLog): unknown {
  return { size: events.size, recent: events.recent('', KEEP_EVENTS + 1), dep: events.about('deployment', 'dep_3'), c: events.about('customer', 'c5'), counts: [events.count(''), events.count('order.')] };
}

/** Everything a reopened archive answers from memory. */
function archiveState(archive: OrderArchive): unknown {
  const ids = (list: readonly OrderRecord[]): string[] => list.map((o) => o.id);
  return {
    count: archive.count,
    all: archive.values().map((o) => o.id).sort(),
    customers: Array.from({ length: CUSTOMERS }, (_, c) => ids(archive.of(`c${c}`))),
    subnets: Array.from({ length: SUBNETS }, (_, s) => ids(archive.fromSubnet(`4${s}a::/64`))),
    one: archive.get(archive.of('c3').at(-1)?.id ?? ''),
  };
}

/** A log of HISTORY records, filled and closed, then opened from its resume file and again without it: the two opens' reads and states. */
async function startReads<L extends { close(): void }>(path: string, open: () => L, add: (log: L, i: number) => Promise<void>, stateOf: (log: L) => unknown): Promise<{ size: number; resumed: number; whole: number; same: [unknown, unknown] }> {
  const first = open();
  await fill(HISTORY, (i) => add(first, i));
  first.close();
  const resumed = measured(open);
  const state = stateOf(resumed.value);
  resumed.value.close();
  renameSync(resumePath(path), `${path}.resume-kept`);
  const whole = measured(open);
  const wholeState = stateOf(whole.value);
  whole.value.close();
  return { size: statSync(path).size, resumed: resumed.bytes, whole: whole.bytes, same: [state, wholeState] };
}

test(`events.log of ${HISTORY.toLocaleString('en-US')} events: a start reads about keepInMemory events after a tip, not the file; the state is the whole read's`, async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'events.log');
  const r = await startReads(path, () => EventLog.open(path, KEEP_EVENTS).events, (events, i) => events.record(event(i)), timelineState);
  // keepInMemory and a few tips' spacing (1,000 each; tips land on batch ends): about 7,000 events' bytes at the most, whatever the history.
  assert.ok(r.resumed < r.size * (7000 / HISTORY), `the start read ${r.resumed} bytes of a ${r.size}-byte events.log`);
  assert.ok(r.whole >= r.size, 'without a resume file the log is read whole');
  assert.deepEqual(r.same[0], r.same[1], 'the resumed start holds what a whole read holds');
});

test(`orders-archive.log of ${HISTORY.toLocaleString('en-US')} orders: a start reads the kept orders and the log after their tip, not the file; the state is the whole read's`, async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'orders-archive.log');
  const r = await startReads(path, () => OrderArchive.open(path, KEEP_ORDERS).archive, (archive, i) => archive.add(order(i)), archiveState);
  // The kept orders (20 customers and 8 /64s, 10 each) and at most a tip's spacing and a batch after the tip.
  assert.ok(r.resumed < r.size * (2500 / HISTORY), `the start read ${r.resumed} bytes of a ${r.size}-byte orders-archive.log`);
  assert.ok(r.whole >= r.size, 'without a resume file the log is read whole');
  assert.deepEqual(r.same[0], r.same[1], 'the resumed start holds what a whole read holds');
});

test('a damaged resume file, one of another log, or one kept under another historyPerCustomer is not used: the start reads the whole log and holds the same state', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'orders-archive.log');
  const other = join(dir, 'other-archive.log');
  const first = OrderArchive.open(path, KEEP_ORDERS).archive;
  await fill(3000, (i) => first.add(order(i)));
  first.close();
  const second = OrderArchive.open(other, KEEP_ORDERS).archive;
  await fill(3000, (i) => second.add(order(i + 1)));
  second.close();
  const size = statSync(path).size;
  const good = readFileSync(resumePath(path));
  /** The state a whole read builds, keeping `keep` per customer: opened with no resume file beside the log, then closed; the good resume file is put back. */
  const wholeRead = (keep: number): unknown => {
    rmSync(resumePath(path));
    const whole = OrderArchive.open(path, keep).archive;
    const state = archiveState(whole);
    whole.close();
    writeFileSync(resumePath(path), good, { mode: 0o600 });
    return state;
  };
  const expected = wholeRead(KEEP_ORDERS);

  const damaged = Buffer.from(good);
  damaged[damaged.length - 10] = (damaged[damaged.length - 10] as number) ^ 0x01;
  writeFileSync(resumePath(path), damaged, { mode: 0o600 });
  const afterDamage = measured(() => OrderArchive.open(path, KEEP_ORDERS).archive);
  assert.ok(afterDamage.bytes >= size, 'a damaged resume file: the log is read whole');
  assert.deepEqual(archiveState(afterDamage.value), expected);
  afterDamage.value.close();

  copyFileSync(resumePath(other), resumePath(path));
  const foreign = measured(() => OrderArchive.open(path, KEEP_ORDERS).archive);
  assert.ok(foreign.bytes >= size, "another log's resume file: its tip is not in this log, so the log is read whole");
  assert.deepEqual(archiveState(foreign.value), expected);
  foreign.value.close();

  // Kept under orders.historyPerCustomer 10, the state is not what 15 keeps: a whole read.
  writeFileSync(resumePath(path), good, { mode: 0o600 });
  const more = measured(() => OrderArchive.open(path, KEEP_ORDERS + 5).archive);
  assert.ok(more.bytes >= size, 'a resume file kept under another historyPerCustomer: the log is read whole');
  assert.equal(more.value.of('c3').length, KEEP_ORDERS + 5);
  const moreState = archiveState(more.value);
  more.value.close();
  assert.deepEqual(moreState, wholeRead(KEEP_ORDERS + 5), 'the state a whole read keeping 15 builds');
  assert.notDeepEqual(moreState, expected, 'which is not what 10 keeps');
});

test('events.log that lost its unsynced end in a crash, with tips past it: the start holds the newest events the log still has, as a whole read does', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'events.log');
  const { events } = EventLog.open(path, KEEP_EVENTS);
  await fill(8000, (i) => events.record(event(i)));
  events.close();
  const raw = readFileSync(path);
  // The end lost: cut at a line boundary about 85% in, behind the newest tips.
  const cut = raw.indexOf(0x0a, Math.floor(raw.length * 0.85)) + 1;
  writeFileSync(path, raw.subarray(0, cut), { mode: 0o600 });
  const expected = (() => {
    const kept = readFileSync(resumePath(path));
    renameSync(resumePath(path), join(dir, 'kept.resume'));
    const whole = EventLog.open(path, KEEP_EVENTS);
    const state = timelineState(whole.events);
    whole.events.close();
    writeFileSync(resumePath(path), kept, { mode: 0o600 });
    return state;
  })();
  const after = EventLog.open(path, KEEP_EVENTS).events;
  assert.deepEqual(timelineState(after), expected, 'the tips past the end are not used; one with keepInMemory events after it, or a whole read');
  after.close();
});
