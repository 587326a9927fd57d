// Sealed boxes to an AgentPubKey: seal then open, wrong recipient, and tampering.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newIdentity } from '../../src/identity/index.js';
import { SealedBoxError, openSealed, seal, SEAL_OVERHEAD_BYTES } from '../../src/identity/sealed-box.js';

test('seal to an AgentPubKey, open with its key pair', () => {
  const alice = newIdentity();
  const message = new TextEncoder().encode('the VM root password is not in this test');
  const box = seal(alice.agent, message);
  assert.equal(box.length, message.length + SEAL_OVERHEAD_BYTES);
  assert.deepEqual(openSealed(alice, box), message);
  assert.deepEqual(openSealed(alice, seal(alice.publicKey, message)), message);
});

test('two seals of the same message differ (ephemeral key), both open', () => {
  const alice = newIdentity();
  const m = Uint8Array.of(7, 7, 7);
  const a = seal(alice.agent, m);
  const b = seal(alice.agent, m);
  assert.notDeepEqual(a, b);
  assert.deepEqual(openSealed(alice, a), m);
  assert.deepEqual(openSealed(alice, b), m);
});

test('another key cannot open it, and any changed byte makes it unopenable', () => {
  const alice = newIdentity();
  const mallory = newIdentity();
  const box = seal(alice.agent, Uint8Array.of(1, 2, 3, 4));
  assert.throws(() => openSealed(mallory, box), SealedBoxError);
  for (let i = 0; i < box.length; i++) {
    const bad = box.slice();
    bad[i] = (bad[i] as number) ^ 0x01;
    assert.throws(() => openSealed(alice, bad), SealedBoxError, `byte ${i}`);
  }
  assert.throws(() => openSealed(alice, box.subarray(0, 10)), /shorter than a sealed box/);
});

test('an invalid AgentPubKey recipient is refused', () => {
  assert.throws(() => seal('uhCAkNOPE', Uint8Array.of(1)), /AgentPubKey/);
});
