// Request metrics as the gateway's app records them: each request under its matched route pattern (never the raw path), its method and the status it was answered with, timed per route and method.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { pino } from 'pino';
import { Counter, Histogram, Registry } from 'prom-client';
import { GatewayMetrics } from '../../src/gateway/metrics.js';
import { REQUEST_SECONDS_BUCKETS, RequestMetrics } from '../../src/gateway/request-metrics.js';
import type { AdminSources } from '../../src/gateway/admin/admin-views.js';
import { createApp } from '../../src/gateway/http/app.js';
import { OriginPolicy } from '../../src/gateway/http/origin-guard.js';
import { PublicError } from '../../src/gateway/http/public-error.js';
import { addLoopbackAddresses } from '../helpers/private-netns.js';
import { inPrivateNamespace } from '../helpers/namespaced-test-file.js';
import { jsonRequest } from '../helpers/source-http.js';

/** Every series of one metric family in the exposition, as `labels -> value` (the labels text as prom-client writes it). */
async function series(metrics: GatewayMetrics, name: string, sample: string): Promise<Map<string, number>> {
  const text = await metrics.registry.getSingleMetricAsString(name);
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\w+)\{(.*)\} (\S+)$/.exec(line);
    if (m && m[1] === sample) out.set(m[2] as string, Number(m[3]));
  }
  return out;
}

test('GatewayMetrics.observeRequest times in seconds: each duration lands in its bucket, the sum is in seconds', async () => {
  const metrics = new GatewayMetrics({} as AdminSources);
  metrics.observeRequest('/v1/whoami', 'GET', 200, 2);
  metrics.observeRequest('/v1/whoami', 'GET', 429, 700);
  const buckets = await series(metrics, 'hypha_http_request_duration_seconds', 'hypha_http_request_duration_seconds_bucket');
  assert.equal(buckets.get('le="0.001",route="/v1/whoami",method="GET"'), 0);
  assert.equal(buckets.get('le="0.005",route="/v1/whoami",method="GET"'), 1, '2 ms is under 5 ms');
  assert.equal(buckets.get('le="0.5",route="/v1/whoami",method="GET"'), 1);
  assert.equal(buckets.get('le="1",route="/v1/whoami",method="GET"'), 2, '700 ms is under 1 s');
  const sums = await series(metrics, 'hypha_http_request_duration_seconds', 'hypha_http_request_duration_seconds_sum');
  assert.equal(sums.get('route="/v1/whoami",method="GET"'), 0.702);
});

test('RequestMetrics shows what prom-client\'s Counter and Histogram show for the same requests', async () => {
  // The reference: the metrics as GatewayMetrics made them before RequestMetrics (prom-client, same names, labels and buckets).
  const reference = new Registry();
  const counter = new Counter({ name: 'hypha_http_requests_total', help: 'HTTP requests by matched route, method and status', labelNames: ['route', 'method', 'status'], registers: [reference] });
  const histogram = new Histogram({ name: 'hypha_http_request_duration_seconds', help: 'HTTP request duration by matched route', labelNames: ['route', 'method'], buckets: [...REQUEST_SECONDS_BUCKETS], registers: [reference] });
  const ours = new Registry();
  const metrics = new RequestMetrics(ours);
  // Every bucket bound exactly (a bound is inclusive), just over it, zero, and past the last bound (+Inf only).
  const durationsMs = [0, 0.4, 1, 1.0001, 5, 7, 10, 50, 99.9, 100, 500, 999, 1000, 4999, 5000, 5000.5, 60_000];
  const kinds: Array<[string, string, number]> = [
    ['/v1/whoami', 'GET', 200],
    ['/v1/orders/:id', 'GET', 404],
    ['/v1/whoami', 'HEAD', 200],
    ['unmatched', 'DELETE', 405],
    ['/v1/orders/:id', 'GET', 200],
    ['/v1/orders', 'POST', 201],
    ['/v1/whoami', 'GET', 429],
  ];
  let i = 0;
  for (const ms of durationsMs) {
    for (const [route, method, status] of kinds) {
      const d = ms + (i++ % 3) * 0.25;
      counter.inc({ route, method, status: String(status) });
      histogram.observe({ route, method }, d / 1000);
      metrics.observe(route, method, status, d);
    }
  }
  // Series come in another order (grouped by route here, by first use in prom-client); Prometheus reads them in any order.
  const lines = async (r: Registry): Promise<string[]> => (await r.metrics()).split('\n').sort();
  assert.deepEqual(await lines(ours), await lines(reference));
  assert.ok((await ours.metrics()).includes('hypha_http_request_duration_seconds_bucket{le="+Inf",route="/v1/whoami",method="GET"} 34'));
  ours.resetMetrics();
  assert.doesNotMatch(await ours.metrics(), /route=/, 'reset forgets every series');
});

