// The README's walkthrough, run as written: its ```sh walkthrough blocks, in order, in one bash, against a fresh lab.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/paths.js';
import { runCommand } from '../helpers/run.js';
import { LAB_SKIP, labLogTails, startLab } from '../helpers/lab.js';

/** The code of every fenced block whose info string is `sh walkthrough`, in order. */
export function walkthroughBlocks(markdown: string): string[] {
  const blocks: string[] = [];
  const fence = /^```sh walkthrough\n([\s\S]*?)^```$/gm;
  for (let m = fence.exec(markdown); m !== null; m = fence.exec(markdown)) blocks.push(m[1] as string);
  return blocks;
}

/** What each block must print (in the order of the blocks), beyond exiting 0. */
const EXPECTED: RegExp[] = [
  /This \/64 is not linked to a Unyt identity yet/,
  /"linked":true/,
  /"state":"awaiting_payment"/,
  /order ord_[0-9a-f]+ is active: deployment dep_[0-9a-f]+ at [0-9a-f:]+/,
  /^Linux /m,
  /"amount":"0\.0[0-9]{5}"[\s\S]*"lowFunds":/,
  /FUNDS: 1 VM\(s\) are in grace: pay [0-9.]+ SPORE[\s\S]*"pay":"[0-9.]+"/,
  /left grace and resumed[\s\S]*^back up$/m,
  /"state":"deprovisioned","endReason":"cancelled"[\s\S]*^valid: \d+ receipt\(s\)$/m,
];

test('the README has the walkthrough blocks this test expects', () => {
  const blocks = walkthroughBlocks(readFileSync(join(REPO_ROOT, 'README.md'), 'utf8'));
  assert.equal(blocks.length, EXPECTED.length, 'a block was added or removed: update EXPECTED with what it must print');
});

test('the README walkthrough runs from top to bottom in a fresh lab', { skip: LAB_SKIP, timeout: 600_000 }, async (t) => {
  // A shorter deposit than the README's 24 lab hours, so the funds run out in seconds; the blocks are the same.
  const lab = await startLab(t, { extra: ['--deposit-hours', '4'] });
  const blocks = walkthroughBlocks(readFileSync(join(REPO_ROOT, 'README.md'), 'utf8'));
  const script = ['set -euo pipefail', `cd ${JSON.stringify(REPO_ROOT)}`, ...blocks.flatMap((b, i) => [`echo "::block ${i} start"`, b, `echo "::block ${i} done"`])].join('\n');
  const r = await runCommand('bash', ['-c', script], { env: { ...process.env, HYPHA_LAB_DIR: lab.dir }, timeoutMs: 540_000 });
  const done = [...r.stdout.matchAll(/^::block (\d+) done$/gm)].length;
  if (r.code !== 0) assert.fail(`block ${done} failed (exit ${r.code}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}\n${labLogTails(lab.dir)}`);
  assert.equal(done, blocks.length);
  for (let i = 0; i < blocks.length; i++) {
    const output = r.stdout.split(`::block ${i} start\n`)[1]?.split(`::block ${i} done`)[0] ?? '';
    assert.match(output, EXPECTED[i] as RegExp, `block ${i} printed:\n${output}`);
  }
});
