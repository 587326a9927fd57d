// `hypha id …` as scripts use it: output shapes, exit codes, and one-line reasons.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { fromBase64, fromHex, utf8, verify } from '../../src/identity/index.js';
import { readVectors, scratchDir } from '../helpers/paths.js';
import { hypha } from '../helpers/run.js';

test('id new, show, sign: a key file, the same identity twice, and a signature that verifies', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const key = join(dir, 'alice.key');
  const created = await hypha(['id', 'new', '--out', key]);
  assert.equal(created.code, 0, created.stderr);
  const who = JSON.parse(created.stdout) as { agent: string; publicKeyHex: string };
  assert.match(who.agent, /^uhCAk/);
  assert.equal(statSync(key).mode & 0o777, 0o600);
  const shown = await hypha(['id', 'show', '--key', key]);
  assert.deepEqual(JSON.parse(shown.stdout), who);
  const signed = await hypha(['id', 'sign', '--key', key], { input: 'hypha/test/v1\nnonce: x\n' });
  assert.equal(signed.code, 0, signed.stderr);
  const sig = fromBase64('sig', signed.stdout.trim(), 64);
  assert.equal(verify(sig, utf8('hypha/test/v1\nnonce: x\n'), fromHex('pk', who.publicKeyHex, 32)), true);
  const viaField = await hypha(['id', 'sign', '--key', key, '--field', 'statement'], { input: JSON.stringify({ statement: 'hypha/test/v1\nnonce: x\n' }) });
  assert.equal(viaField.stdout, signed.stdout);
  // A link statement is signed only for this machine's own /64; this one names none at all.
  for (const args of [[], ['--field', 'statement']]) {
    const statement = 'hypha/link/v1\nnonce: x\n';
    const link = await hypha(['id', 'sign', '--key', key, ...args], { input: args.length ? JSON.stringify({ statement }) : statement });
    assert.equal(link.code, 2);
    assert.equal(link.stdout, '');
    assert.match(link.stderr, /^hypha id: refusing to sign this link statement: .*hypha link --gateway URL --key FILE/);
    assert.equal(link.stderr.trim().split('\n').length, 1);
  }
  const again = await hypha(['id', 'new', '--out', key]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /already exists/);
});

test('id agent-key, decode and mycelium-address give the known answers', async () => {
  const { valid } = readVectors<{ valid: Array<{ agent: string; publicKeyHex: string }> }>('agent-pub-key.json');
  const { keys } = readVectors<{ keys: Array<{ x25519PublicKeyHex: string; address: string }> }>('mycelium-address.json');
  const v = valid[0]!;
  const k = keys[0]!;
  assert.equal((await hypha(['id', 'agent-key', v.publicKeyHex])).stdout.trim(), v.agent);
  assert.equal((await hypha(['id', 'decode', v.agent])).stdout.trim(), v.publicKeyHex);
  assert.equal((await hypha(['id', 'mycelium-address', k.x25519PublicKeyHex])).stdout.trim(), k.address);
});

test('bad input exits 2 with one line on stderr', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const cases: Array<[string[], RegExp]> = [
    [['id', 'decode', 'uhCAk0iWcAxNXcgZ7-URnYkTYOBUrgmwmXdQ7rkAzWsVLJz4bd-pb'], /location bytes/],
    [['id', 'decode', 'nope'], /AgentPubKey/],
    [['id', 'agent-key', 'abcd'], /32 bytes/],
    [['id', 'mycelium-address', 'xyz'], /hex/],
    [['id', 'show', '--key', join(dir, 'missing')], /does not exist/],
    [['id', 'new'], /--out is required/],
    [['id', 'frobnicate'], /unknown command/],
    [['id', 'show', '--bogus'], /bogus/],
  ];
  for (const [args, reason] of cases) {
    const r = await hypha(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, reason);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  }
});

test('--help prints usage and exits 0', async () => {
  const r = await hypha(['id', '--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /hypha id new --out FILE/);
});
