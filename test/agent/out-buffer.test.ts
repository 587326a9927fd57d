// OutBuffer in a scratch folder: push, replay and ack; the chain position across a reopen; the bound; a torn last line; reanchor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { OutBuffer, type OutMessage } from '../../src/agent/out-buffer.js';
import { chainNext, GENESIS_HEAD } from '../../src/protocol/heartbeat.js';
import type { ChainHeadMessage, HeartbeatMessage } from '../../src/protocol/agent-messages.js';
import { scratchDir } from '../helpers/paths.js';

const T0 = Date.UTC(2026, 0, 1);

/** An agent's heartbeats as the agent makes them: each chained on the one before. */
function heartbeats(from: { seq: number; head: string }, n: number): { message: HeartbeatMessage; headAfter: string }[] {
  const out: { message: HeartbeatMessage; headAfter: string }[] = [];
  let { seq, head } = from;
  for (let i = 0; i < n; i++) {
    seq++;
    const message: HeartbeatMessage = { type: 'heartbeat', seq, atMs: T0 + seq * 15_000, prev: head, nodes: [{ id: 'n1', up: true }], vms: [{ id: 'dep_1', reachable: true, rttMicros: 800 }] };
    head = chainNext(head, message);
    out.push({ message, headAfter: head });
  }
  return out;
}

const chainHead = (seq: number, head: string): ChainHeadMessage => ({ type: 'chain-head', periodStartMs: T0, periodEndMs: T0 + 3_600_000, seq, head, signature: 'c2ln' });
const seqs = (messages: OutMessage[]): string[] => messages.map((m) => `${m.type}:${m.seq}`);

/** Runs `body` with a scratch folder for the outbox. */
function withDir(body: (dir: string) => void): void {
  const scratch = scratchDir();
  try {
    body(join(scratch.dir, 'outbox'));
  } finally {
    scratch.remove();
  }
}

test('a new buffer stands at genesis', () => {
  withDir((dir) => {
    const buf = new OutBuffer(dir, 100);
    assert.deepEqual(buf.position(), { seq: 0, head: GENESIS_HEAD });
    assert.equal(buf.ackedSeq, 0);
    assert.equal(buf.size, 0);
    assert.deepEqual(buf.replay(1), []);
  });
});

test('push, replay and ack', () => {
  withDir((dir) => {
    const buf = new OutBuffer(dir, 100);
    const hbs = heartbeats({ seq: 0, head: GENESIS_HEAD }, 5);
    for (const h of hbs.slice(0, 3)) buf.push(h.message, h.headAfter);
    buf.push(chainHead(3, hbs[2]?.headAfter as string));
    for (const h of hbs.slice(3)) buf.push(h.message, h.headAfter);

    assert.equal(buf.size, 6);
    assert.deepEqual(buf.position(), { seq: 5, head: hbs[4]?.headAfter });
    assert.deepEqual(seqs(buf.replay(1)), ['heartbeat:1', 'heartbeat:2', 'heartbeat:3', 'chain-head:3', 'heartbeat:4', 'heartbeat:5']);
    assert.deepEqual(seqs(buf.replay(4)), ['chain-head:3', 'heartbeat:4', 'heartbeat:5'], 'from seq 4: later heartbeats, and every chain head');
    assert.deepEqual(buf.replay(1)[0], hbs[0]?.message, 'replayed heartbeats are sent as they were, without the stored head');
    assert.ok(buf.replay(1).every((m) => !('headAfter' in m)));

    buf.ack(3);
    assert.equal(buf.ackedSeq, 3);
    assert.deepEqual(seqs(buf.replay(1)), ['heartbeat:4', 'heartbeat:5']);
    assert.deepEqual(buf.position(), { seq: 5, head: hbs[4]?.headAfter }, 'acking does not move the position');
    buf.ack(2);
    assert.equal(buf.ackedSeq, 3, 'an older ack changes nothing');
    buf.ack(5);
    assert.equal(buf.size, 0);
    assert.deepEqual(buf.position(), { seq: 5, head: hbs[4]?.headAfter }, 'with nothing buffered, the position is the acknowledged one');
  });
});

