// The process's default metrics keep their names when the event-loop sampling is made coarser (process-metrics.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { collectProcessMetrics, EVENT_LOOP_SAMPLE_MS } from '../../src/gateway/process-metrics.js';

test('collectProcessMetrics registers the hypha_-prefixed default metrics, event-loop lag included', async () => {
  const r = new Registry();
  collectProcessMetrics(r);
  const text = await r.metrics();
  for (const name of ['hypha_process_cpu_user_seconds_total', 'hypha_nodejs_heap_size_used_bytes', 'hypha_nodejs_eventloop_lag_seconds', 'hypha_nodejs_eventloop_lag_p99_seconds', 'hypha_nodejs_eventloop_lag_max_seconds', 'hypha_nodejs_gc_duration_seconds']) {
    assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
  }
  // Coarser than prom-client's 10 ms (an idle wake-up 100 times a second), fine enough to see a stall.
  assert.ok(EVENT_LOOP_SAMPLE_MS > 10 && EVENT_LOOP_SAMPLE_MS <= 1000);
});
