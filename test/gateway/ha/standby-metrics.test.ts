// A standby's /metrics over real sockets: an admin /64 scrapes 200 with hypha_ha_active 0 and the lease database's state; anyone else gets the standby 503, and no body carries the database's URL or password.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { startStandbyServer, type StandbyView } from '../../../src/gateway/ha/standby-server.js';
import { subnet64 } from '../../../src/identity/mycelium-address.js';
import { addLoopbackAddresses } from '../../helpers/private-netns.js';
import { inPrivateNamespace } from '../../helpers/namespaced-test-file.js';
import { jsonRequest } from '../../helpers/source-http.js';

const NAME = "a standby's /metrics: admins by /64 scrape it, everyone else gets the standby 503";

/** The value of the unlabelled metric `name`, read with an independent Prometheus text-format parser (undefined when absent or unparsable). */
function sample(text: string, name: string): number | undefined {
  let families: Array<{ name: string; metrics: Array<{ value?: string }> }>;
  try {
    families = parsePrometheusTextFormat(text) as typeof families;
  } catch {
    return undefined;
  }
  const value = families.find((f) => f.name === name)?.metrics[0]?.value;
  return value === undefined ? undefined : Number(value);
}

if (inPrivateNamespace({ name: NAME, moduleUrl: import.meta.url, tests: 1, timeoutMs: 120_000 })) {
  test(NAME, async (t) => {
    const [standby, admin, customer] = (await addLoopbackAddresses(3)) as [string, string, string];
    const port = 8491;
    // The lease's outage message as the keeper could word it, with a database URL and password in it.
    const secretOutage = 'lease: connect ECONNREFUSED postgresql://hypha:s3cret-pw@db.example:5432/hypha';
    let outage: string | null = null;
    const view: StandbyView = { activeUrl: () => 'http://[400::a]:8480', outage: () => outage };
    const close = await startStandbyServer(standby, port, view, [subnet64(admin)], pino({ level: 'silent' }));
    t.after(() => close());
    const target = { host: standby, port };

    const up = await jsonRequest(target, admin, 'GET', '/metrics');
    assert.equal(up.status, 200, up.text);
    assert.equal(sample(up.text, 'hypha_ha_active'), 0);
    assert.equal(sample(up.text, 'hypha_ha_lease_database_up'), 1);
    assert.ok(sample(up.text, 'hypha_process_cpu_user_seconds_total') !== undefined, 'the process metrics are there too');

    outage = secretOutage;
    const down = await jsonRequest(target, admin, 'GET', '/metrics');
    assert.equal(down.status, 200);
    assert.equal(sample(down.text, 'hypha_ha_active'), 0);
    assert.equal(sample(down.text, 'hypha_ha_lease_database_up'), 0, 'the outage shows as the database down');

    const refused = await jsonRequest(target, customer, 'GET', '/metrics');
    assert.equal(refused.status, 503, 'a non-admin learns no more than today');
    assert.equal((refused.json as { error: { code: string } }).error.code, 'standby');
    assert.equal(sample(refused.text, 'hypha_ha_active'), undefined);
    const posted = await jsonRequest(target, admin, 'POST', '/metrics', {});
    assert.equal(posted.status, 503, 'only GET /metrics is answered');

    for (const body of [up.text, down.text, refused.text, posted.text]) {
      assert.doesNotMatch(body, /postgresql:|s3cret-pw|db\.example/, 'no database URL or password in any body');
    }
  });
}
