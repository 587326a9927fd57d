// TickBatch, the write scheduler of both Store adapters: one write per tick, writes never overlap, each caller gets its write's outcome.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TickBatch } from '../../src/gateway/store/tick-batch.js';

/** A write the test finishes by hand, recording what state it saw and whether another write was running. */
class ManualWrites {
  readonly started: number[] = [];
  overlapped = false;
  private running = false;
  private finish: Array<(err?: Error) => void> = [];
  constructor(private readonly state: { value: number }) {}
  readonly write = (): Promise<void> => {
    if (this.running) this.overlapped = true;
    this.running = true;
    this.started.push(this.state.value);
    return new Promise<void>((resolve, reject) => {
      this.finish.push((err) => {
        this.running = false;
        if (err) reject(err);
        else resolve();
      });
    });
  };
  /** Ends the oldest running write, with `err` when given. */
  end(err?: Error): void {
    const next = this.finish.shift();
    assert.ok(next, 'a write is running');
    next(err);
  }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('the changes of one tick are one write, made after the tick; every caller waits for it', async () => {
  const state = { value: 0 };
  const writes = new ManualWrites(state);
  const batch = new TickBatch(writes.write);
  const done: number[] = [];
  const calls: Promise<number>[] = [];
  for (let i = 1; i <= 3; i++) {
    state.value = i;
    calls.push(batch.schedule().then(() => done.push(i)));
  }
  assert.deepEqual(writes.started, [], 'nothing is written within the tick');
  await tick();
  assert.deepEqual(writes.started, [3], 'one write, of the state at the end of the tick');
  assert.deepEqual(done, []);
  writes.end();
  await Promise.all(calls);
  assert.deepEqual(done, [1, 2, 3]);
});

test('a write asked for while one runs waits for it, then writes the newer state; flush waits for both', async () => {
  const state = { value: 1 };
  const writes = new ManualWrites(state);
  const batch = new TickBatch(writes.write);
  const first = batch.schedule();
  await tick();
  state.value = 2;
  const second = batch.schedule();
  await tick();
  await tick();
  assert.deepEqual(writes.started, [1], 'the second write has not started while the first runs');
  let flushed = false;
  void batch.flush().then(() => (flushed = true));
  writes.end();
  await first;
  await tick();
  assert.deepEqual(writes.started, [1, 2]);
  assert.equal(flushed, false, 'flush waits for the last write asked for');
  writes.end();
  await second;
  await batch.flush();
  assert.equal(flushed, true);
  assert.equal(writes.overlapped, false);
});

test("a failed write rejects its own callers only; the next write runs and succeeds", async () => {
  const state = { value: 1 };
  const writes = new ManualWrites(state);
  const batch = new TickBatch(writes.write);
  const failing = [batch.schedule(), batch.schedule()];
  await tick();
  writes.end(new Error('disk full'));
  for (const p of failing) await assert.rejects(p, /disk full/);
  await assert.rejects(batch.flush(), /disk full/, 'flush reports the failure of the last write');
  state.value = 2;
  const next = batch.schedule();
  await tick();
  assert.deepEqual(writes.started, [1, 2]);
  writes.end();
  await next;
  await batch.flush();
});
