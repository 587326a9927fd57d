// bench/verify: ed25519 verifications per second of hypha's verify path, raw libsodium, node:crypto and @noble/ed25519.
import { createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import sodium from 'libsodium-wrappers';
import * as noble from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import { generateSigningKeyPair, loadLibsodium, sign, verify } from '../src/identity/index.js';
import { measureOpsPerSecond, ratioTable } from './measure.js';

await sodium.ready;
// hypha's verify on libsodium, as the gateway runs it (Gateway.start loads it).
await loadLibsodium();
noble.hashes.sha512 = sha512;

const KEYS = 64;
const message = new TextEncoder().encode('{"purpose":"hypha/chain-head/v1","head":"' + 'ab'.repeat(32) + '","seq":1234}');
const signed = Array.from({ length: KEYS }, () => {
  const pair = generateSigningKeyPair();
  return { publicKey: pair.publicKey, signature: sign(pair.secretKey, message) };
});
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');
const keyObjects: KeyObject[] = signed.map((s) => createPublicKey({ key: Buffer.concat([SPKI_ED25519, s.publicKey]), format: 'der', type: 'spki' }));

let i = 0;
const next = (): number => (i = (i + 1) % KEYS);
const check = (ok: boolean): void => {
  if (!ok) throw new Error('a valid signature failed to verify');
};

const results = measureOpsPerSecond([
  { name: 'libsodium (raw)', run: () => { const s = signed[next()]!; check(sodium.crypto_sign_verify_detached(s.signature, message, s.publicKey)); } },
  { name: 'hypha verify', run: () => { const s = signed[next()]!; check(verify(s.signature, message, s.publicKey)); } },
  { name: 'node:crypto (KeyObject cached)', run: () => { const n = next(); check(nodeVerify(null, message, keyObjects[n]!, signed[n]!.signature)); } },
  {
    name: 'node:crypto (KeyObject per call)',
    run: () => {
      const s = signed[next()]!;
      const key = createPublicKey({ key: Buffer.concat([SPKI_ED25519, s.publicKey]), format: 'der', type: 'spki' });
      check(nodeVerify(null, message, key, s.signature));
    },
  },
  { name: '@noble/ed25519', run: () => { const s = signed[next()]!; check(noble.verify(s.signature, message, s.publicKey)); } },
]);

process.stdout.write(`ed25519 verifications per second, one core, ${message.length}-byte message, ${KEYS} keys (median of 5 interleaved rounds)\n\n`);
process.stdout.write(ratioTable(results, 'libsodium (raw)', 'verifications/s') + '\n');
