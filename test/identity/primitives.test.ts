// Both implementations of the primitives (portable: node:crypto and @noble/hashes; libsodium) give the known answers and the same bytes as each other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { sodium, sodiumPrimitives } from '../../src/identity/libsodium.js';
import { portablePrimitives } from '../../src/identity/portable-primitives.js';
import { cryptoPrimitives, fromHex, randomBytes, toHex, usePrimitives, verify, type CryptoPrimitives } from '../../src/identity/index.js';
import { readVectors } from '../helpers/paths.js';
import fc from 'fast-check';

interface Ed25519Vector {
  name: string;
  secretKeyHex: string;
  publicKeyHex: string;
  messageHex: string;
  signatureHex: string;
}
interface Blake2bVector {
  prefixHex?: string;
  messageHex: string;
  outputBytes: number;
  digestHex: string;
}
const ed25519 = readVectors<{ vectors: Ed25519Vector[] }>('ed25519-rfc8032.json').vectors;
const blake = readVectors<{ oneShot: Blake2bVector[]; chained: Blake2bVector[] }>('blake2b.json');
const implementations: readonly CryptoPrimitives[] = [portablePrimitives, sodiumPrimitives];

for (const p of implementations) {
  test(`${p.name}: RFC 8032 TEST 1-3 (key pair from seed, signature, verification)`, () => {
    for (const v of ed25519) {
      const pair = p.seedKeyPair(fromHex('seed', v.secretKeyHex, 32));
      assert.equal(toHex(pair.publicKey), v.publicKeyHex, v.name);
      assert.equal(toHex(pair.secretKey), v.secretKeyHex + v.publicKeyHex, `${v.name}: secret key is seed || public key`);
      const message = fromHex('message', v.messageHex);
      assert.equal(toHex(p.signDetached(message, pair.secretKey)), v.signatureHex, v.name);
      assert.equal(p.verifyDetached(fromHex('sig', v.signatureHex, 64), message, pair.publicKey), true, v.name);
      const bad = fromHex('sig', v.signatureHex, 64);
      bad[0] = (bad[0] as number) ^ 1;
      assert.equal(p.verifyDetached(bad, message, pair.publicKey), false, `${v.name}: one changed bit`);
    }
  });

  test(`${p.name}: BLAKE2b known answers (RFC 7693 appendix A, CPython hashlib), one-shot and chained`, () => {
    for (const v of blake.oneShot) assert.equal(toHex(p.blake2b(fromHex('m', v.messageHex), v.outputBytes)), v.digestHex, `${v.messageHex.length / 2} bytes -> ${v.outputBytes}`);
    for (const v of blake.chained) {
      assert.equal(toHex(p.blake2bChained(fromHex('prefix', v.prefixHex ?? ''), fromHex('m', v.messageHex), v.outputBytes)), v.digestHex);
    }
  });

  test(`${p.name}: blake2bHex gives the known digests of every output length, of a message alone and of the first bytes of a longer buffer`, () => {
    assert.ok(new Set(blake.oneShot.map((v) => v.outputBytes)).size >= 2);
    for (const v of blake.oneShot) {
      const message = fromHex('m', v.messageHex);
      assert.equal(p.blake2bHex(message, message.length, v.outputBytes), v.digestHex);
      const longer = new Uint8Array(message.length + 100).fill(0xa5);
      longer.set(message);
      assert.equal(p.blake2bHex(longer, message.length, v.outputBytes), v.digestHex, 'bytes past length are not hashed');
    }
  });

  test(`${p.name}: property: blake2bHex is the hex of blake2b over the first bytes, for any bytes, length and output length`, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(), fc.integer({ min: 16, max: 64 }), (bytes, cut, outputBytes) => {
        const length = bytes.length === 0 ? 0 : cut % (bytes.length + 1);
        assert.equal(p.blake2bHex(bytes, length, outputBytes), toHex(p.blake2b(bytes.subarray(0, length), outputBytes)));
      }),
      { numRuns: 300 },
    );
  });

  test(`${p.name}: blake2bHex(…, 32) gives the known 32-byte digests, of a message alone and of the first bytes of a longer buffer`, () => {
    const vectors = blake.oneShot.filter((v) => v.outputBytes === 32);
    assert.ok(vectors.length >= 2);
    for (const v of vectors) {
      const message = fromHex('m', v.messageHex);
      assert.equal(p.blake2bHex(message, message.length, 32), v.digestHex);
      const longer = new Uint8Array(message.length + 100).fill(0xa5);
      longer.set(message);
      assert.equal(p.blake2bHex(longer, message.length, 32), v.digestHex, 'bytes past length are not hashed');
    }
  });
}

