// bench/agent-running: resident memory of a real `hypha agent` process, welcomed by a fake gateway endpoint and heartbeating, against a bare Node process, in the same run (no lab needed).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { newIdentity, saveKeyFile } from '../src/identity/index.js';
import { FakeGatewayEndpoint } from '../test/agent/fake-gateway-endpoint.js';
import { median } from './measure.js';

/** This checkout's launcher (this file runs as dist/bench/agent-running.js). */
const THIS_BIN = fileURLToPath(new URL('../../bin/hypha.js', import.meta.url));
const { values: options } = parseArgs({ options: { base: { type: 'string' }, rounds: { type: 'string' }, settle: { type: 'string' }, interval: { type: 'string' } } });
const ROUNDS = Number(options.rounds ?? 5);
const SETTLE_MS = Number(options.settle ?? 10) * 1000;
/**
 * The agent's configured heartbeat interval (s): production's 15 by default, so the agent sends one heartbeat before the
 * sample (the fake's welcome asks for 200 ms, which applies from the next beat on); a short one (0.2) has it beat all along.
 */
const INTERVAL_S = Number(options.interval ?? 15);

/** Resident memory of `pid` in MiB: all of it, anonymous (heaps, stacks) and file-backed (pages of the node binary), from /proc/PID/status. */
interface Rss {
  readonly rss: number;
  readonly anon: number;
  readonly file: number;
}

function rssOf(pid: number): Rss {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) / 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') };
}

/** CPU time (user + system) `pid` has used so far, in ms (/proc/PID/stat, clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** RSS of `bin agent` SETTLE_MS after start, against a fake endpoint (test/agent/fake-gateway-endpoint.ts) that welcomes it. */
async function agentRss(bin: string): Promise<{ rss: Rss; cpuMs: number; heartbeats: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'hypha-agent-running-'));
  const endpoint = new FakeGatewayEndpoint([]);
  try {
    const url = await endpoint.listen();
    saveKeyFile(join(dir, 'agent.key'), newIdentity());
    writeFileSync(join(dir, 'agent.json'), JSON.stringify({ gateway: url, keyFile: 'agent.key', stateDir: 'state', nodes: [{ id: 'node-1' }], heartbeatIntervalSeconds: INTERVAL_S }));
    const child = spawn(process.execPath, [bin, 'agent', '--config', join(dir, 'agent.json')], { stdio: 'ignore' });
    await sleep(SETTLE_MS);
    if (child.exitCode !== null || child.pid === undefined) throw new Error(`${bin} agent exited with ${child.exitCode}`);
    const rss = rssOf(child.pid);
    const cpu = cpuMs(child.pid);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    return { rss, cpuMs: cpu, heartbeats: endpoint.messages('heartbeat').length };
  } finally {
    await endpoint.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function bareRss(): Promise<Rss> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await sleep(Math.min(SETTLE_MS, 3000));
  const rss = rssOf(child.pid as number);
  child.kill();
  return rss;
}

const variants: Array<[string, string]> = [];
if (options.base) variants.push([`agent at ${options.base}`, join(options.base, 'bin', 'hypha.js')]);
variants.push(['agent (this build)', THIS_BIN]);
const samples = new Map<string, Rss[]>([['bare node', []], ...variants.map(([name]): [string, Rss[]] => [name, []])]);
const cpu = new Map<string, number[]>(variants.map(([name]): [string, number[]] => [name, []]));
const heartbeats = new Map<string, number>();
const loadStart = loadavg()[0] ?? NaN;
for (let r = 0; r < ROUNDS; r++) {
  samples.get('bare node')?.push(await bareRss());
  for (const [name, bin] of variants) {
    const s = await agentRss(bin);
    samples.get(name)?.push(s.rss);
    cpu.get(name)?.push(s.cpuMs);
    heartbeats.set(name, Math.min(heartbeats.get(name) ?? Infinity, s.heartbeats));
  }
}
const bare = median((samples.get('bare node') ?? []).map((s) => s.rss));
process.stdout.write(`${ROUNDS} interleaved rounds, agent RSS ${SETTLE_MS / 1000} s after start (welcomed, heartbeating; configured interval ${INTERVAL_S} s), node ${process.version}, load average ${loadStart.toFixed(1)} -> ${(loadavg()[0] ?? NaN).toFixed(1)}\n\n`);
process.stdout.write('| process | RSS MiB (median) | range | over bare node | per round, over bare | anonymous / file-backed MiB (medians) | CPU ms to the sample (median) | heartbeats sent (fewest) |\n|---|---:|---:|---:|---|---:|---:|---:|\n');
for (const [name, list] of samples) {
  const rss = list.map((s) => s.rss);
  const m = median(rss);
  const cpuList = cpu.get(name);
  const perRound = rss.map((r) => `${r - bare >= 0 ? '+' : ''}${(r - bare).toFixed(1)}`).join(', ');
  const split = `${median(list.map((s) => s.anon)).toFixed(1)} / ${median(list.map((s) => s.file)).toFixed(1)}`;
  process.stdout.write(`| ${name} | ${m.toFixed(1)} | ${Math.min(...rss).toFixed(1)}–${Math.max(...rss).toFixed(1)} | +${(m - bare).toFixed(1)} | ${perRound} | ${split} | ${cpuList ? median(cpuList).toFixed(0) : '–'} | ${heartbeats.get(name) ?? '–'} |\n`);
}
