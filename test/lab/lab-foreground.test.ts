// `hypha lab up` in the foreground (what `npm start` runs): it stays up until Ctrl-C, then tears the lab down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { listNamespaces } from '../../src/lab/netns.js';
import { HYPHA_BIN, scratchDir } from '../helpers/paths.js';
import { waitFor, LAB_SKIP } from '../helpers/lab.js';

test('the foreground lab stays up until SIGINT, then removes every namespace and exits 0', { skip: LAB_SKIP }, async (t) => {
  const { dir, remove } = scratchDir('hypha-lab-');
  t.after(remove);
  const name = `f${randomBytes(3).toString('hex')}`;
  const child = spawn(process.execPath, [HYPHA_BIN, 'lab', 'up', '--dir', dir, '--name', name], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(() => {
    child.kill('SIGKILL');
  });
  await waitFor('the lab to be up', () => (out.includes('runs until you press Ctrl-C') ? true : undefined), 60_000);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(child.exitCode, null, 'still running after it said so');
  assert.ok((await listNamespaces()).some((ns) => ns.startsWith(`hl-${name}-`)));
  child.kill('SIGINT');
  assert.equal(await exited, 0);
  assert.match(out, /lab is down/);
  assert.deepEqual((await listNamespaces()).filter((ns) => ns.startsWith(`hl-${name}-`)), []);
});
