// Issue 7 in the lab: the admin status page after a scripted billing scenario, opened in real headless Chromium through `hypha lab admin-proxy`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { HYPHA_BIN, REPO_ROOT, scratchDir } from '../helpers/paths.js';
import { runCommand } from '../helpers/run.js';
import { errorCode, startLab, waitFor, type TestLab, LAB_SKIP } from '../helpers/lab.js';
import { storedLinks } from '../helpers/lab-store.js';
import { adminGet, agentOf, buyVm, link, sshKey } from '../helpers/scenario.js';

/**
 * Lab time: one billed hour is two real seconds; a deposit of 2 hours; a grace period of 24.
 * Admin's VM is funded for its 2-hour deposit only, bob's for 22 hours: bob's runs out 20 hours
 * after admin's, inside admin's grace period, so from admin's deprovisioning (26 hours, about
 * 52 s after the VMs are bought) bob is in grace for 20 hours (about 40 s) more. The steps that
 * need bob in grace run first. (A 16-hour grace with bob funded for 14 hours left 24 s, which a
 * loaded CI host once used up before the customer step read "in grace until".)
 */
const GRACE_HOURS = 24;
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');

interface Overview {
  nodes: { up: number };
  deployments: { provisioning: number; active: number; grace: number; deprovisioned: number };
  customers: { total: number; inGrace: number; outOfFunds: number };
}

interface AdminProxyProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Sends SIGTERM and resolves with the exit code and everything it printed. */
  stop(): Promise<{ code: number | null; out: string }>;
}

/** Runs `hypha lab admin-proxy` and waits for the URL it prints. */
async function startAdminProxy(lab: TestLab): Promise<AdminProxyProcess> {
  const child = spawn(process.execPath, [HYPHA_BIN, 'lab', 'admin-proxy', '--dir', lab.dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await waitFor('the admin proxy to print its URL', () => {
    if (child.exitCode !== null) throw new Error(`hypha lab admin-proxy exited: ${out}`);
    return /admin status page: (http:\/\/127\.0\.0\.1:\d+\/admin)/.exec(out)?.[1];
  });
  return {
    url,
    child,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return { code: await exited, out };
    },
  };
}

/** The text of every element matching `selector`, joined. */
async function textOf(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).allTextContents()).join('\n');
}

/** Every secret of the lab, in the encodings a leak could take: key seeds (hex, base64, base64url) and link signatures and statements. */
async function labSecrets(lab: TestLab): Promise<string[]> {
  const files = [...readdirSync(join(lab.dir, 'keys')).filter((f) => f.endsWith('.key')).map((f) => join(lab.dir, 'keys', f)), join(lab.dir, 'gateway', 'gateway.key')];
  const secrets: string[] = [];
  for (const file of files) {
    const seedHex = (JSON.parse(readFileSync(file, 'utf8')) as { seedHex: string }).seedHex;
    assert.match(seedHex, /^[0-9a-f]{64}$/, `${file} holds a seed`);
    const seed = Buffer.from(seedHex, 'hex');
    secrets.push(seedHex, seedHex.toUpperCase(), seed.toString('base64'), seed.toString('base64url'));
  }
  const links = Object.values(await storedLinks(lab));
  assert.ok(links.length >= 3, 'the linked actors have their statements stored');
  for (const l of links) secrets.push(l.signature, l.statement, l.nonce);
  return secrets;
}

