// The customer page in the lab: alice and bob in real headless Chromium through `hypha lab proxy ACTOR` — link, buy, pay, keys, receipts, grace, cancel; no JS; axe; cross-site.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { HYPHA_BIN, REPO_ROOT, scratchDir } from '../helpers/paths.js';
import { hypha } from '../helpers/run.js';
import { startLab, waitFor, type TestLab, LAB_SKIP } from '../helpers/lab.js';
import { agentOf, fund, link, ssh, sshKey } from '../helpers/scenario.js';
import { serveAttack } from '../helpers/attacker-page.js';
import { leaseLines } from '../helpers/failover-lab.js';

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');
const AXE = join(REPO_ROOT, 'node_modules', 'axe-core', 'axe.min.js');

/** Runs `hypha lab proxy ACTOR` and waits for the page URL it prints; stopped when the test ends. */
async function startProxy(t: { after(fn: () => unknown): void }, lab: TestLab, actor: string): Promise<string> {
  const child = spawn(process.execPath, [HYPHA_BIN, 'lab', 'proxy', actor, '--dir', lab.dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.after(async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  });
  return waitFor(`the ${actor} proxy to print its URL`, () => {
    if (child.exitCode !== null) throw new Error(`hypha lab proxy ${actor} exited: ${out}`);
    return new RegExp(`${actor}'s page: (http://127\\.0\\.0\\.1:\\d+/)`).exec(out)?.[1];
  });
}

/** Runs `act` (a click or a key press that submits a form) and checks where the browser lands; the page's message if it is elsewhere. */
async function submit(page: Page, act: () => Promise<unknown>, where: RegExp): Promise<void> {
  try {
    await Promise.all([page.waitForNavigation(), act()]);
  } catch (err) {
    // Say why the browser did not go: a field its own validation refused, or where it stayed.
    const invalid = await page.evaluate("Array.from(document.querySelectorAll(':invalid')).map((e) => e.id || e.tagName).join(', ')").catch(() => '?');
    throw new Error(`no navigation from ${page.url()} (fields the browser finds invalid: ${String(invalid) || 'none'}): ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!where.test(page.url())) throw new Error(`landed on ${page.url()}: ${await page.locator('main').innerText()}`);
}

async function text(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).allTextContents()).join('\n');
}

async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `customer-page-${name}.png`), fullPage: true });
}

/**
 * axe-core's serious and critical violations on the page at `url`, opened in its own context that
 * lets the test inject axe (the page's CSP rightly refuses any script but its own).
 */
async function axeViolations(browser: Browser, url: string): Promise<string[]> {
  const context = await browser.newContext({ bypassCSP: true });
  const page = await context.newPage();
  await page.goto(url);
  await page.addScriptTag({ content: readFileSync(AXE, 'utf8') });
  const found = await page.evaluate<Array<{ id: string; impact: string | null; count: number }>>('axe.run().then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, count: v.nodes.length })))');
  await context.close();
  return found.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}, ${v.count})`);
}

/**
 * Runs one step; when it fails, the message also says what the gateway's lease did meanwhile (from its
 * log). CI's PostgreSQL pass once got the lab proxy's own 502 ("write EPIPE") for bob's form post. A
 * gateway that loses its lease (its database or host stalled past the ttl) stops its server and
 * refuses connections until its standby server listens, which the proxy shows as that 502; a step
 * that fails with a role change beside it was the lease, one without was something else.
 */
async function withGatewayRoles(lab: TestLab, run: () => Promise<void>): Promise<void> {
  const since = new Date().toISOString();
  try {
    await run();
  } catch (err) {
    // A new error: the runner prints an assertion's original message, not one added to it.
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(`${message}\nthe gateway's lease during this step (from its log; none: it stayed active throughout):\n${leaseLines(lab, 'gateway', since)}`, { cause: err });
  }
}

interface Deployment {
  id: string;
  state: string;
  myceliumIp: string;
}

async function deploymentsOf(lab: TestLab, actor: string): Promise<Deployment[]> {
  const r = await lab.curl(actor, 'GET', '/v1/deployments');
  assert.equal(r.status, 200, r.text);
  return (r.json as { deployments: Deployment[] }).deployments;
}

async function orderCount(lab: TestLab, actor: string): Promise<number> {
  const r = await lab.curl(actor, 'GET', '/v1/orders');
  assert.equal(r.status, 200, r.text);
  return (r.json as { orders: unknown[] }).orders.length;
}

test('the customer page: link, buy, pay, keys, receipts, low funds, grace, cancel, in real Chromium through hypha lab proxy', { skip: LAB_SKIP }, async (t) => {
  // One billed hour is one real second; a 2-hour deposit; 2 minutes of grace, time enough to read and cancel.
  const lab = await startLab(t, { hour: 1, extra: ['--deposit-hours', '2', '--grace-hours', '120'] });
  const { dir, remove } = scratchDir();
  t.after(remove);
  const [aliceKey, aliceKey2, bobKey] = await Promise.all([sshKey(dir, 'alice'), sshKey(dir, 'alice2'), sshKey(dir, 'bob')]);
  await link(lab, 'admin');
  const aliceUrl = await startProxy(t, lab, 'alice');
  const bobUrl = await startProxy(t, lab, 'bob');
  const browser: Browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const consoleErrors: string[] = [];
  page.on('console', (m) => void (m.type() === 'error' && consoleErrors.push(m.text())));
  page.on('pageerror', (e) => void consoleErrors.push(e.message));
  // A console error of a failed load does not say which request failed: every answer >= 400 (and every request that got none) is kept with its URL, for the message.
  const failedAnswers: string[] = [];
  page.on('response', (r) => {
    if (r.status() < 400) return;
    const at = new Date().toISOString();
    void r.text().then(
      (body) => failedAnswers.push(`${r.request().method()} ${r.url()} -> ${r.status()} at ${at}: ${body.slice(0, 300)}`),
      () => failedAnswers.push(`${r.request().method()} ${r.url()} -> ${r.status()} at ${at}`),
    );
  });
  page.on('requestfailed', (r) => void failedAnswers.push(`${r.method()} ${r.url()} failed at ${new Date().toISOString()}: ${r.failure()?.errorText ?? '?'}`));
  let aliceDeployment = '';
  const step = (name: string, run: () => Promise<void>): Promise<void> => t.test(name, () => withGatewayRoles(lab, run));

  await step('curl keeps the text answer; an unlinked alice sees who she is and the exact link command', async () => {
    const plain = await lab.curl('alice', 'GET', '/');
    assert.equal(plain.status, 200);
    assert.match(plain.text, /^hypha gateway /, 'curl gets text');
    assert.doesNotMatch(plain.text, /<html/i);
    const response = await page.goto(aliceUrl);
    assert.equal(response?.status(), 200);
    assert.match(response?.headers()['content-type'] ?? '', /text\/html/);
    assert.match(response?.headers()['content-security-policy'] ?? '', /script-src 'sha256-/);
    assert.equal(await text(page, '#you-address'), lab.actor('alice').address);
    assert.equal(await text(page, '#you-agent'), 'nothing yet');
    assert.match(await text(page, '#link-command'), new RegExp(`^\\./bin/hypha\\.js link --gateway ${lab.gw.replace(/[[\]]/g, '\\$&')} --key YOUR\\.key$`));
    assert.equal(await page.locator('#buy-form').count(), 0, 'no buy form before linking');
    assert.deepEqual(await axeViolations(browser, aliceUrl), [], 'the unlinked page passes axe');
    await shot(page, '1-unlinked');
  });

  await link(lab, 'alice');
  await link(lab, 'bob');
  const alice = await agentOf(lab, 'alice');

  await step('linked, alice buys with the keyboard only; the order waits for payment', async () => {
    await page.goto(aliceUrl);
    assert.equal(await text(page, '#you-agent'), alice);
    assert.match(await text(page, 'table[aria-label="offers"]'), /small[\s\S]*0\.050000 SPORE\/h[\s\S]*0\.100000 SPORE \(2 h\)/, 'offers with price and deposit');
    assert.deepEqual(await axeViolations(browser, aliceUrl), [], 'the linked page passes axe');
    // Keyboard only: Tab to the offer, choose with the arrows, type the name and key, Enter on the button.
    for (let i = 0; i < 40 && !(await page.evaluate("document.activeElement?.id === 'buy-offer'")); i++) await page.keyboard.press('Tab');
    assert.equal(await page.evaluate('document.activeElement?.id'), 'buy-offer', 'Tab reaches the buy form');
    await page.keyboard.press('Tab');
    await page.keyboard.type('web');
    await page.keyboard.press('Tab');
    await page.keyboard.type(aliceKey.pub);
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate('document.activeElement?.id'), 'buy-submit');
    await submit(page, () => page.keyboard.press('Enter'), /done=ordered/);
    assert.match(await text(page, '#notice'), /Order placed/);
    assert.match(await text(page, 'table[aria-label="orders"]'), /web[\s\S]*awaiting payment[\s\S]*Pay 0\.100000 SPORE/);
    await shot(page, '2-awaiting-payment');
  });

  await step('paid through the lab funding, the order becomes active in place, with its ssh command', async () => {
    // 4 SPORE at 0.05/h: 80 lab hours (80 s) of runway, under the 24-hour warning after about 56 s.
    await fund(lab, alice, '4');
    const cmd = await waitFor('the ssh command to appear on the page without a reload', async () => {
      const t2 = await text(page, '[data-order-ssh]');
      return t2 === '' ? undefined : t2;
    }, 60_000, 250);
    const [d] = await deploymentsOf(lab, 'alice');
    assert.ok(d);
    aliceDeployment = d.id;
    assert.equal(cmd, `ssh root@${d.myceliumIp}`);
    assert.ok(Number(await page.locator('#live').getAttribute('data-refreshed')) > 0, 'the live part was refreshed by the script');
    assert.equal(await page.locator(`[data-ssh="${d.id}"]`).count(), 1);
    await shot(page, '3-active');
    const r = await ssh(lab, 'alice', aliceKey.path, d.myceliumIp, 'echo in');
    assert.equal(r.stdout.trim(), 'in', r.stderr);
  });

  await step('a cross-site page in the same browser cannot buy, cancel or change keys', async () => {
    const origin = aliceUrl.replace(/\/$/, '');
    const before = await orderCount(lab, 'alice');
    const evilUrl = await serveAttack(t, {
      origin,
      posts: [
        { path: '/page/orders', body: `offer=small&sshKey=${encodeURIComponent(bobKey.pub)}` },
        { path: `/page/deployments/${aliceDeployment}/keys`, body: `confirm=yes&sshKeys=${encodeURIComponent(bobKey.pub)}` },
      ],
      form: { action: `/page/deployments/${aliceDeployment}/cancel`, fields: { confirm: 'yes' } },
    });
    const attacker = await browser.newPage();
    const seen: Array<{ url: string; status: number }> = [];
    attacker.on('response', (r) => void seen.push({ url: r.url(), status: r.status() }));
    await attacker.goto(evilUrl);
    await attacker.waitForFunction("document.title.startsWith('done')", undefined, { timeout: 20_000 });
    assert.equal(await attacker.title(), 'done sent,sent', 'the browser sent every request');
    assert.equal(seen.find((s) => s.url.endsWith('/cancel'))?.status, 403, `the cancel form was refused: ${JSON.stringify(seen)}`);
    await attacker.close();
    assert.equal(await orderCount(lab, 'alice'), before, 'no order was placed');
    const [d] = await deploymentsOf(lab, 'alice');
    assert.notEqual(d?.state, 'deprovisioned', 'the VM was not cancelled');
    const r = await ssh(lab, 'alice', aliceKey.path, d?.myceliumIp ?? '', 'echo still');
    assert.equal(r.stdout.trim(), 'still', `alice's key still works: ${r.stderr}`);
  });

  await step('alice replaces her key, with a confirmation step; the new key works and the old does not', async () => {
    await page.goto(aliceUrl);
    await submit(page, () => page.click(`a[href="/page/deployments/${aliceDeployment}/keys"]`), /\/keys$/);
    await page.fill('#keys-new', aliceKey2.pub);
    await submit(page, () => page.click('#keys-next'), /\/keys$/);
    assert.match(await text(page, 'h1'), /Replace the keys/);
    assert.match(await text(page, 'ul'), /ssh-ed25519 .* alice2/);
    const [d0] = await deploymentsOf(lab, 'alice');
    const still = await ssh(lab, 'alice', aliceKey.path, d0?.myceliumIp ?? '', 'echo old');
    assert.equal(still.stdout.trim(), 'old', 'nothing changed before the confirmation');
    await submit(page, () => page.click('#keys-confirm'), /done=keys/);
    assert.match(await text(page, '#notice'), /SSH keys replaced/);
    await shot(page, '4-keys-replaced');
    const ok = await ssh(lab, 'alice', aliceKey2.path, d0?.myceliumIp ?? '', 'echo new');
    assert.equal(ok.stdout.trim(), 'new', ok.stderr);
    const old = await ssh(lab, 'alice', aliceKey.path, d0?.myceliumIp ?? '', 'echo old');
    assert.notEqual(old.code, 0, 'the old key is refused');
  });

  await step('receipts: a table, a JSON download that hypha receipt verify accepts, and the command', async () => {
    await page.goto(`${aliceUrl}page/deployments/${aliceDeployment}/receipts`);
    await waitFor('a receipt', async () => ((await page.reload(), await page.locator('table[aria-label="receipts"] tbody tr').count()) > 0 ? true : undefined), 30_000, 500);
    const cmd = await text(page, '#verify-command');
    assert.match(cmd, new RegExp(`^\\./bin/hypha\\.js receipt verify receipts-${aliceDeployment}\\.json --gateway uhCAk`));
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#receipts-download')]);
    const file = join(dir, `receipts-${aliceDeployment}.json`);
    await download.saveAs(file);
    const gateway = /--gateway (\S+)/.exec(cmd)?.[1] ?? '';
    const verified = await hypha(['receipt', 'verify', file, '--gateway', gateway]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    const handedOver = page.locator('#history tr[data-event="deployment.active"] td.ev-good');
    assert.equal(await handedOver.count(), 1, 'the history shows the hand-over, green as the catalogue says');
    assert.ok((await page.locator('#history tr[data-event="order.paid"]').count()) > 0, 'and the payment');
    assert.equal(await page.locator('#history tr[data-event^="agent."], #history tr[data-event^="receipt."]').count(), 0, 'but nothing of the farmer\'s evidence');
    await shot(page, '5-receipts');
  });

  await step('bob never sees alice\'s things', async () => {
    const bobPage = await browser.newPage();
    await bobPage.goto(bobUrl);
    assert.equal(await text(bobPage, '#you-address'), lab.actor('bob').address);
    const content = await bobPage.content();
    assert.ok(!content.includes(aliceDeployment), 'alice\'s deployment is not on bob\'s page');
    assert.ok(!content.includes(alice), 'nor her identity');
    for (const path of [`page/deployments/${aliceDeployment}/receipts`, `page/deployments/${aliceDeployment}/cancel`, `page/deployments/${aliceDeployment}/keys`]) {
      const r = await bobPage.goto(bobUrl + path);
      assert.equal(r?.status(), 404, path);
      assert.match(await text(bobPage, '#error-message'), new RegExp(`deployment ${aliceDeployment}`), `${path}: the page's own message, not a blank page`);
    }
    const json = await bobPage.goto(`${bobUrl}page/deployments/${aliceDeployment}/receipts.json`);
    assert.equal(json?.status(), 404, 'nor her receipts download');
    await bobPage.close();
  });

  await step('funds run low, then out: the warning, then the grace countdown with the exact amount', async () => {
    await page.goto(aliceUrl);
    await waitFor('the low-funds warning', async () => ((await page.locator('#low-funds').count()) > 0 ? true : undefined), 100_000, 500);
    await shot(page, '6-low-funds');
    // The in-place refresh was checked above; here the page is reloaded, and its refresh status is in the diagnostics.
    t.diagnostic(`refresh status before grace: ${await text(page, '#refresh-status')}`);
    await waitFor('the page to show grace', async () => {
      await page.reload();
      return (await page.locator(`[data-grace="${aliceDeployment}"]`).count()) > 0 ? true : undefined;
    }, 120_000, 1000);
    // Arrears grow every billed period (a second here): the page's amount must be what the API said just before or just after it.
    const payOf = async (): Promise<string | undefined> => ((await lab.curl('alice', 'GET', '/v1/balance')).json as { toPay?: { pay: string } }).toPay?.pay;
    await waitFor('the page to name the amount the API does', async () => {
      const before = await payOf();
      await page.reload();
      const shown = await text(page, '#to-pay');
      const after = await payOf();
      assert.ok(before !== undefined && after !== undefined, 'the API says what to pay');
      return [`${before} SPORE`, `${after} SPORE`].includes(shown) ? true : undefined;
    }, 20_000, 200);
    assert.match(await text(page, `[data-grace="${aliceDeployment}"]`), /deprovisioned at .* unless you pay \d+\.\d{6} SPORE/);
    await shot(page, '7-grace');
  });

  await step('alice cancels, after a confirmation step', async () => {
    await submit(page, () => page.click(`a[href="/page/deployments/${aliceDeployment}/cancel"]`), /\/cancel$/);
    assert.match(await text(page, 'h1'), /Cancel web\?/);
    assert.notEqual((await deploymentsOf(lab, 'alice'))[0]?.state, 'deprovisioned', 'nothing happened before the confirmation');
    await shot(page, '8-cancel-confirm');
    await submit(page, () => page.click('#cancel-confirm'), /done=cancelled/);
    assert.match(await text(page, '#notice'), /Cancelled/);
    assert.equal((await deploymentsOf(lab, 'alice'))[0]?.state, 'deprovisioned');
    await shot(page, '9-cancelled');
    t.diagnostic(`alice's page: answers >= 400 and failed requests: ${failedAnswers.join('; ') || 'none'}`);
    assert.deepEqual(consoleErrors, [], `no console errors (answers >= 400 and failed requests: ${failedAnswers.join('; ') || 'none'})`);
  });

  await step('without JavaScript, bob buys and cancels through plain forms; errors are the page\'s own', async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const p = await context.newPage();
    await p.goto(bobUrl);
    // A bad key: the API's message and hint as the page's own.
    await p.fill('#buy-key', 'not a key');
    await submit(p, () => p.click('#buy-submit'), /\/page\/orders$/);
    assert.match(await text(p, 'h1'), /Please check the form/, `the page at ${p.url()} says: ${(await p.locator('body').innerText()).slice(0, 600)}`);
    assert.match(await text(p, '#error-message'), /sshKeys/);
    await shot(p, '10-nojs-error');
    await p.goto(bobUrl);
    await p.fill('#buy-name', 'nojs');
    await p.fill('#buy-key', bobKey.pub);
    await submit(p, () => p.click('#buy-submit'), /done=ordered/);
    await fund(lab, await agentOf(lab, 'bob'), '10');
    // Wait for the cancel link itself, not just the order's ssh line. (CI once screenshotted the order
    // active while the page said "No deployments yet.": the page read its two lists on either side of
    // an await; customer-live-view.ts now reads them together, customer-live-view.test.ts.)
    const [d] = await waitFor('bob\'s VM to be active with its cancel link on the page', async () => {
      await p.reload();
      const listed = await deploymentsOf(lab, 'bob');
      const first = listed[0];
      if ((await p.locator('[data-order-ssh]').count()) === 0 || !first) return undefined;
      return (await p.locator(`a[href="/page/deployments/${first.id}/cancel"]`).count()) > 0 ? listed : undefined;
    }, 60_000, 1000);
    assert.ok(d);
    await shot(p, '11-nojs-active');
    await submit(p, () => p.click(`a[href="/page/deployments/${d.id}/cancel"]`), /\/cancel$/);
    await submit(p, () => p.click('#cancel-confirm'), /done=cancelled/);
    assert.equal((await deploymentsOf(lab, 'bob'))[0]?.state, 'deprovisioned');
    await context.close();
  });
});
