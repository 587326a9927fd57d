// `hypha agent` started for real (a child process against a fake gateway endpoint) loads only what a farmer's agent runs: no pino, ssh2, libsodium, gateway or lab code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { newIdentity, saveKeyFile } from '../../src/identity/index.js';
import { waitFor } from '../helpers/lab.js';
import { HYPHA_BIN, scratchDir } from '../helpers/paths.js';
import { FakeGatewayEndpoint } from './fake-gateway-endpoint.js';

/**
 * Preloaded into the agent (`node --import`): records every module file it loads, ESM through a
 * module hook (every import, and CommonJS packages imported from ESM) and CommonJS through the
 * require cache when the process exits.
 */
const RECORDER = `
import { register, createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
register(new URL('./hooks.mjs', import.meta.url));
const require = createRequire(import.meta.url);
process.on('exit', () => writeFileSync(process.env.LOADED_CJS, Object.keys(require.cache).join('\\n')));
`;
const HOOKS = `
import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  if (url.startsWith('file:')) appendFileSync(process.env.LOADED_ESM, url + '\\n');
  return next(url, context);
}
`;

/** What a production agent must not load, with why (each was, or could easily become, part of its start). */
const NOT_LOADED: ReadonlyArray<[RegExp, string]> = [
  [/node_modules\/pino\//, 'pino (the agent logs through agent/json-lines-logger.ts)'],
  [/node_modules\/(thread-stream|sonic-boom|pino-std-serializers)\//, "pino's dependencies"],
  [/node_modules\/ssh2\//, 'ssh2 (only the lab VM driver needs it)'],
  [/node_modules\/libsodium/, 'libsodium (the agent signs and hashes with node:crypto and @noble/hashes)'],
  [/node_modules\/(koa|pg|lowdb|prom-client|@holochain|@msgpack)\//, "the gateway's dependencies"],
  [/\/src\/gateway\//, 'gateway code'],
  [/\/src\/lab\//, 'lab code'],
  [/\/src\/agent\/lab-vm\/(driver|index)\.js/, 'the lab VM driver'],
  [/\/src\/agent\/bidding\/bidder\.js/, 'the bidder (only for a farmer with a bidding config)'],
  [/\/src\/protocol\/logger\.js/, 'the pino logger of the gateway'],
];

test('a running production agent has loaded none of pino, ssh2, libsodium, the bidder, gateway or lab code', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const endpoint = new FakeGatewayEndpoint([]);
  const url = await endpoint.listen();
  t.after(() => endpoint.close());
  saveKeyFile(join(dir, 'agent.key'), newIdentity());
  writeFileSync(join(dir, 'agent.json'), JSON.stringify({ gateway: url, keyFile: 'agent.key', stateDir: 'state', nodes: [{ id: 'node-1' }] }));
  writeFileSync(join(dir, 'record.mjs'), RECORDER);
  writeFileSync(join(dir, 'hooks.mjs'), HOOKS);
  const esm = join(dir, 'loaded-esm.txt');
  const cjs = join(dir, 'loaded-cjs.txt');
  writeFileSync(esm, '');
  const child = spawn(process.execPath, ['--import', pathToFileURL(join(dir, 'record.mjs')).href, HYPHA_BIN, 'agent', '--config', join(dir, 'agent.json')], {
    env: { ...process.env, LOADED_ESM: esm, LOADED_CJS: cjs },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(() => child.kill('SIGKILL'));
  await waitFor('the agent to be welcomed and send a heartbeat', () => (endpoint.messages('heartbeat').length > 0 ? true : undefined), 60_000, 50);
  child.kill('SIGTERM');
  assert.equal(await exited, 0, `the agent stops cleanly on SIGTERM: ${output}`);

  const loaded = [...readFileSync(esm, 'utf8').split('\n'), ...readFileSync(cjs, 'utf8').split('\n')].filter((l) => l !== '');
  // The recording works: the agent and its WebSocket client are in it.
  assert.ok(loaded.some((f) => f.endsWith('/src/agent/agent.js')), `agent.js recorded: ${loaded.join(' ')}`);
  assert.ok(loaded.some((f) => /node_modules\/ws\/lib\/websocket\.js$/.test(f)), 'ws recorded');
  for (const [pattern, what] of NOT_LOADED) {
    const found = loaded.filter((f) => pattern.test(f));
    assert.deepEqual(found, [], `the agent loaded ${what}`);
  }
  // Its log lines are JSON lines with pino's fields.
  const running = output.split('\n').find((l) => l.includes('"agent running"'));
  assert.ok(running, `an "agent running" line: ${output}`);
  assert.deepEqual(Object.keys(JSON.parse(running) as object).slice(0, 4), ['level', 'time', 'pid', 'name']);
});