test('the admin status page: numbers, timelines, search, refresh, no secrets, admins only, in real Chromium', { skip: LAB_SKIP }, async (t) => {
  const started = Date.now();
  // Escrow off: the scenario's timing (who runs out when) counts every charge from handover, as before escrow existed.
    const lab = await startLab(t, { hour: 2, extra: ['--deposit-hours', '2', '--grace-hours', String(GRACE_HOURS), '--gateway-config', JSON.stringify({ escrow: { windowHours: 0 } })] });
  const { dir, remove } = scratchDir();
  t.after(remove);
  const pages: Array<{ where: string; html: string }> = [];
  const keep = (where: string, html: string): void => void pages.push({ where, html });

  await t.test('an unlinked caller gets 401, on the page and on the JSON views', async () => {
    for (const path of ['/admin', '/admin/search?q=x', '/admin/deployments/x', '/admin/customers/x', '/admin/nodes/x', '/admin/api/overview', '/admin/api/events']) {
      const r = await lab.curl('bob', 'GET', path);
      assert.equal(r.status, 401, `${path} for an unlinked caller`);
      if (path.startsWith('/admin/api/')) assert.equal(errorCode(r), 'not_linked');
      else assert.match(r.text, /not linked/i);
    }
  });

  for (const a of ['admin', 'alice', 'bob']) await link(lab, a);
  const [adminKey, aliceKey, bobKey] = await Promise.all([sshKey(dir, 'admin'), sshKey(dir, 'alice'), sshKey(dir, 'bob')]);

  await t.test('a linked non-admin gets 403, on the page and on the JSON views', async () => {
    const alice = await agentOf(lab, 'alice');
    for (const path of ['/admin', '/admin/search?q=x', '/admin/deployments/x', `/admin/customers/${alice}`, '/admin/nodes/node-farmer1', '/admin/api/overview', `/admin/api/customers/${alice}`, '/admin/api/deployments/x', '/admin/api/events', '/admin/api/agents']) {
      const r = await lab.curl('alice', 'GET', path);
      assert.equal(r.status, 403, `${path} for alice`);
      if (path.startsWith('/admin/api/')) assert.equal(errorCode(r), 'forbidden');
      else {
        assert.match(r.text, /Admins only/);
        assert.doesNotMatch(r.text, /data-stat=/, 'no numbers for a non-admin');
      }
    }
  });

  // The scenario: admin's VM has only its deposit (runs out first, and its grace ends first);
  // bob's has 22 hours (runs out later, still in grace then); alice's has 400 hours.
  const [x, a, b] = await Promise.all([buyVm(lab, 'admin', [adminKey.pub], '0.1'), buyVm(lab, 'alice', [aliceKey.pub], '20'), buyVm(lab, 'bob', [bobKey.pub], '1.1')]);
  const proxy = await startAdminProxy(lab);
  t.after(() => proxy.stop());
  const browser: Browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(e.message));

  await waitFor(
    'admin\'s VM to be deprovisioned while bob\'s is in grace',
    async () => {
      const o = await adminGet<Overview>(lab, '/admin/api/overview');
      if (o.deployments.grace > 1 || (o.deployments.deprovisioned === 1 && o.deployments.grace === 0)) throw new Error(`the scenario lost its timing: ${JSON.stringify(o.deployments)}`);
      return o.deployments.deprovisioned === 1 && o.deployments.grace === 1 ? o : undefined;
    },
    120_000,
    250,
  );
  t.diagnostic(`scenario ready ${Math.round((Date.now() - started) / 1000)} s after the test started`);

  await t.test('in Chromium through the admin proxy: the numbers, grace and out-of-funds entries, the chart', async () => {
    const response = await page.goto(proxy.url);
    assert.equal(response?.status(), 200);
    assert.equal(response?.headers()['cache-control'], 'no-store');
    await page.locator('[data-stat="deployments.grace"]').waitFor();
    // A lab node is up for 300 ms of real time after its last heartbeat: on a loaded host the page
    // can rightly show one down for a moment, so it is read again until both are up.
    await waitFor('both nodes up on the page', async () => {
      if ((await textOf(page, '[data-stat="nodes.up"]')) === '2') return true;
      await page.reload();
      return undefined;
    }, 20_000, 250);
    assert.equal(await textOf(page, '[data-stat="nodes.up"]'), '2');
    assert.equal(await textOf(page, '[data-stat="nodes.down"]'), '0');
    assert.equal(await textOf(page, '[data-stat="agents.connected"]'), '2');
    assert.equal(await textOf(page, '[data-stat="deployments.active"]'), '1');
    assert.equal(await textOf(page, '[data-stat="deployments.grace"]'), '1');
    assert.equal(await textOf(page, '[data-stat="deployments.deprovisioned"]'), '1');
    assert.equal(await textOf(page, '[data-stat="customers.total"]'), '3');
    assert.equal(await textOf(page, '[data-stat="customers.inGrace"]'), '1');
    assert.equal(await textOf(page, '[data-stat="customers.outOfFunds"]'), '1');
    assert.notEqual(await textOf(page, '[data-stat="revenue.total"]'), '0.000000');
    const grace = await textOf(page, '#grace tbody');
    assert.ok(grace.includes(b.deployment.id), 'bob\'s deployment is listed in grace');
    assert.match(await textOf(page, '#grace [data-grace-until]'), /\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ/, 'with the time it will be deprovisioned');
    assert.ok((await textOf(page, '#out-of-funds tbody')).includes(x.deployment.id), 'admin\'s deployment is listed as out of funds');
    const events = await textOf(page, '#recent-events');
    assert.match(events, /deployment\.grace/);
    assert.match(events, /deployment\.deprovisioned/);
    assert.ok((await page.locator('#revenue-chart rect.bar-charged').count()) > 1, 'the chart has bars');
    assert.ok((await page.locator('#revenue tbody tr').count()) > 1, 'and the table the same numbers');
    assert.equal(await textOf(page, '[data-stat="billing.ledger"]'), 'reachable');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'admin-page.png'), fullPage: true });
    assert.ok(existsSync(join(ARTIFACTS, 'admin-page.png')));
    keep('chromium /admin', await page.content());
  });

  await t.test('the search box finds bob by AgentPubKey: his funds ran out, and when', async () => {
    const bob = await agentOf(lab, 'bob');
    await page.fill('#q', bob);
    await Promise.all([page.waitForURL(/\/admin\/customers\//), page.press('#q', 'Enter')]);
    const answer = await textOf(page, '#funds-answer');
    assert.match(answer, /Funds ran out/);
    assert.match(answer, /first at \d{4}-\d\d-\d\d/);
    assert.ok(answer.includes(b.deployment.id));
    assert.match(answer, /in grace until/);
    assert.match(await textOf(page, '[data-field="arrears"]'), /^[1-9]|0\.0*[1-9]/, 'bob is in arrears');
    keep('chromium customer', await page.content());
  });

  await t.test('without JavaScript: the numbers are in the HTML, with a meta refresh; fragments and headers', async () => {
    const r = await lab.exec('admin', 'curl', ['-s', '-S', '-D', '-', `${lab.gw}/admin`]);
    assert.equal(r.code, 0, r.stderr);
    const [head = '', body = ''] = r.stdout.split('\r\n\r\n', 2);
    assert.match(head, /^HTTP\/1\.1 200/);
    assert.match(head, /content-type: text\/html; charset=utf-8/i);
    assert.match(head, /content-security-policy: default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'/i);
    assert.doesNotMatch(head, /unsafe-inline/);
    assert.match(head, /x-content-type-options: nosniff/i);
    assert.match(head, /referrer-policy: no-referrer/i);
    assert.match(head, /cache-control: no-store/i);
    assert.match(body, /<noscript><meta http-equiv="refresh" content="10"><\/noscript>/);
    assert.match(body, /data-stat="nodes\.up">2</);
    assert.match(body, /data-stat="deployments\.active">1</);
    assert.match(body, /data-stat="deployments\.deprovisioned">1</);
    assert.match(body, /data-stat="customers\.total">3</);
    keep('curl /admin', body);
    const fragment = await lab.curl('admin', 'GET', '/admin', undefined, { 'x-hypha-fragment': '1' });
    assert.equal(fragment.status, 200);
    assert.doesNotMatch(fragment.text, /<html|<head|<script/);
    assert.match(fragment.text, /data-stat="nodes\.up">2</);
    for (const path of [`/admin/deployments/${b.deployment.id}`, `/admin/customers/${await agentOf(lab, 'admin')}`, '/admin/nodes/node-farmer1', `/admin/deployments/${a.deployment.id}`]) {
      const p = await lab.curl('admin', 'GET', path);
      assert.equal(p.status, 200, `${path}: ${p.text.slice(0, 200)}`);
      keep(`curl ${path}`, p.text);
    }
  });

  await t.test('the search box finds the deprovisioned deployment, whose page says why it ended', async () => {
    await page.fill('#q', x.deployment.id);
    await Promise.all([page.waitForURL(/\/admin\/deployments\//), page.press('#q', 'Enter')]);
    assert.ok(page.url().endsWith(`/admin/deployments/${encodeURIComponent(x.deployment.id)}`), page.url());
    await page.locator('#outcome').waitFor();
    const why = await textOf(page, '#outcome');
    assert.match(why, /Deprovisioned/);
    assert.match(why, /out_of_funds/);
    assert.match(why, /grace period ended/);
    assert.match(why, /Grace had started at/);
    const lifecycle = await textOf(page, '#lifecycle');
    assert.match(lifecycle, /deployment\.grace/);
    assert.match(lifecycle, /deployment\.deprovisioned/);
    const timeline = await textOf(page, '#timeline');
    for (const step of ['order.created', 'order.paid', 'order.provisioning', 'deployment.active', 'receipt.issued', 'deployment.grace', 'deployment.deprovisioned']) assert.ok(timeline.includes(step), `the timeline has ${step}`);
    assert.ok((await page.locator('#receipts tr[data-receipt-state="arrears"]').count()) > 0, 'unpaid receipts are listed');
    assert.ok((await page.locator('#receipts tr[data-receipt-state="paid"]').count()) > 0, 'paid receipts are listed');
    await page.screenshot({ path: join(ARTIFACTS, 'admin-deployment.png'), fullPage: true });
    keep('chromium deployment', await page.content());
  });

  await t.test('with JavaScript the page refreshes its <main> without reloading, within the CSP', async () => {
    await page.goto(`${proxy.url}/deployments/${encodeURIComponent(a.deployment.id)}`);
    await page.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 42));
    const before = await textOf(page, '[data-field="upSeconds"]');
    await page.waitForSelector('main[data-refreshed]', { timeout: 15_000 });
    assert.equal(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker), 42, 'no full reload');
    await page.waitForFunction(`document.querySelector('[data-field="upSeconds"]')?.textContent !== ${JSON.stringify(before)}`, undefined, { timeout: 15_000 });
    assert.match(await textOf(page, '#refresh-status'), /updated/);
    assert.deepEqual(consoleErrors, [], 'no CSP violations or script errors');
  });

  await t.test('search: an order id redirects to its deployment; an unknown term is a 404 "nothing found"', async () => {
    const found = await lab.exec('admin', 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code} %{redirect_url}', `${lab.gw}/admin/search?q=${encodeURIComponent(x.id)}`]);
    assert.equal(found.stdout, `302 ${lab.gw}/admin/deployments/${encodeURIComponent(x.deployment.id)}`);
    const node = await lab.exec('admin', 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code} %{redirect_url}', `${lab.gw}/admin/search?q=node-farmer2`]);
    assert.equal(node.stdout, `302 ${lab.gw}/admin/nodes/node-farmer2`);
    const none = await lab.curl('admin', 'GET', '/admin/search?q=%3Cscript%3Enothing%3C%2Fscript%3E');
    assert.equal(none.status, 404);
    assert.match(none.text, /Nothing found/);
    assert.ok(none.text.includes('&lt;script&gt;nothing&lt;/script&gt;'), 'the query is shown escaped');
    assert.ok(!none.text.includes('<script>nothing'), 'and never as markup');
  });

  await t.test('no page shows key material, link signatures or statements', async () => {
    const secrets = await labSecrets(lab);
    assert.ok(pages.length >= 8, `pages checked: ${pages.length}`);
    for (const { where, html } of pages) {
      for (const s of secrets) assert.ok(!html.includes(s), `${where} leaks a secret (${s.slice(0, 12)}…)`);
      assert.doesNotMatch(html, /seedHex|secretKey|mnemonic|BEGIN OPENSSH PRIVATE KEY/i, where);
    }
  });

  await t.test('the admin proxy stops cleanly on SIGTERM: its helper exits and its socket is gone', async () => {
    await browser.close();
    const stopped = await proxy.stop();
    assert.equal(stopped.code, 0, stopped.out);
    assert.match(stopped.out, /admin proxy stopped/);
    assert.ok(!existsSync(join(lab.dir, 'admin-proxy')), 'the socket folder is removed');
    const ps = await runCommand('ps', ['-eo', 'args']);
    assert.deepEqual(ps.stdout.split('\n').filter((l) => l.includes('admin-proxy-helper.js') && l.includes(lab.dir)), [], 'no helper left running');
  });
});
