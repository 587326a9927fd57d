// bench/agent-import: resident memory of a process that loads the production agent and uses its crypto, against a bare Node process, in the same run (no lab needed).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { median } from './measure.js';

/** This build's dist folder (this file runs as dist/bench/agent-import.js). */
const THIS_DIST = fileURLToPath(new URL('../', import.meta.url));
const { values: options } = parseArgs({ options: { base: { type: 'string' }, rounds: { type: 'string' }, settle: { type: 'string' } } });
const ROUNDS = Number(options.rounds ?? 5);
const SETTLE_MS = Number(options.settle ?? 3) * 1000;

/**
 * What the production agent (`hypha agent`) does with its libraries at start and each heartbeat:
 * imports the CLI's agent command and src/agent (ws, pino, src/identity, src/protocol), makes a key, signs a hello-like statement and chains 100
 * heartbeats; then idles like an agent between heartbeats.
 */
function agentScript(dist: string): string {
  const url = (p: string): string => JSON.stringify(new URL(p, 'file://' + resolve(dist) + '/').href);
  return `
const agent = await import(${url('src/agent/index.js')});
const command = await import(${url('src/cli/agent-command.js')});
const id = await import(${url('src/identity/index.js')});
const hb = await import(${url('src/protocol/heartbeat.js')});
const me = id.newIdentity();
const sig = id.signJsonStatement(me.secretKey, 'hypha/agent-auth/v1', { agent: me.agent, nonce: 'x', nodes: ['n1'] });
let head = hb.GENESIS_HEAD;
for (let seq = 1; seq <= 100; seq++) head = hb.chainNext(head, { seq, atMs: Date.now(), nodes: [{ id: 'n1', up: true }], vms: [{ id: 'vm1', reachable: true, rttMicros: 120 }] });
if (typeof agent.Agent !== 'function' || Object.keys(command).length === 0 || sig.length !== 64 || head.length !== 64) process.exit(3);
process.stdout.write((id.cryptoPrimitives?.().name ?? 'libsodium') + '\\n');
setInterval(() => {}, 1000);`;
}

const variants: Array<{ name: string; args: string[] }> = [{ name: 'bare node', args: ['-e', 'setInterval(() => {}, 1000)'] }];
if (options.base) variants.push({ name: `agent at ${options.base}`, args: ['--input-type=module', '-e', agentScript(join(options.base, 'dist'))] });
variants.push({ name: 'agent (this build)', args: ['--input-type=module', '-e', agentScript(THIS_DIST)] });

function rssMib(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function once(v: { name: string; args: string[] }): Promise<{ rss: number; primitives: string }> {
  const child = spawn(process.execPath, v.args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await sleep(SETTLE_MS);
  if (child.exitCode !== null || child.pid === undefined) throw new Error(`${v.name} exited with ${child.exitCode}`);
  const rss = rssMib(child.pid);
  child.kill();
  return { rss, primitives: out.trim() || '-' };
}

const samples = new Map<string, number[]>(variants.map((v) => [v.name, []]));
const primitives = new Map<string, string>();
for (let r = 0; r < ROUNDS; r++) {
  for (const v of variants) {
    const s = await once(v);
    samples.get(v.name)?.push(s.rss);
    primitives.set(v.name, s.primitives);
  }
}
const bare = median(samples.get('bare node') ?? []);
process.stdout.write(`${ROUNDS} interleaved rounds, RSS ${SETTLE_MS / 1000} s after start, node ${process.version}\n\n`);
process.stdout.write('| process | primitives | RSS MiB (median) | range | over bare node |\n|---|---|---:|---:|---:|\n');
for (const v of variants) {
  const list = samples.get(v.name) ?? [];
  const m = median(list);
  process.stdout.write(`| ${v.name} | ${primitives.get(v.name)} | ${m.toFixed(1)} | ${Math.min(...list).toFixed(1)}–${Math.max(...list).toFixed(1)} | +${(m - bare).toFixed(1)} |\n`);
}