test('libsodium blake2bHex after its input region grows and after the wasm heap grows (the heap\'s ArrayBuffer is replaced)', () => {
  const heap = (): ArrayBufferLike => (sodium as unknown as { libsodium: { HEAPU8: Uint8Array } }).libsodium.HEAPU8.buffer;
  const small = randomBytes(300);
  const big = randomBytes(20_000);
  const expect = (m: Uint8Array): string => toHex(portablePrimitives.blake2b(m, 32));
  assert.equal(sodiumPrimitives.blake2bHex(small, small.length, 32), expect(small));
  assert.equal(sodiumPrimitives.blake2bHex(big, big.length, 32), expect(big), 'larger than the first input region');
  assert.equal(sodiumPrimitives.blake2bHex(small, small.length, 32), expect(small));
  const before = heap();
  // The wrapper copies a message into the wasm heap: 64 MiB more than it holds makes it grow.
  sodium.crypto_generichash(32, new Uint8Array(64 * 1024 * 1024), null);
  assert.notEqual(heap(), before, 'the heap grew (else this test checks nothing)');
  assert.equal(sodiumPrimitives.blake2bHex(small, small.length, 32), expect(small));
  assert.equal(sodiumPrimitives.blake2bHex(big, 1234, 32), expect(big.subarray(0, 1234)));
});

test('portable and libsodium agree on random seeds, messages and output lengths', () => {
  for (let i = 0; i < 64; i++) {
    const seed = randomBytes(32);
    const message = randomBytes(i * 37);
    const a = portablePrimitives.seedKeyPair(seed);
    const b = sodiumPrimitives.seedKeyPair(seed);
    assert.equal(toHex(a.secretKey), toHex(b.secretKey));
    const sigA = portablePrimitives.signDetached(message, a.secretKey);
    assert.equal(toHex(sigA), toHex(sodiumPrimitives.signDetached(message, b.secretKey)));
    assert.equal(sodiumPrimitives.verifyDetached(sigA, message, a.publicKey), true);
    const out = 16 + (i % 49);
    assert.equal(toHex(portablePrimitives.blake2b(message, out)), toHex(sodiumPrimitives.blake2b(message, out)));
    assert.equal(toHex(portablePrimitives.blake2bChained(seed, message, out)), toHex(sodiumPrimitives.blake2bChained(seed, message, out)));
    const length = message.length - (i % 5);
    if (length >= 0) assert.equal(portablePrimitives.blake2bHex(message, length, 32), sodiumPrimitives.blake2bHex(message, length, 32));
  }
});

test('identity verify returns false, never throws, for a public key that is not a curve point, on either implementation', () => {
  const v = ed25519[0] as Ed25519Vector;
  // y = 2 decodes to no point of edwards25519 (no x solves the curve equation; @noble/ed25519's Point.fromBytes refuses it too).
  const notAPoint = new Uint8Array(32);
  notAPoint[0] = 2;
  const before = cryptoPrimitives();
  try {
    for (const p of implementations) {
      usePrimitives(p);
      assert.equal(verify(fromHex('sig', v.signatureHex, 64), fromHex('m', v.messageHex), notAPoint), false, p.name);
    }
  } finally {
    usePrimitives(before);
  }
});

/**
 * A module-resolution hook (node:module register, Node >= 20.6) that refuses to resolve
 * libsodium-wrappers, so a child process fails if anything it imports loads libsodium.
 */
const REFUSE_LIBSODIUM_HOOKS = `export async function resolve(specifier, context, next) {
  if (specifier.startsWith('libsodium')) throw new Error('libsodium was imported');
  return next(specifier, context);
}`;

function runRefusingLibsodium(moduleUrl: string): SpawnSyncReturns<string> {
  const register = `import { register } from 'node:module'; register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(REFUSE_LIBSODIUM_HOOKS)}));`;
  const main = `const m = await import(${JSON.stringify(moduleUrl)}); const id = await import(${JSON.stringify(new URL('../../src/identity/index.js', import.meta.url).href)}); process.stdout.write(id.cryptoPrimitives().name + ' ' + Object.keys(m).length);`;
  return spawnSync(process.execPath, ['--import', 'data:text/javascript,' + encodeURIComponent(register), '--input-type=module', '-e', main], { encoding: 'utf8' });
}

test('the farmer agent never loads libsodium: it imports, and runs on the portable primitives, with libsodium refused', () => {
  const r = runRefusingLibsodium(new URL('../../src/agent/index.js', import.meta.url).href);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^portable [1-9]/);
});

test('the refusing hook works: sealed boxes do load libsodium', () => {
  const r = runRefusingLibsodium(new URL('../../src/identity/sealed-box.js', import.meta.url).href);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /libsodium was imported/);
});
