// Browser-borne requests in the lab: real curl with Origin, Sec-Fetch-Site and Host headers, and a real Chromium page from another origin attacking through the admin proxy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { REPO_ROOT, scratchDir } from '../helpers/paths.js';
import { hypha, runCommand } from '../helpers/run.js';
import { LAB_SKIP, errorCode, startLab, waitFor, type CurlResult, type TestLab } from '../helpers/lab.js';
import { agentOf, link, order, sshKey } from '../helpers/scenario.js';
import { startAdminProxy } from '../../src/lab/admin-proxy.js';
import { serveAttack } from '../helpers/attacker-page.js';

const FIXTURE = join(REPO_ROOT, 'dist', 'test', 'agent', 'ws-agent-fixture.js');
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

interface AgentsView {
  agents: Array<{ agent: string; state: string }>;
}

async function balanceOf(lab: TestLab, actor: string): Promise<string> {
  const r = await lab.curl(actor, 'GET', '/v1/balance');
  assert.equal(r.status, 200, r.text);
  return (r.json as { available: string }).available;
}

async function agentState(lab: TestLab, agent: string): Promise<string | undefined> {
  const r = await lab.curl('admin', 'GET', '/admin/api/agents');
  assert.equal(r.status, 200, r.text);
  return (r.json as AgentsView).agents.find((a) => a.agent === agent)?.state;
}

function field(r: CurlResult): unknown {
  return (r.json as { error?: { field?: unknown } } | undefined)?.error?.field;
}

