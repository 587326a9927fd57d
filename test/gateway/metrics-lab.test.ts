// /metrics in the lab: admins only, and the exposition text parses with an independent Prometheus text-format parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { scratchDir } from '../helpers/paths.js';
import { errorCode, startLab, waitFor, type TestLab, LAB_SKIP } from '../helpers/lab.js';
import { buyVm, link, sshKey } from '../helpers/scenario.js';

interface Family {
  name: string;
  help: string;
  type: string;
  metrics: Array<{ labels?: Record<string, string>; value?: string; buckets?: Record<string, string>; count?: string; sum?: string }>;
}

async function scrape(lab: TestLab): Promise<{ text: string; families: Map<string, Family> }> {
  const r = await lab.exec('admin', 'curl', ['-s', '-D', '-', `${lab.gw}/metrics`]);
  const [head, ...body] = r.stdout.split('\r\n\r\n');
  assert.match(head ?? '', /content-type: text\/plain; version=0\.0\.4/i);
  const text = body.join('\r\n\r\n');
  const parsed = parsePrometheusTextFormat(text) as Family[];
  return { text, families: new Map(parsed.map((f) => [f.name, f])) };
}

const value = (f: Family | undefined, labels: Record<string, string> = {}): number => {
  const m = f?.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
  return Number(m?.value ?? NaN);
};

test('metrics in the lab', { skip: LAB_SKIP }, async (t) => {
  const lab = await startLab(t, { hour: 1 });
  const { dir, remove } = scratchDir();
  t.after(remove);
  await link(lab, 'admin');
  await link(lab, 'alice');
  const key = await sshKey(dir, 'k');
  await buyVm(lab, 'alice', [key.pub], '10');

  await t.test('only admins may scrape: a linked customer gets 403, an unlinked caller 401', async () => {
    const alice = await lab.curl('alice', 'GET', '/metrics');
    assert.equal(alice.status, 403);
    assert.equal(errorCode(alice), 'forbidden');
    const bob = await lab.curl('bob', 'GET', '/metrics');
    assert.equal(bob.status, 401);
    assert.equal(errorCode(bob), 'not_linked');
  });

  await t.test('the exposition parses, every family is hypha_-prefixed and typed, and the numbers are live', async () => {
    // Charging and paying the farmer are two ledger steps of one billing run: a scrape between them
    // sees a charge without its payout, so wait for both.
    const { text, families } = await waitFor('a billed and paid-out period in the metrics', async () => {
      const s = await scrape(lab);
      return value(s.families.get('hypha_charged_micros')) > 0 && value(s.families.get('hypha_paid_out_micros')) > 0 ? s : undefined;
    });
    for (const [name, f] of families) {
      assert.match(name, /^hypha_/, `${name} is prefixed`);
      assert.ok(['counter', 'gauge', 'histogram', 'summary'].includes(f.type.toLowerCase()), `${name} has a TYPE (${f.type})`);
      assert.ok(f.help.length > 0, `${name} has HELP`);
    }
    for (const name of [
      'hypha_http_requests_total',
      'hypha_http_request_duration_seconds',
      'hypha_link_attempts_total',
      'hypha_agents_connected',
      'hypha_heartbeats_total',
      'hypha_node_up',
      'hypha_vms',
      'hypha_deployments',
      'hypha_billing_runs_total',
      'hypha_billing_run_duration_seconds',
      'hypha_ledger_errors_total',
      'hypha_charged_micros',
      'hypha_paid_out_micros',
      'hypha_money_checkpoint_failures',
    ]) {
      assert.ok(families.has(name), `${name} is exported`);
    }
    assert.equal(value(families.get('hypha_agents_connected')), 2);
    // The embedded store's lease is always active, its database always up.
    assert.equal(value(families.get('hypha_ha_active')), 1);
    assert.equal(value(families.get('hypha_ha_lease_database_up')), 1);
    assert.ok(value(families.get('hypha_heartbeats_total')) > 10);
    assert.equal(value(families.get('hypha_deployments'), { state: 'active' }), 1);
    assert.equal(value(families.get('hypha_node_up'), { node: 'node-farmer1' }), 1);
    assert.equal(value(families.get('hypha_link_attempts_total'), { outcome: 'linked' }), 2);
    assert.ok(value(families.get('hypha_paid_out_micros')) > 0);
    assert.equal(value(families.get('hypha_money_checkpoint_failures')), 0);
    assert.ok(value(families.get('hypha_http_requests_total'), { route: '/v1/orders/:id', method: 'GET', status: '200' }) >= 1, 'requests are counted by route pattern');
    const histogram = families.get('hypha_billing_run_duration_seconds')?.metrics[0];
    const buckets = Object.entries(histogram?.buckets ?? {})
      .sort(([a], [b]) => (a === '+Inf' ? Infinity : Number(a)) - (b === '+Inf' ? Infinity : Number(b)))
      .map(([, v]) => Number(v));
    assert.ok(buckets.length > 3);
    for (let i = 1; i < buckets.length; i++) assert.ok((buckets[i] as number) >= (buckets[i - 1] as number), 'histogram buckets are cumulative');
    assert.equal(Number(histogram?.count), buckets[buckets.length - 1]);
    const labelValues = [...families.values()].flatMap((f) => f.metrics.flatMap((m) => Object.values(m.labels ?? {})));
    assert.ok(!labelValues.some((v) => v.startsWith('uhCAk')), 'no per-customer (or per-identity) labels');
    assert.ok(!/dep_|ord_/.test(text), 'no per-deployment labels');
  });
});
