// `hypha lab down` stops everything the lab started (a foreground `lab up`, admin proxies, every process in its namespaces); `--keep` reuses identities.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { listNamespaces } from '../../src/lab/netns.js';
import { readLabState } from '../../src/lab/lab-state.js';
import { HYPHA_BIN, scratchDir } from '../helpers/paths.js';
import { hypha, runCommand } from '../helpers/run.js';
import { LAB_SKIP, waitFor } from '../helpers/lab.js';

/** A `hypha …` process this test started, with what it printed so far and its exit. */
interface Running {
  readonly child: ChildProcessWithoutNullStreams;
  output(): string;
  readonly exited: Promise<number | null>;
}

function start(args: string[]): Running {
  const child = spawn(process.execPath, [HYPHA_BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/** Processes whose command line mentions `dir` (every process of a lab names a path in its folder), from /proc. */
function processesMentioning(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let args: string;
    try {
      args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
    } catch {
      continue;
    }
    if (args.includes(dir)) found.push(`${entry}: ${args}`);
  }
  return found;
}

/** Opens `hypha lab admin-proxy` and answers it once it prints its URL; the URL answers before the lab goes down. */
async function openProxy(dir: string): Promise<Running & { url: string }> {
  const proxy = start(['lab', 'admin-proxy', '--dir', dir]);
  const url = await waitFor('the admin proxy URL', () => /admin status page: (http:\/\/127\.0\.0\.1:\d+\/admin)/.exec(proxy.output())?.[1], 30_000);
  const before = await runCommand('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', url]);
  assert.match(before.stdout, /^\d{3}$/, `the proxy answers before lab down: ${before.stderr}`);
  assert.notEqual(before.stdout, '000');
  return { ...proxy, url };
}

async function assertNothingLeft(dir: string, name: string, proxyUrl: string): Promise<void> {
  assert.deepEqual(processesMentioning(dir), [], 'no process of the lab is left');
  assert.deepEqual((await listNamespaces()).filter((ns) => ns.startsWith(`hl-${name}-`)), [], 'its namespaces are gone');
  const after = await runCommand('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', proxyUrl]);
  assert.equal(after.stdout, '000', 'nothing answers on the proxy port any more');
  assert.notEqual(after.code, 0);
}

test('lab down from another shell stops a foreground lab up and its admin proxy; nothing of the lab is left', { skip: LAB_SKIP }, async (t) => {
  const { dir, remove } = scratchDir('hypha-lab-');
  const name = `d${randomBytes(3).toString('hex')}`;
  const up = start(['lab', 'up', '--dir', dir, '--name', name]);
  t.after(async () => {
    up.child.kill('SIGKILL');
    await hypha(['lab', 'down', '--dir', dir]);
    remove();
  });
  await waitFor('the lab to be up', () => (up.output().includes('runs until you press Ctrl-C') ? true : undefined), 90_000);
  assert.match(up.output(), /makes new keys and Mycelium addresses/, 'lab up says every lab has new identities');
  assert.equal(readLabState(dir)?.supervisorPid, up.child.pid, 'the foreground lab up is recorded in the state');
  const proxy = await openProxy(dir);
  t.after(() => proxy.child.kill('SIGKILL'));
  assert.deepEqual(readLabState(dir)?.proxyPids, [proxy.child.pid], 'the proxy is recorded in the state');

  const down = await hypha(['lab', 'down', '--dir', dir], { timeoutMs: 60_000 });
  assert.equal(down.code, 0, down.stderr);
  assert.equal(await up.exited, 0, 'the foreground lab up exits');
  assert.match(up.output(), /the lab was taken down/);
  assert.ok(!up.output().endsWith('runs until you press Ctrl-C (or run `hypha lab down`).\n'));
  assert.equal(await proxy.exited, 0, 'the admin proxy exits');
  await assertNothingLeft(dir, name, proxy.url);
});

test('lab down stops a detached lab and its admin proxy; lab up --keep brings back the same keys and addresses', { skip: LAB_SKIP }, async (t) => {
  const { dir, remove } = scratchDir('hypha-lab-');
  const name = `k${randomBytes(3).toString('hex')}`;
  t.after(async () => {
    await hypha(['lab', 'down', '--dir', dir]);
    remove();
  });
  const first = await hypha(['lab', 'up', '--detach', '--dir', dir, '--name', name], { timeoutMs: 120_000 });
  assert.equal(first.code, 0, first.stderr);
  const before = readLabState(dir);
  assert.ok(before);
  const proxy = await openProxy(dir);
  t.after(() => proxy.child.kill('SIGKILL'));
  assert.equal((await hypha(['lab', 'down', '--dir', dir], { timeoutMs: 60_000 })).code, 0);
  assert.equal(await proxy.exited, 0);
  await assertNothingLeft(dir, name, proxy.url);

  const kept = await hypha(['lab', 'up', '--detach', '--keep', '--dir', dir, '--name', name], { timeoutMs: 120_000 });
  assert.equal(kept.code, 0, kept.stderr);
  assert.match(kept.stdout, /Reusing the last lab's keys and Mycelium addresses/);
  const after = readLabState(dir);
  assert.ok(after);
  const identities = (s: typeof before) => s.actors.map((a) => [a.name, a.address, readFileSync(a.key, 'utf8')]);
  assert.deepEqual(identities(after), identities(before), 'the same addresses and key files');
  assert.equal(after.gateway.agent, before.gateway.agent);
  assert.equal((await hypha(['lab', 'down', '--dir', dir], { timeoutMs: 60_000 })).code, 0);

  const fresh = await hypha(['lab', 'up', '--detach', '--dir', dir, '--name', name], { timeoutMs: 120_000 });
  assert.equal(fresh.code, 0, fresh.stderr);
  const renewed = readLabState(dir);
  assert.notDeepEqual(renewed?.actors.map((a) => a.address), before.actors.map((a) => a.address), 'without --keep every address is new');
});
