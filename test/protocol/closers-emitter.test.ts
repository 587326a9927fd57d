// Closers undo a start-up once, newest first, past a failing step; the typed emitter isolates a failing listener and unsubscribes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Closers } from '../../src/protocol/closers.js';
import { TypedEmitter } from '../../src/protocol/typed-emitter.js';

test('closers: run once, newest first; a failing step is reported and the rest still run', async () => {
  const closers = new Closers();
  const done: string[] = [];
  const errors: unknown[] = [];
  closers.add(() => void done.push('storage'));
  closers.add(() => {
    throw new Error('ledger stuck');
  });
  closers.add(async () => {
    await Promise.resolve();
    done.push('server');
  });
  assert.equal(closers.started, false);
  const first = closers.run((e) => errors.push(e));
  const second = closers.run((e) => errors.push(e));
  assert.equal(closers.started, true);
  await Promise.all([first, second]);
  assert.deepEqual(done, ['server', 'storage']);
  assert.equal(errors.length, 1, 'the failing step is reported once, the second run does nothing again');
});

test('typed emitter: listeners in order; one that throws is isolated; off removes it', () => {
  const failures: string[] = [];
  const bus = new TypedEmitter<{ countersign: [id: string, agent: string]; heartbeat: [agent: string] }>((name) => failures.push(name));
  const seen: string[] = [];
  bus.on('countersign', () => {
    throw new Error('listener bug');
  });
  const off = bus.on('countersign', (id, agent) => void seen.push(`${id}:${agent}`));
  bus.on('heartbeat', (agent) => void seen.push(`hb:${agent}`));
  bus.emit('countersign', 'r1', 'a');
  bus.emit('heartbeat', 'a');
  off();
  bus.emit('countersign', 'r2', 'a');
  assert.deepEqual(seen, ['r1:a', 'hb:a']);
  assert.deepEqual(failures, ['countersign', 'countersign']);
});

test('typed emitter: an emit calls the listeners there when it started, each once, whatever they add or remove meanwhile', () => {
  const bus = new TypedEmitter<{ heartbeat: [agent: string] }>();
  const seen: string[] = [];
  const late = (): void => void seen.push('late');
  let offSecond: () => void = () => undefined;
  const offFirst = bus.on('heartbeat', () => {
    seen.push('first');
    offFirst();
    offSecond();
    bus.on('heartbeat', late);
  });
  offSecond = bus.on('heartbeat', () => void seen.push('second'));
  bus.emit('heartbeat', 'a');
  assert.deepEqual(seen, ['first', 'second'], 'the emit in progress still calls the removed one and not the added one');
  bus.emit('heartbeat', 'a');
  assert.deepEqual(seen, ['first', 'second', 'late'], 'the next emit sees the changes');
  // The same function added twice: one unsubscribe removes one of them.
  const twice = new TypedEmitter<{ heartbeat: [agent: string] }>();
  let calls = 0;
  const count = (): void => void calls++;
  const offOne = twice.on('heartbeat', count);
  twice.on('heartbeat', count);
  offOne();
  twice.emit('heartbeat', 'a');
  assert.equal(calls, 1);
});