const NAME = 'requests over real sockets: counted per (route pattern, method, answered status), timed per (route pattern, method); many paths, few series';

if (inPrivateNamespace({ name: NAME, moduleUrl: import.meta.url, tests: 3, timeoutMs: 120_000 })) {
  test(NAME, async (t) => {
    const [gateway, caller] = (await addLoopbackAddresses(2)) as [string, string];
    const port = 8490;
    // Only the request metrics are read here, so no gauge asks its sources.
    const metrics = new GatewayMetrics({} as AdminSources);
    const app = createApp({
      log: pino({ level: 'silent' }),
      origin: new OriginPolicy([`[${gateway}]:${port}`]),
      principals: { linkOf: () => undefined, isAdmin: () => false, isFarmer: () => false },
      observe: (route, method, status, ms) => metrics.observeRequest(route, method, status, ms),
      routes: [
        (r) =>
          r.get('/v1/orders/:id', (ctx) => {
            if (ctx.params.id === 'missing') throw new PublicError('not_found', 'no such order', 'list your orders');
            if (ctx.params.id === 'broken') throw new Error('a bug: the caller sees a generic 500');
            ctx.body = { id: ctx.params.id };
          }),
      ],
    });
    const server = createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(port, gateway, resolve));
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const target = { host: gateway, port };
    const statuses: number[] = [];
    const ask = async (method: string, path: string): Promise<void> => void statuses.push((await jsonRequest(target, caller, method, path)).status);
    for (let i = 0; i < 25; i++) await ask('GET', `/v1/orders/ord_${i}`);
    await ask('HEAD', '/v1/orders/ord_1');
    await ask('GET', '/v1/orders/missing');
    await ask('GET', '/v1/orders/broken');
    await ask('DELETE', '/v1/orders/ord_1');
    for (let i = 0; i < 5; i++) await ask('GET', `/no/such/path/${i}`);
    assert.deepEqual(statuses, [...Array<number>(26).fill(200), 404, 500, 405, 404, 404, 404, 404, 404]);

    const counts = await series(metrics, 'hypha_http_requests_total', 'hypha_http_requests_total');
    assert.deepEqual(
      Object.fromEntries(counts),
      {
        'route="/v1/orders/:id",method="GET",status="200"': 25,
        'route="/v1/orders/:id",method="HEAD",status="200"': 1,
        'route="/v1/orders/:id",method="GET",status="404"': 1,
        'route="/v1/orders/:id",method="GET",status="500"': 1,
        'route="unmatched",method="DELETE",status="405"': 1,
        'route="unmatched",method="GET",status="404"': 5,
      },
      'one series per (pattern, method, status) answered; no raw path or id became a label',
    );
    const timed = await series(metrics, 'hypha_http_request_duration_seconds', 'hypha_http_request_duration_seconds_count');
    assert.deepEqual(Object.fromEntries(timed), {
      'route="/v1/orders/:id",method="GET"': 27,
      'route="/v1/orders/:id",method="HEAD"': 1,
      'route="unmatched",method="DELETE"': 1,
      'route="unmatched",method="GET"': 5,
    });
  });
}
