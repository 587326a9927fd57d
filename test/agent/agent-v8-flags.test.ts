// `hypha agent` runs without V8's optimising compilers (bin/hypha.js sets the flags): a function made hot inside a running agent is never optimised.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { newIdentity, saveKeyFile } from '../../src/identity/index.js';
import { waitFor } from '../helpers/lab.js';
import { HYPHA_BIN, scratchDir } from '../helpers/paths.js';
import { FakeGatewayEndpoint } from './fake-gateway-endpoint.js';

/**
 * Preloaded into the process (`node --import`): on SIGUSR2 it runs a loop hot enough for V8 to
 * optimise `hotProbe` (with `--trace-opt` V8 then prints a line naming it), then writes HOT_DONE.
 * A signal, not a timer, so the loop surely runs after the launcher has set its flags; HOT_READY
 * says the handler is in place (before it, SIGUSR2 would end the process).
 */
const HOT_PROBE = `
import { writeFileSync } from 'node:fs';
function hotProbe(n) { let s = 0; for (let i = 0; i < n; i++) s = (s + i * 7) % 1000003; return s; }
process.on('SIGUSR2', () => {
  let s = 0;
  for (let i = 0; i < 3000; i++) s += hotProbe(1000);
  writeFileSync(process.env.HOT_DONE, String(s));
});
writeFileSync(process.env.HOT_READY, '');
`;

/** Starts `args` under `node --trace-opt` with the probe, makes the probe hot once `ready` holds, and returns what V8 printed about optimising it. */
async function optimisationLines(dir: string, args: string[], ready: () => boolean, nodeFlags: string[] = []): Promise<{ lines: string[]; output: string; code: number | null }> {
  writeFileSync(join(dir, 'hot-probe.mjs'), HOT_PROBE);
  const name = `${args[0] === '-e' ? 'bare' : 'agent'}${nodeFlags.join('')}`;
  const done = join(dir, `hot-done-${name}`);
  const probeReady = join(dir, `hot-ready-${name}`);
  const child = spawn(process.execPath, [...nodeFlags, '--trace-opt', '--import', pathToFileURL(join(dir, 'hot-probe.mjs')).href, ...args], {
    env: { ...process.env, HOT_DONE: done, HOT_READY: probeReady },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await waitFor('the process to be ready', () => (existsSync(probeReady) && ready() ? true : undefined), 60_000, 50);
    child.kill('SIGUSR2');
    await waitFor('the hot loop to finish', () => (existsSync(done) ? true : undefined), 60_000, 50);
  } finally {
    child.kill('SIGTERM');
  }
  const code = await exited;
  return { lines: output.split('\n').filter((l) => l.includes('hotProbe') && /TURBOFAN|MAGLEV|optimiz/i.test(l)), output, code };
}

test('a running hypha agent never optimises a hot function; the same probe in a plain node process is optimised', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);

  // The control: without the agent launcher's flags V8 optimises the probe, so its absence below means something.
  const bare = await optimisationLines(dir, ['-e', 'setInterval(() => {}, 1000)'], () => true);
  assert.ok(bare.lines.length > 0, `V8 optimised hotProbe in a plain node process: ${bare.output.slice(0, 2000)}`);

  const endpoint = new FakeGatewayEndpoint([]);
  const url = await endpoint.listen();
  t.after(() => endpoint.close());
  saveKeyFile(join(dir, 'agent.key'), newIdentity());
  writeFileSync(join(dir, 'agent.json'), JSON.stringify({ gateway: url, keyFile: 'agent.key', stateDir: 'state', nodes: [{ id: 'node-1' }] }));
  const agent = await optimisationLines(dir, [HYPHA_BIN, 'agent', '--config', join(dir, 'agent.json')], () => endpoint.messages('heartbeat').length > 0);
  assert.equal(agent.code, 0, `the agent stops cleanly on SIGTERM: ${agent.output.slice(-2000)}`);
  assert.deepEqual(agent.lines, [], 'the agent optimised nothing');
  assert.ok(!/for optimization to/.test(agent.output), `no function at all was marked for optimisation in the agent: ${agent.output.split('\n').filter((l) => l.includes('for optimization to')).slice(0, 5).join('\n')}`);

  // A farmer who starts node with --turbofan keeps it (bin/hypha.js: for agents checking huge receipt batches).
  writeFileSync(join(dir, 'agent-kept.json'), JSON.stringify({ gateway: url, keyFile: 'agent.key', stateDir: 'state-kept', nodes: [{ id: 'node-1' }] }));
  const before = endpoint.messages('heartbeat').length;
  const kept = await optimisationLines(dir, [HYPHA_BIN, 'agent', '--config', join(dir, 'agent-kept.json')], () => endpoint.messages('heartbeat').length > before, ['--turbofan']);
  assert.equal(kept.code, 0, `the agent stops cleanly on SIGTERM: ${kept.output.slice(-2000)}`);
  assert.ok(kept.lines.length > 0, `with --turbofan the agent optimised hotProbe: ${kept.output.slice(0, 2000)}`);
});
