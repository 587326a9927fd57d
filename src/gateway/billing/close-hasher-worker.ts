// The close hasher's worker thread: hashes a close's receipt bodies and builds its tree while the main thread issues the next ones.
import { parentPort } from 'node:worker_threads';
import { errorMessage } from '../../identity/error-message.js';
import { loadLibsodium } from '../../identity/index.js';
import { CloseHashing } from './close-hashing.js';
import type { FromCloseHasher, ToCloseHasher } from './close-hasher-protocol.js';

// The same primitives as the gateway's main thread (libsodium), so the hashes are the same bytes at the same speed.
await loadLibsodium();

const port = parentPort;
if (!port) throw new Error('close-hasher-worker: not started as a worker thread');
/** Open closes by id (a few at most: each is dropped at its root or when it fails). */
const closes = new Map<number, CloseHashing>();

function reply(message: FromCloseHasher, transfer: ArrayBuffer[] = []): void {
  port?.postMessage(message, transfer);
}

port.on('message', (m: ToCloseHasher) => {
  if (m.t === 'drop') {
    closes.delete(m.close);
    return;
  }
  try {
    let hashing = closes.get(m.close);
    if (!hashing) {
      hashing = new CloseHashing();
      closes.set(m.close, hashing);
    }
    if (m.t === 'hash') {
      const hashes = hashing.hashBodies(new Uint8Array(m.data), m.from, m.ends);
      reply({ t: 'hashed', id: m.id, hashes }, [hashes.buffer as ArrayBuffer]);
    } else {
      const root = hashing.root();
      closes.delete(m.close);
      reply({ t: 'root', id: m.id, root });
    }
  } catch (err) {
    closes.delete(m.close);
    reply({ t: 'failed', id: m.id, message: errorMessage(err) });
  }
});
