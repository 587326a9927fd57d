// `hypha lab demo` against a fresh lab: the whole story runs, each step prints the command to type and what it showed, and the files stay in the lab folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startLab } from '../helpers/lab.js';

test('hypha lab demo tells a customer\'s whole story, step by step', { skip: process.getuid?.() !== 0 ? 'the lab needs root' : false, timeout: 300_000 }, async (t) => {
  const lab = await startLab(t, { extra: ['--deposit-hours', '3'] });
  const r = await lab.lab('demo');
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  for (let step = 1; step <= 10; step++) assert.match(r.stdout, new RegExp(`^\\[${step}/10\\] `, 'm'), `step ${step}`);
  assert.match(r.stdout, /^ {2}\$ \S*bin\/hypha\.js lab link alice --dir /m, 'each step shows a command that pastes');
  assert.match(r.stdout, /→ order ord_[0-9a-f]+: awaiting_payment/);
  assert.match(r.stdout, /→ Linux /, 'ssh into the VM ran uname');
  assert.match(r.stdout, /→ state grace, paused true/);
  assert.match(r.stdout, /→ FUNDS: 1 VM\(s\) are in grace: pay /);
  assert.match(r.stdout, /→ ssh now fails/);
  assert.match(r.stdout, /left grace and resumed/);
  assert.match(r.stdout, /→ ssh works again: resumed/);
  assert.match(r.stdout, /→ deployment deprovisioned \(endReason cancelled\); ssh command gone/);
  assert.match(r.stdout, /→ order ord_[0-9a-f]+: deprovisioned/);
  assert.match(r.stdout, /→ valid: \d+ receipt\(s\)/);
  assert.ok(existsSync(join(lab.dir, 'demo', 'receipts.json')), 'the receipts are kept in the lab folder');
  assert.ok(existsSync(join(lab.dir, 'demo', 'alice')), 'and the SSH key');
});