test('the position and the unacknowledged messages survive a reopen', () => {
  withDir((dir) => {
    const hbs = heartbeats({ seq: 0, head: GENESIS_HEAD }, 6);
    const first = new OutBuffer(dir, 100);
    for (const h of hbs) first.push(h.message, h.headAfter);
    first.ack(4);

    const second = new OutBuffer(dir, 100);
    assert.equal(second.ackedSeq, 4);
    assert.equal(second.size, 2);
    assert.deepEqual(second.position(), { seq: 6, head: hbs[5]?.headAfter });
    assert.deepEqual(second.replay(1), [hbs[4]?.message, hbs[5]?.message]);

    second.ack(6);
    const third = new OutBuffer(dir, 100);
    assert.equal(third.size, 0);
    assert.deepEqual(third.position(), { seq: 6, head: hbs[5]?.headAfter }, 'after everything was acked, the position comes from chain.json');
    const next = heartbeats(third.position(), 1)[0];
    assert.equal(next?.message.prev, hbs[5]?.headAfter, 'the chain continues where it stood');
  });
});

test('the bound drops the oldest heartbeats, counts them, and the drop survives a reopen', () => {
  withDir((dir) => {
    const buf = new OutBuffer(dir, 3);
    const hbs = heartbeats({ seq: 0, head: GENESIS_HEAD }, 5);
    for (const h of hbs) buf.push(h.message, h.headAfter);
    assert.equal(buf.dropped, 2);
    assert.equal(buf.size, 3);
    assert.deepEqual(seqs(buf.replay(1)), ['heartbeat:3', 'heartbeat:4', 'heartbeat:5']);
    assert.deepEqual(buf.position(), { seq: 5, head: hbs[4]?.headAfter });
    const reopened = new OutBuffer(dir, 3);
    assert.deepEqual(seqs(reopened.replay(1)), ['heartbeat:3', 'heartbeat:4', 'heartbeat:5'], 'the file was rewritten without the dropped ones');
  });
});

test('a torn last line (a write cut by a crash) is ignored on reopen and the file is repaired', () => {
  withDir((dir) => {
    const hbs = heartbeats({ seq: 0, head: GENESIS_HEAD }, 3);
    const buf = new OutBuffer(dir, 100);
    for (const h of hbs) buf.push(h.message, h.headAfter);
    const outbox = join(dir, 'outbox.jsonl');
    appendFileSync(outbox, '{"type":"heartbeat","seq":4,"atMs":');

    const reopened = new OutBuffer(dir, 100);
    assert.equal(reopened.size, 3);
    assert.deepEqual(reopened.position(), { seq: 3, head: hbs[2]?.headAfter });
    assert.ok(readFileSync(outbox, 'utf8').endsWith('}\n'), 'the torn bytes are gone');
    const h4 = heartbeats(reopened.position(), 1)[0];
    assert.ok(h4);
    reopened.push(h4.message, h4.headAfter);
    assert.deepEqual(seqs(new OutBuffer(dir, 100).replay(1)), ['heartbeat:1', 'heartbeat:2', 'heartbeat:3', 'heartbeat:4']);
  });
});

test('reanchor forgets the buffer and continues from the gateway\'s chain, also after a reopen', () => {
  withDir((dir) => {
    const buf = new OutBuffer(dir, 100);
    for (const h of heartbeats({ seq: 0, head: GENESIS_HEAD }, 2)) buf.push(h.message, h.headAfter);
    const gatewayHead = '7f'.repeat(32);
    buf.reanchor(41, gatewayHead);
    assert.equal(buf.size, 0);
    assert.equal(buf.ackedSeq, 41);
    assert.deepEqual(buf.position(), { seq: 41, head: gatewayHead });
    const reopened = new OutBuffer(dir, 100);
    assert.deepEqual(reopened.position(), { seq: 41, head: gatewayHead });
    assert.equal(reopened.size, 0);
  });
});

test('the outbox files are readable by their owner only', () => {
  withDir((dir) => {
    const buf = new OutBuffer(dir, 100);
    for (const h of heartbeats({ seq: 0, head: GENESIS_HEAD }, 2)) buf.push(h.message, h.headAfter);
    buf.ack(1);
    for (const f of ['outbox.jsonl', 'chain.json']) assert.equal(statSync(join(dir, f)).mode & 0o077, 0, f);
  });
});
