// GatewayMetrics.observeRequest counts each request under its own route, method and status, and times it per route and method.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayMetrics } from '../../src/gateway/metrics.js';
import type { AdminSources } from '../../src/gateway/admin/admin-views.js';

test('requests are counted per (route, method, status) and timed per (route, method), the same series again and again', async () => {
  // Only the request metrics are read here, so no gauge asks its sources.
  const metrics = new GatewayMetrics({} as AdminSources);
  for (let i = 0; i < 3; i++) metrics.observeRequest('/v1/whoami', 'GET', 200, 2);
  metrics.observeRequest('/v1/whoami', 'GET', 429, 1);
  metrics.observeRequest('/v1/orders/:id', 'GET', 200, 700);
  const counts = await metrics.registry.getSingleMetricAsString('hypha_http_requests_total');
  assert.match(counts, /hypha_http_requests_total\{route="\/v1\/whoami",method="GET",status="200"\} 3(\n|$)/);
  assert.match(counts, /hypha_http_requests_total\{route="\/v1\/whoami",method="GET",status="429"\} 1(\n|$)/);
  assert.match(counts, /hypha_http_requests_total\{route="\/v1\/orders\/:id",method="GET",status="200"\} 1(\n|$)/);
  const seconds = await metrics.registry.getSingleMetricAsString('hypha_http_request_duration_seconds');
  assert.match(seconds, /hypha_http_request_duration_seconds_count\{route="\/v1\/whoami",method="GET"\} 4(\n|$)/);
  assert.match(seconds, /hypha_http_request_duration_seconds_bucket\{le="0.001",route="\/v1\/whoami",method="GET"\} 1(\n|$)/);
  assert.match(seconds, /hypha_http_request_duration_seconds_bucket\{le="0.5",route="\/v1\/orders\/:id",method="GET"\} 0(\n|$)/);
  assert.match(seconds, /hypha_http_request_duration_seconds_bucket\{le="1",route="\/v1\/orders\/:id",method="GET"\} 1(\n|$)/);
});
