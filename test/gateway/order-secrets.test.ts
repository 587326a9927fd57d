// An order's sealed secrets: refused on the grid, checked for names, sizes and caps, and narrowed to the nodes every secret is sealed to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseOrderSecrets, secretNodes, secretsFor } from '../../src/gateway/orders/order-secrets.js';
import { PublicError } from '../../src/gateway/http/public-error.js';
import { newIdentity, toBase64 } from '../../src/identity/index.js';
import { seal } from '../../src/identity/sealed-box.js';
import { MAX_SECRET_BYTES } from '../../src/protocol/sealed-secret.js';
import { ValidationError } from '../../src/protocol/validate.js';

const farmer = newIdentity();
const box = (bytes = 16): string => toBase64(seal(farmer.agent, new Uint8Array(bytes)));

test('parseOrderSecrets: the nodes every secret is sealed to, and each node gets its own box', () => {
  const a = box();
  const secrets = parseOrderSecrets([{ name: 'db', sealed: { 'node-1': a, 'node-2': box() } }, { name: 'tls.key', sealed: { 'node-2': box(), 'node-3': box() } }], 'agent');
  assert.deepEqual(secretNodes(secrets), ['node-2']);
  assert.deepEqual(secretsFor(secrets, 'node-1')[0], { name: 'db', box: a });
});

test('parseOrderSecrets: refusals name the field; the grid is refused; the cap is a 413', () => {
  const field = (v: unknown): string => {
    try {
      parseOrderSecrets(v, 'agent');
    } catch (err) {
      if (err instanceof ValidationError) return err.field;
      if (err instanceof PublicError) return `${err.status}:${String(err.extra.field)}`;
      throw err;
    }
    return 'accepted';
  };
  assert.equal(field([{ name: 'a', sealed: { n1: box() } }, { name: 'a', sealed: { n1: box() } }]), 'secrets[1].name');
  assert.equal(field([{ name: '.hidden', sealed: { n1: box() } }]), 'secrets[0].name');
  assert.equal(field([{ name: 'a', sealed: { n1: 'AAAA' } }]), 'secrets[0].sealed.n1');
  assert.equal(field([{ name: 'a', sealed: { n1: box(MAX_SECRET_BYTES + 1) } }]), 'secrets[0].sealed.n1');
  assert.equal(field([{ name: 'a', sealed: { n1: box() } }, { name: 'b', sealed: { n2: box() } }]), 'secrets', 'no node shared by every secret');
  assert.equal(field([]), 'secrets');
  const big = box(MAX_SECRET_BYTES);
  assert.equal(field(['a', 'b', 'c', 'd', 'e'].map((name) => ({ name, sealed: { n1: big } }))), '413:secrets', 'five 64 KiB secrets are over the 256 KiB order cap');
  assert.throws(() => parseOrderSecrets([{ name: 'a', sealed: { n1: box() } }], 'grid'), (err: unknown) => err instanceof PublicError && err.status === 400 && /ThreeFold grid/.test(err.message));
});
