// Small promises of the `hypha` command: its version, a refused gateway address writes nothing, and receipt verify on answers that hold no receipts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HYPHA_BIN, REPO_ROOT, scratchDir } from '../helpers/paths.js';
import { hypha, runCommand } from '../helpers/run.js';

test('hypha --version prints the version of the installed package', async () => {
  const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  const r = await hypha(['--version']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `hypha ${version}\n`);
});

test('hypha gateway --listen with an address this host does not have refuses it and writes nothing (no data/, no key)', async (t) => {
  const { dir, remove } = scratchDir('hypha-gw-refuse-');
  t.after(remove);
  // 5a1:… is in 400::/7 but on no interface of this host.
  const r = await runCommand(process.execPath, [HYPHA_BIN, 'gateway', '--listen', '5a1:1:2:3::1'], { cwd: dir, timeoutMs: 30_000 });
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /5a1:1:2:3::1 is not an address of this host/);
  assert.equal(existsSync(join(dir, 'data')), false, `nothing written: ${readdirSync(dir).join(', ')}`);
});

const notReceipts: Array<{ name: string; body: string; says: RegExp }> = [
  { name: 'an error answer', body: '{"error": {"code": "not_linked", "message": "this /64 is not linked", "hint": "link it first"}}', says: /^not receipts: - holds an error answer from the gateway \(not_linked: this \/64 is not linked\); nothing to verify$/m },
  { name: 'an answer with no receipts', body: '{"receipts": []}', says: /^no receipts in -: nothing to verify/m },
  { name: 'an empty chain', body: '[]', says: /^no receipts in -: nothing to verify/m },
];

for (const row of notReceipts) {
  test(`hypha receipt verify on ${row.name} says so and exits 1`, async () => {
    const r = await hypha(['receipt', 'verify', '-'], { input: row.body });
    assert.equal(r.code, 1);
    assert.match(r.stderr, row.says);
    assert.equal(r.stdout, '');
  });
}
