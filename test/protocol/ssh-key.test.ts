// OpenSSH public key lines: real ssh-keygen keys accepted, malformed ones refused naming the field (test/vectors/ssh-keys.json).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { MAX_SSH_KEYS, parseSshPublicKey, parseSshPublicKeys } from '../../src/protocol/ssh-key.js';
import { ValidationError } from '../../src/protocol/validate.js';
import { readVectors } from '../helpers/paths.js';

interface Vectors {
  accepted: { name: string; line: string; type: string; comment: string }[];
  refused: { name: string; line: unknown; message: string | null }[];
}
const vectors = readVectors<Vectors>('ssh-keys.json');

/** A fresh ed25519 public key line, made with node:crypto (the blob is RFC 8709's: type string, 32-byte key). */
function freshEd25519Line(comment: string): string {
  const der = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' });
  const raw = der.subarray(der.length - 32);
  const str = (b: Buffer): Buffer => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return `ssh-ed25519 ${Buffer.concat([str(Buffer.from('ssh-ed25519')), str(raw)]).toString('base64')} ${comment}`;
}

const refusedAs = (field: string, fragment: string | null) => (e: unknown) =>
  e instanceof ValidationError && e.field === field && e.message.startsWith(`${field}: `) && (fragment === null || e.message.includes(fragment));

test('real keys made by ssh-keygen are accepted', async (t) => {
  assert.equal(vectors.accepted.length, 6);
  for (const v of vectors.accepted) {
    await t.test(v.name, () => {
      const k = parseSshPublicKey(v.line, 'sshKeys[0]');
      assert.equal(k.type, v.type);
      assert.equal(k.comment, v.comment);
      assert.equal(k.blobBase64, v.line.split(' ')[1]);
      assert.equal(k.line, v.line);
    });
  }
});

test('a key line is normalised: surrounding whitespace and a trailing newline go, inner runs of blanks become one space', () => {
  const ed = (vectors.accepted[0] as Vectors['accepted'][number]).line;
  const [type, blob, comment] = ed.split(' ') as [string, string, string];
  assert.equal(parseSshPublicKey(`  ${ed}\n`, 'k').line, ed);
  assert.equal(parseSshPublicKey(`${type}\t${blob}  ${comment}`, 'k').line, ed);
  assert.equal(parseSshPublicKey(`${type} ${blob}`, 'k').line, `${type} ${blob}`);
  assert.equal(parseSshPublicKey(`${type} ${blob} two words`, 'k').comment, 'two words');
});

test('malformed key lines are refused, naming the field', async (t) => {
  assert.ok(vectors.refused.length >= 20);
  for (const v of vectors.refused) {
    await t.test(v.name, () => assert.throws(() => parseSshPublicKey(v.line, 'sshKeys[3]'), refusedAs('sshKeys[3]', v.message)));
  }
});

test('a type word hypha does not take says which ones it does', () => {
  assert.throws(
    () => parseSshPublicKey('ssh-dss AAAAB3NzaC1kc3MAAACBAP', 'sshKeys[0]'),
    (e: unknown) => e instanceof ValidationError && e.hint !== undefined && e.hint.includes('ssh-ed25519') && e.hint.includes('id_ed25519.pub'),
  );
});

test('a line longer than 8192 characters is refused before it is decoded', () => {
  const ed = (vectors.accepted[0] as Vectors['accepted'][number]).line;
  assert.throws(() => parseSshPublicKey(`${ed} ${'x'.repeat(8192)}`, 'sshKeys[0]'), refusedAs('sshKeys[0]', 'longer than 8192'));
});

test('key lists: 1 to 16 distinct keys', async (t) => {
  const lines = vectors.accepted.map((v) => v.line);
  const sixteen = Array.from({ length: MAX_SSH_KEYS }, (_, i) => freshEd25519Line(`user${i}@test`));
  const cases: { name: string; value: unknown; field: string | null; fragment?: string }[] = [
    { name: 'one key', value: [lines[0]], field: null },
    { name: 'every accepted type together', value: lines, field: null },
    { name: 'exactly 16 keys', value: sixteen, field: null },
    { name: '17 keys', value: [...sixteen, freshEd25519Line('one-too-many')], field: 'sshKeys', fragment: 'at most 16 keys, got 17' },
    { name: '100 keys', value: Array.from({ length: 100 }, (_, i) => freshEd25519Line(`u${i}`)), field: 'sshKeys', fragment: 'at most 16 keys, got 100' },
    { name: 'an empty list', value: [], field: 'sshKeys', fragment: 'at least one key' },
    { name: 'not a list', value: lines[0], field: 'sshKeys', fragment: 'must be an array' },
    { name: 'null', value: null, field: 'sshKeys', fragment: 'must be an array' },
    { name: 'the same key twice', value: [lines[0], lines[1], lines[0]], field: 'sshKeys[2]', fragment: 'the same key as an earlier one' },
    { name: 'the same key twice under another comment', value: [lines[0], (lines[0] as string).replace('alice@laptop', 'alice@other')], field: 'sshKeys[1]', fragment: 'the same key' },
    { name: 'a bad key among good ones names its index', value: [lines[0], lines[1], 'ssh-ed25519 AAAA'], field: 'sshKeys[2]' },
  ];
  for (const c of cases) {
    await t.test(c.name, () => {
      if (c.field === null) {
        const keys = parseSshPublicKeys(c.value, 'sshKeys');
        assert.equal(keys.length, (c.value as unknown[]).length);
      } else {
        assert.throws(() => parseSshPublicKeys(c.value, 'sshKeys'), refusedAs(c.field, c.fragment ?? null));
      }
    });
  }
});
