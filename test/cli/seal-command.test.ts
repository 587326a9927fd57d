// `hypha seal`: a secret sealed to a node's key opens only with that farmer agent's key; the node view's sealing key is the farmer key's X25519 form.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { publicNodeView } from '../../src/gateway/http/node-routes.js';
import { fromBase64, newIdentity, toBase64 } from '../../src/identity/index.js';
import { ed25519PublicKeyToX25519 } from '../../src/identity/ed25519-x25519.js';
import { openSealed, SealedBoxError } from '../../src/identity/sealed-box.js';
import { MAX_SECRET_BYTES } from '../../src/protocol/sealed-secret.js';
import { scratchDir } from '../helpers/paths.js';
import { hypha } from '../helpers/run.js';

test('hypha seal --to NODE_KEY FILE: only the farmer agent opens it; wrong key, oversize and bad --to refused', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const farmer = newIdentity();
  const other = newIdentity();
  const file = join(dir, 'db-password');
  writeFileSync(file, 'hunter2\n');
  const r = await hypha(['seal', '--to', farmer.agent, file]);
  assert.equal(r.code, 0, r.stderr);
  const box = fromBase64('box', r.stdout.trim());
  assert.equal(Buffer.from(openSealed(farmer, box)).toString('utf8'), 'hunter2\n');
  assert.throws(() => openSealed(other, box), SealedBoxError, 'another key cannot open it');
  assert.ok(!r.stdout.includes('hunter2'));
  const big = join(dir, 'big');
  writeFileSync(big, Buffer.alloc(MAX_SECRET_BYTES + 1));
  const tooBig = await hypha(['seal', '--to', farmer.agent, big]);
  assert.equal(tooBig.code, 2);
  assert.match(tooBig.stderr, /at most 65536/);
  const badTo = await hypha(['seal', '--to', 'not-a-key', file]);
  assert.equal(badTo.code, 2);
  assert.match(badTo.stderr, /--to must be/);
});

test('publicNodeView: sealTo is the farmer, sealingKey its X25519 form', () => {
  const farmer = newIdentity();
  const v = publicNodeView({ id: 'node-1', farmer: farmer.agent, connected: true, up: true });
  assert.equal(v.sealTo, farmer.agent);
  assert.equal(v.sealingKey, toBase64(ed25519PublicKeyToX25519(farmer.publicKey)));
});
