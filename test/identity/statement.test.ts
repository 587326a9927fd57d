// Domain-separated statements: a signature for one purpose never verifies for another.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  generateSigningKeyPair,
  jsonStatementBytes,
  parseTextStatement,
  signJsonStatement,
  signTextStatement,
  textStatement,
  utf8,
  verify,
  verifyJsonStatement,
} from '../../src/identity/index.js';

test('a JSON statement verifies for its purpose and body only', () => {
  const pair = generateSigningKeyPair();
  const body = { nonce: 'abc', at: 5 };
  const sig = signJsonStatement(pair.secretKey, 'hypha/agent-auth/v1', body);
  assert.equal(verifyJsonStatement(sig, 'hypha/agent-auth/v1', body, pair.publicKey), true);
  assert.equal(verifyJsonStatement(sig, 'hypha/chain-head/v1', body, pair.publicKey), false);
  assert.equal(verifyJsonStatement(sig, 'hypha/agent-auth/v2', body, pair.publicKey), false);
  assert.equal(verifyJsonStatement(sig, 'hypha/agent-auth/v1', { ...body, at: 6 }, pair.publicKey), false);
});

test('a body cannot smuggle in another purpose', () => {
  assert.throws(() => jsonStatementBytes('hypha/receipt/v1', { purpose: 'hypha/link/v1' }), /body.purpose/);
});

test('bad purpose tags are refused', () => {
  for (const p of ['hypha/link', 'link/v1', 'hypha/Link/v1', 'hypha//v1', 'hypha/link/v0', 'other/link/v1']) {
    assert.throws(() => jsonStatementBytes(p as 'hypha/x/v1', {}), RangeError, p);
  }
});

test('text statements: purpose line first, fields after, parse back exactly', () => {
  const text = textStatement('hypha/link/v1', [['gateway', 'uhCAkX'], ['subnet', '4a1:2:3:4::/64']]);
  assert.equal(text, 'hypha/link/v1\ngateway: uhCAkX\nsubnet: 4a1:2:3:4::/64\n');
  const parsed = parseTextStatement(text);
  assert.equal(parsed?.purpose, 'hypha/link/v1');
  assert.equal(parsed?.fields.get('subnet'), '4a1:2:3:4::/64');
  assert.throws(() => textStatement('hypha/link/v1', [['x', 'two\nlines']]), /one line/);
  assert.equal(parseTextStatement('not a statement\n'), null);
  assert.equal(parseTextStatement('hypha/link/v1\nx: 1\nx: 2\n'), null);
});

test('a text statement signature is not a JSON statement signature, and vice versa', () => {
  const pair = generateSigningKeyPair();
  const text = textStatement('hypha/link/v1', [['nonce', 'n']]);
  const textSig = signTextStatement(pair.secretKey, text);
  assert.equal(verify(textSig, utf8(text), pair.publicKey), true);
  assert.equal(verifyJsonStatement(textSig, 'hypha/link/v1', { nonce: 'n' }, pair.publicKey), false);
  assert.throws(() => signTextStatement(pair.secretKey, '{"purpose":"hypha/link/v1"}'), /not a hypha text statement/);
});
