// ed25519 known answers (RFC 8032), round trips, tampering, and argument checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ed from '@noble/ed25519';
import { ed25519PublicKeyToX25519 } from '../../src/identity/ed25519-x25519.js';
import {
  fromHex,
  randomBytes,
  generateSigningKeyPair,
  sign,
  signingKeyPairFromSeed,
  toHex,
  verify,
} from '../../src/identity/index.js';
import { readVectors } from '../helpers/paths.js';

interface Vector {
  name: string;
  secretKeyHex: string;
  publicKeyHex: string;
  messageHex: string;
  signatureHex: string;
}
const { vectors } = readVectors<{ vectors: Vector[] }>('ed25519-rfc8032.json');

for (const v of vectors) {
  test(`RFC 8032 ${v.name}: public key, signature and verification`, () => {
    const pair = signingKeyPairFromSeed(fromHex('seed', v.secretKeyHex, 32));
    assert.equal(toHex(pair.publicKey), v.publicKeyHex);
    const message = fromHex('message', v.messageHex);
    assert.equal(toHex(sign(pair.secretKey, message)), v.signatureHex);
    assert.equal(verify(fromHex('sig', v.signatureHex, 64), message, pair.publicKey), true);
  });

  test(`RFC 8032 ${v.name}: @noble/ed25519 agrees (a second implementation)`, async () => {
    const message = fromHex('message', v.messageHex);
    assert.equal(await ed.verifyAsync(fromHex('sig', v.signatureHex, 64), message, fromHex('pk', v.publicKeyHex, 32)), true);
  });
}

test('sign then verify round-trips; every flipped bit of signature, message or key fails', () => {
  const pair = generateSigningKeyPair();
  const message = new TextEncoder().encode('hypha round trip');
  const sig = sign(pair.secretKey, message);
  assert.equal(verify(sig, message, pair.publicKey), true);
  for (let i = 0; i < sig.length; i++) {
    const bad = sig.slice();
    bad[i] = (bad[i] as number) ^ 0x01;
    assert.equal(verify(bad, message, pair.publicKey), false, `signature byte ${i}`);
  }
  for (let i = 0; i < message.length; i++) {
    const bad = message.slice();
    bad[i] = (bad[i] as number) ^ 0x80;
    assert.equal(verify(sig, bad, pair.publicKey), false, `message byte ${i}`);
  }
  for (let i = 0; i < pair.publicKey.length; i++) {
    const bad = pair.publicKey.slice();
    bad[i] = (bad[i] as number) ^ 0x01;
    assert.equal(verify(sig, message, bad), false, `public key byte ${i}`);
  }
});

test('verify returns false, not an exception, for a signature by another key', () => {
  const a = generateSigningKeyPair();
  const b = generateSigningKeyPair();
  const message = Uint8Array.of(1, 2, 3);
  assert.equal(verify(sign(b.secretKey, message), message, a.publicKey), false);
});

test('wrong types throw TypeError and wrong lengths throw RangeError, naming the argument', () => {
  const pair = generateSigningKeyPair();
  const message = Uint8Array.of(1);
  const sig = sign(pair.secretKey, message);
  const cases: Array<[string, () => unknown, ErrorConstructor, RegExp]> = [
    ['signature as string', () => verify('00' as unknown as Uint8Array, message, pair.publicKey), TypeError, /signature/],
    ['message as array', () => verify(sig, [1] as unknown as Uint8Array, pair.publicKey), TypeError, /message/],
    ['public key null', () => verify(sig, message, null as unknown as Uint8Array), TypeError, /publicKey/],
    ['signature 63 bytes', () => verify(sig.subarray(0, 63), message, pair.publicKey), RangeError, /signature must be 64 bytes/],
    ['public key 31 bytes', () => verify(sig, message, pair.publicKey.subarray(1)), RangeError, /publicKey must be 32 bytes/],
    ['secret key 32 bytes', () => sign(pair.secretKey.subarray(0, 32), message), RangeError, /secretKey must be 64 bytes/],
    ['seed 33 bytes', () => signingKeyPairFromSeed(new Uint8Array(33)), RangeError, /seed must be 32 bytes/],
  ];
  for (const [name, fn, type, message_] of cases) {
    assert.throws(fn, (err: unknown) => err instanceof type && message_.test(err.message), name);
  }
});

test('the X25519 form of an ed25519 key is the Montgomery u = (1+y)/(1-y) mod p (RFC 7748 section 4.1)', () => {
  const P = 2n ** 255n - 19n;
  const pow = (b: bigint, e: bigint): bigint => {
    let r = 1n;
    for (b %= P; e > 0n; e >>= 1n, b = (b * b) % P) if (e & 1n) r = (r * b) % P;
    return r;
  };
  for (const v of vectors) {
    const pk = fromHex('pk', v.publicKeyHex, 32);
    const y = BigInt('0x' + toHex(pk.slice().reverse())) & ((1n << 255n) - 1n);
    const u = ((1n + y) * pow((1n - y + P) % P, P - 2n)) % P;
    const expected = (u.toString(16).padStart(64, '0').match(/../g) ?? []).reverse().join('');
    assert.equal(toHex(ed25519PublicKeyToX25519(pk)), expected);
  }
});

test('randomBytes: the length asked for, never the same twice, and a bad length is refused', () => {
  assert.equal(randomBytes(0).length, 0);
  const seen = new Set<string>();
  for (let i = 0; i < 64; i++) seen.add(toHex(randomBytes(18)));
  assert.equal(seen.size, 64);
  assert.ok(randomBytes(18) instanceof Uint8Array);
  assert.throws(() => randomBytes(-1), RangeError);
  assert.throws(() => randomBytes(1.5), RangeError);
});
