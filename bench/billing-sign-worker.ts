// A worker thread for bench/billing's prototype: signs receipts with the gateway key, as a gateway could spread signing over its cores.
import { parentPort, workerData } from 'node:worker_threads';
import sodium from 'libsodium-wrappers';
import { canonicalJsonBytes, createSigner, fromHex } from '../src/identity/index.js';

/**
 * A batch to sign. `bytes`: the messages back to back, message i at [ends[i-1], ends[i]).
 * `bodies`: receipt bodies as one JSON array; the worker makes their canonical JSON, signs
 * it, and hashes it (blake2b-256, the hash a next receipt's `prev` names).
 */
export type SignRequest =
  | { readonly id: number; readonly kind: 'bytes'; readonly bytes: ArrayBuffer; readonly ends: Uint32Array }
  | { readonly id: number; readonly kind: 'bodies'; readonly json: string };

/** The batch's signatures (64 bytes each, in order) and, for bodies, their hashes (32 bytes each). */
export interface SignResponse {
  readonly id: number;
  readonly signatures: ArrayBuffer;
  readonly hashes: ArrayBuffer | null;
}

/** What the worker is started with: the gateway's 64-byte secret key, in hex. */
export interface SignWorkerData {
  readonly secretKeyHex: string;
}

await sodium.ready;
const port = parentPort;
if (port) {
  const sign = createSigner(fromHex('secretKeyHex', (workerData as SignWorkerData).secretKeyHex, 64));
  port.on('message', (m: SignRequest) => {
    let response: SignResponse;
    if (m.kind === 'bytes') {
      const bytes = new Uint8Array(m.bytes);
      const signatures = new Uint8Array(64 * m.ends.length);
      let start = 0;
      for (let i = 0; i < m.ends.length; i++) {
        const end = m.ends[i] as number;
        signatures.set(sign(bytes.subarray(start, end)), 64 * i);
        start = end;
      }
      response = { id: m.id, signatures: signatures.buffer, hashes: null };
    } else {
      const bodies = JSON.parse(m.json) as unknown[];
      const signatures = new Uint8Array(64 * bodies.length);
      const hashes = new Uint8Array(32 * bodies.length);
      bodies.forEach((body, i) => {
        const bytes = canonicalJsonBytes(body);
        signatures.set(sign(bytes), 64 * i);
        hashes.set(sodium.crypto_generichash(32, bytes, null), 32 * i);
      });
      response = { id: m.id, signatures: signatures.buffer, hashes: hashes.buffer };
    }
    port.postMessage(response, response.hashes ? [response.signatures, response.hashes] : [response.signatures]);
  });
}
