// Key files on disk: mode 0600, refusal when others can read, corruption, and the atomic write.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KeyFileError, loadKeyFile, newIdentity, saveKeyFile } from '../../src/identity/index.js';
import { scratchDir } from '../helpers/paths.js';

test('saved with mode 0600, loaded back equal, no temporary file left', (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'alice.key');
  const alice = newIdentity();
  saveKeyFile(path, alice);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  const loaded = loadKeyFile(path);
  assert.equal(loaded.agent, alice.agent);
  assert.deepEqual(loaded.secretKey, alice.secretKey);
  assert.deepEqual(readdirSync(dir), ['alice.key']);
});

test('refuses to overwrite unless asked', (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'k');
  saveKeyFile(path, newIdentity());
  assert.throws(() => saveKeyFile(path, newIdentity()), (e: unknown) => e instanceof KeyFileError && e.problem === 'exists');
  const other = newIdentity();
  saveKeyFile(path, other, true);
  assert.equal(loadKeyFile(path).agent, other.agent);
});

test('a key file others can read is refused, with the chmod to run', (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'k');
  saveKeyFile(path, newIdentity());
  for (const mode of [0o640, 0o604, 0o644, 0o660]) {
    chmodSync(path, mode);
    assert.throws(
      () => loadKeyFile(path),
      (e: unknown) => e instanceof KeyFileError && e.problem === 'permissions' && /chmod 600/.test(e.message),
    );
  }
});

test('missing, non-JSON, wrong shape, short seed and mismatched public key are refused', (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  assert.throws(() => loadKeyFile(join(dir, 'none')), (e: unknown) => e instanceof KeyFileError && e.problem === 'not_found');
  const write = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text, { mode: 0o600 });
    return p;
  };
  const good = join(dir, 'good');
  saveKeyFile(good, newIdentity());
  const doc = JSON.parse(readFileSync(good, 'utf8')) as Record<string, string>;
  const cases: Array<[string, string, string]> = [
    ['not json', 'hello', 'corrupt'],
    ['wrong type', JSON.stringify({ ...doc, type: 'rsa' }), 'corrupt'],
    ['short seed', JSON.stringify({ ...doc, seedHex: 'abcd' }), 'corrupt'],
    ['truncated', readFileSync(good, 'utf8').slice(0, 40), 'corrupt'],
    ['other public key', JSON.stringify({ ...doc, publicKeyHex: 'aa'.repeat(32) }), 'mismatch'],
  ];
  for (const [name, text, problem] of cases) {
    assert.throws(() => loadKeyFile(write(name.replace(/ /g, '-'), text)), (e: unknown) => e instanceof KeyFileError && e.problem === problem, name);
  }
});
