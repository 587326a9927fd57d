// BLAKE2b on libsodium gives the same bytes as @noble/hashes (RFC 7693), one-shot and chained.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blake2b as nobleBlake2b } from '@noble/hashes/blake2.js';
import { blake2b, blake2bChained, concatBytes, randomBytes, toHex, utf8 } from '../../src/identity/index.js';

test('RFC 7693 appendix A: BLAKE2b-512("abc")', () => {
  assert.equal(
    toHex(blake2b(utf8('abc'), 64)),
    'ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923',
  );
});

test('every output length 16..64 and many message lengths agree with @noble/hashes', () => {
  for (let len = 0; len < 300; len += 7) {
    const m = randomBytes(len);
    for (const out of [16, 32, 48, 64]) assert.equal(toHex(blake2b(m, out)), toHex(nobleBlake2b(m, { dkLen: out })), `${len} bytes -> ${out}`);
  }
});

test('the chained form equals hashing the concatenation', () => {
  const a = randomBytes(16);
  const b = randomBytes(1000);
  assert.equal(toHex(blake2bChained(a, b, 32)), toHex(blake2b(concatBytes(a, b), 32)));
});

test('output lengths outside 16..64 are refused', () => {
  assert.throws(() => blake2b(utf8('x'), 12), RangeError);
  assert.throws(() => blake2b(utf8('x'), 65), RangeError);
});