test('cross-site and rebound requests are refused; curl and same-origin pages still work', { skip: LAB_SKIP }, async (t) => {
  const lab = await startLab(t);
  const { dir, remove } = scratchDir();
  t.after(remove);
  await link(lab, 'admin');
  await link(lab, 'alice');
  // Funding goes to the admin's own agreement: it has no VM, so nothing but a fund moves its balance.
  const admin = await agentOf(lab, 'admin');
  const bob = await agentOf(lab, 'bob');
  const key = await sshKey(dir, 'alice');
  const gw = lab.state().gateway;

  // bob's key asks to join as a farmer: a pending agent, as any stranger could make.
  const hello = await runCommand('ip', ['netns', 'exec', lab.actor('bob').ns, process.execPath, FIXTURE, lab.gw, lab.actor('bob').key, 'node-bob', 'hello'], { timeoutMs: 30_000 });
  assert.equal(hello.code, 0, hello.stderr);
  await waitFor('bob to be a pending agent', async () => ((await agentState(lab, bob)) === 'pending' ? true : undefined));

  await t.test('agent WebSocket upgrades: a foreign Origin gets 403 and a foreign Host 421; an agent (no Origin) is upgraded', async () => {
    const upgrade = async (headers: string[]): Promise<string> => {
      const args = ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '3', '-H', 'Connection: Upgrade', '-H', 'Upgrade: websocket', '-H', 'Sec-WebSocket-Version: 13', '-H', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='];
      for (const h of headers) args.push('-H', h);
      // A 101 leaves curl waiting on the upgraded socket until --max-time: its exit code says nothing here, the status does.
      const r = await lab.exec('bob', 'curl', [...args, `${lab.gw}/v1/agent`]);
      return r.stdout.trim();
    };
    assert.equal(await upgrade(['Origin: https://evil.example']), '403');
    assert.equal(await upgrade(['Origin: null']), '403');
    assert.equal(await upgrade(['Host: rebind.example:8480']), '421');
    assert.equal(await upgrade([]), '101');
  });

  await t.test('curl: cross-site and same-site state changes are refused with cross_site; nothing changes', async () => {
    const before = await balanceOf(lab, 'admin');
    const cases: Array<[string, string, string, unknown, Record<string, string>, string]> = [
      ['alice', 'POST', '/v1/orders', { offer: 'small', sshKeys: [key.pub] }, { origin: 'https://evil.example' }, 'origin'],
      ['alice', 'POST', '/v1/orders', { offer: 'small', sshKeys: [key.pub] }, { 'sec-fetch-site': 'cross-site' }, 'sec-fetch-site'],
      ['alice', 'POST', '/v1/orders', { offer: 'small', sshKeys: [key.pub] }, { 'sec-fetch-site': 'same-site' }, 'sec-fetch-site'],
      ['admin', 'POST', '/admin/api/ledger/fund', { agent: admin, amount: '1000' }, { origin: 'null' }, 'origin'],
      ['admin', 'POST', '/admin/api/ledger/fund', { agent: admin, amount: '1000' }, { origin: `http://[${gw.address}]:${gw.port + 1}` }, 'origin'],
      ['admin', 'POST', `/admin/api/agents/${bob}/approve`, { nodes: ['node-bob'], subnets: [lab.actor('bob').subnet] }, { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }, 'origin'],
    ];
    for (const [actor, method, path, body, headers, named] of cases) {
      const r = await lab.curl(actor, method, path, body, headers);
      assert.equal(r.status, 403, `${path} ${JSON.stringify(headers)}: ${r.text}`);
      assert.equal(errorCode(r), 'cross_site');
      assert.equal(field(r), named);
    }
    assert.equal(await balanceOf(lab, 'admin'), before, 'no funds were added');
    assert.equal(await agentState(lab, bob), 'pending', 'bob is still pending');
    const orders = await lab.curl('alice', 'GET', '/v1/orders');
    assert.deepEqual((orders.json as { orders: unknown[] }).orders, [], 'no order was placed');
  });

  await t.test('curl: a Host that is not the gateway\'s is refused for every method, with a hint naming its URL', async () => {
    for (const method of ['GET', 'POST']) {
      const r = await lab.curl('admin', method, method === 'GET' ? '/admin/api/overview' : '/admin/api/ledger/fund', method === 'GET' ? undefined : { agent: admin, amount: '1' }, { host: `rebind.example:${gw.port}` });
      assert.equal(r.status, 421, r.text);
      assert.equal(errorCode(r), 'wrong_host');
      assert.ok(String((r.json as { error: { hint: string } }).error.hint).includes(lab.gw), 'the hint names the gateway URL');
      assert.doesNotMatch(r.text, /deployments|customers/, 'nothing of the overview');
    }
    const spelled = await lab.curl('admin', 'GET', '/admin/api/overview', undefined, { host: `[${gw.address.toUpperCase()}]:${gw.port}` });
    assert.equal(spelled.status, 200, 'the gateway\'s address in capitals is still its own');
  });

  await t.test('curl: approving needs the nodes and /64s named; an empty request is a 400', async () => {
    const empty = await lab.curl('admin', 'POST', `/admin/api/agents/${bob}/approve`);
    assert.equal(empty.status, 400, empty.text);
    assert.equal(field(empty), 'nodes');
    const noSubnets = await lab.curl('admin', 'POST', `/admin/api/agents/${bob}/approve`, { nodes: ['node-bob'] });
    assert.equal(field(noSubnets), 'subnets');
    assert.equal(await agentState(lab, bob), 'pending');
  });

  await t.test('curl: plain curl -d (form content type, no Origin) still works, and pages of orders walk with next', async () => {
    for (let i = 0; i < 3; i++) await order(lab, 'alice', 'small', [key.pub]);
    const first = await lab.curl('alice', 'GET', '/v1/orders?limit=2');
    const p1 = first.json as { orders: Array<{ id: string }>; next: string | null };
    assert.equal(p1.orders.length, 2);
    assert.equal(p1.next, p1.orders[1]?.id);
    const second = (await lab.curl('alice', 'GET', `/v1/orders?limit=2&after=${encodeURIComponent(p1.next ?? '')}`)).json as { orders: Array<{ id: string }>; next: string | null };
    assert.equal(second.orders.length, 1);
    assert.equal(second.next, null);
    assert.equal(new Set([...p1.orders, ...second.orders].map((o) => o.id)).size, 3);
    const bad = await lab.curl('alice', 'GET', '/v1/orders?limit=0');
    assert.equal(bad.status, 400);
    assert.equal(field(bad), 'limit');

    const r = await lab.exec('admin', 'curl', ['-s', '-S', '-w', '\n%{http_code}', '-d', JSON.stringify({ agent: admin, amount: '2', key: 'hypha:dep_x:2026-01-01T00:00:00.000Z' }), `${lab.gw}/admin/api/ledger/fund`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\n200$/, r.stdout);
    assert.equal(await balanceOf(lab, 'admin'), '2.000000');
    // The key looked like a billing event's; the ledger got it in the fund: namespace.
    const entries = await hypha(['ledger', 'entries', '--dir', join(lab.dir, 'ledger', 'data'), '--type', 'fund']);
    assert.equal(entries.code, 0, entries.stderr);
    assert.ok(entries.stdout.includes('"fund:hypha:dep_x:2026-01-01T00:00:00.000Z"'), entries.stdout);
    assert.ok(!entries.stdout.includes('"hypha:dep_x:'), 'never under the billing key itself');
  });

  await t.test('Chromium: a page of another origin cannot fund or approve through the admin proxy; a page of the proxy\'s own origin can', async () => {
    const proxy = await startAdminProxy({ dir: lab.dir });
    t.after(() => proxy.close());
    const origin = `http://127.0.0.1:${proxy.port}`;
    const evilUrl = await serveAttack(t, {
      origin,
      posts: [
        { path: '/admin/api/ledger/fund', body: JSON.stringify({ agent: admin, amount: '1000' }) },
        { path: `/admin/api/agents/${bob}/approve`, body: JSON.stringify({ nodes: ['node-bob'], subnets: [lab.actor('bob').subnet] }) },
        { path: `/admin/api/agents/${bob}/approve`, body: '' },
      ],
      form: { action: `/admin/api/agents/${bob}/approve` },
    });

    const browser: Browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    t.after(() => browser.close());
    const page = await browser.newPage();
    const before = await balanceOf(lab, 'admin');
    const seen: Array<{ url: string; status: number }> = [];
    page.on('response', (r) => void seen.push({ url: r.url(), status: r.status() }));
    await page.goto(evilUrl);
    await page.waitForFunction("document.title.startsWith('done')", undefined, { timeout: 20_000 });
    assert.equal(await page.title(), 'done sent,sent,sent', 'the browser sent every request');
    const form = seen.find((s) => s.url.endsWith('/approve'));
    assert.equal(form?.status, 403, `the form post through the proxy was refused: ${JSON.stringify(seen)}`);
    assert.equal(await balanceOf(lab, 'admin'), before, 'the ledger balance did not change');
    assert.equal(await agentState(lab, bob), 'pending', 'bob is still pending');

    // DNS rebinding against the proxy: another name for 127.0.0.1 is not the proxy's origin.
    const rebound = await page.goto(`http://localhost:${proxy.port}/admin/api/overview`);
    assert.equal(rebound?.status(), 421);

    // The control: the same request from a page of the proxy's own origin goes through.
    const own = await page.goto(`${origin}/admin`);
    assert.equal(own?.status(), 200, await own?.text());
    const status = await page.evaluate(
      async (body) => (await fetch('/admin/api/ledger/fund', { method: 'POST', headers: { 'content-type': 'application/json' }, body })).status,
      JSON.stringify({ agent: admin, amount: '3' }),
    );
    assert.equal(status, 200, 'a same-origin request through the proxy is accepted');
    assert.equal(await balanceOf(lab, 'admin'), '5.000000');
  });
});
