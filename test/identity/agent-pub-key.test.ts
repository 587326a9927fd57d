// AgentPubKey codec: the known answer, round trips, and a table of bad inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AgentPubKeyError,
  agentPubKeyLocation,
  decodeAgentPubKey,
  encodeAgentPubKey,
  fromHex,
  generateSigningKeyPair,
  isAgentPubKey,
  locationOfAgentPubKey,
  toHex,
} from '../../src/identity/index.js';
import { readVectors } from '../helpers/paths.js';

interface Vectors {
  valid: Array<{ agent: string; publicKeyHex: string; locationHex: string }>;
  invalid: Array<{ name: string; agent: string; problem: string }>;
}
const vectors = readVectors<Vectors>('agent-pub-key.json');

for (const v of vectors.valid) {
  test(`known answer ${v.agent}: key, location bytes, and re-encoding`, () => {
    assert.equal(toHex(decodeAgentPubKey(v.agent)), v.publicKeyHex);
    assert.equal(toHex(locationOfAgentPubKey(v.agent)), v.locationHex);
    assert.equal(toHex(agentPubKeyLocation(fromHex('k', v.publicKeyHex, 32))), v.locationHex);
    assert.equal(encodeAgentPubKey(fromHex('k', v.publicKeyHex, 32)), v.agent);
  });
}

for (const v of vectors.invalid) {
  test(`refused: ${v.name} (${v.problem})`, () => {
    assert.throws(
      () => decodeAgentPubKey(v.agent),
      (err: unknown) => err instanceof AgentPubKeyError && err.problem === v.problem,
    );
    assert.equal(isAgentPubKey(v.agent), false);
  });
}

test('non-strings are refused with problem "type"', () => {
  for (const value of [undefined, null, 42, {}, ['uhCAk']]) {
    assert.throws(() => decodeAgentPubKey(value), (err: unknown) => err instanceof AgentPubKeyError && err.problem === 'type');
  }
});

test('encode then decode round-trips for random keys, and every string starts with uhCAk', () => {
  for (let i = 0; i < 200; i++) {
    const { publicKey } = generateSigningKeyPair();
    const agent = encodeAgentPubKey(publicKey);
    assert.match(agent, /^uhCAk[A-Za-z0-9_-]{48}$/);
    assert.deepEqual(decodeAgentPubKey(agent), publicKey);
  }
});

test('changing any single character of a valid key makes it invalid', () => {
  const agent = vectors.valid[0]!.agent;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  for (let i = 1; i < agent.length; i++) {
    const c = agent[i] as string;
    const other = alphabet[(alphabet.indexOf(c) + 1) % alphabet.length] as string;
    const changed = agent.slice(0, i) + other + agent.slice(i + 1);
    assert.equal(isAgentPubKey(changed), false, `position ${i}`);
  }
});
