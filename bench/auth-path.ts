// bench/auth-path: whoami's request path without a lab — bare Koa against the gateway's createApp of this build (and of another build, for an A/B) in a private network namespace, CPU per request from /proc.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { errorMessage } from '../src/identity/error-message.js';
import { median } from './measure.js';
import { cpuSeconds } from './processes.js';
import { positiveIntegerOption, Teardown } from './teardown.js';

/** The repository root (this file runs as dist/bench/auth-path.js). */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const BARE_SERVER = join(ROOT, 'dist', 'bench', 'bare-koa-server.js');
const PATH_SERVER = join(ROOT, 'dist', 'bench', 'auth-path-server.js');
const AUTOCANNON = join(ROOT, 'node_modules', 'autocannon', 'autocannon.js');
/** Set in the re-run inside the namespace. */
const IN_NS = 'HYPHA_AUTH_PATH_NS';
/** The servers' address on the namespace's lo: a Mycelium (400::/7) address, as the gateway requires of its callers. */
const ADDRESS = '4ab:cd:ef01:2345::1';

const USAGE = 'usage (root): node dist/bench/auth-path.js [--base DIR (another built checkout, e.g. the base commit, compared in the same rounds)] [--rounds N (9)] [--seconds S (3)] [--connections C (32)]';
const { values: options } = parseArgs({ options: { base: { type: 'string' }, rounds: { type: 'string' }, seconds: { type: 'string' }, connections: { type: 'string' } } });
const ROUNDS = positiveIntegerOption('bench/auth-path', USAGE, 'rounds', options.rounds, 9);
const SECONDS = positiveIntegerOption('bench/auth-path', USAGE, 'seconds', options.seconds, 3);
const CONNECTIONS = positiveIntegerOption('bench/auth-path', USAGE, 'connections', options.connections, 32);
const WARMUP_SECONDS = 2;

/** One server under load. */
interface Target {
  readonly name: string;
  readonly url: string;
  readonly child: ChildProcess;
  readonly rounds: Round[];
}

/** One autocannon run against one server. */
interface Round {
  readonly requestsPerSecond: number;
  readonly cpuMicrosPerRequest: number;
}

const children = new Set<ChildProcess>();
const teardown = new Teardown('bench/auth-path', () => {
  for (const child of children) child.kill('SIGTERM');
});

/** Starts `script args` and resolves once it prints its listening line. */
function startServer(name: string, script: string, args: readonly string[], port: number): Promise<Target> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  return new Promise((resolveStart, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`${name}: not listening after 20 s: ${output}`)), 20_000);
    const onData = (d: Buffer): void => {
      output += d.toString('utf8');
      if (output.includes('listening')) {
        clearTimeout(timer);
        resolveStart({ name, url: `http://[${ADDRESS}]:${port}/v1/whoami`, child, rounds: [] });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}) before listening: ${output.trim()}`));
    });
  });
}

/** autocannon against `target` for `seconds`; every answer must be 2xx. */
function load(target: Target, seconds: number, ticksPerSecond: number): Promise<Round & { total: number }> {
  const pid = target.child.pid as number;
  const before = cpuSeconds(pid, ticksPerSecond);
  const cannon = spawn(process.execPath, [AUTOCANNON, '--json', '-c', String(CONNECTIONS), '-d', String(seconds), target.url], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(cannon);
  return new Promise((resolveLoad, reject) => {
    let out = '';
    cannon.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    cannon.once('close', (code) => {
      children.delete(cannon);
      if (code !== 0) return reject(new Error(`autocannon ${target.url} failed (${code})`));
      const r = JSON.parse(out) as { requests: { average: number; total: number }; non2xx: number; errors: number; timeouts: number };
      if (r.requests.total === 0 || r.non2xx !== 0 || r.errors !== 0 || r.timeouts !== 0) {
        return reject(new Error(`${target.name}: ${r.requests.total} requests, ${r.non2xx} not 2xx, ${r.errors} errors, ${r.timeouts} timeouts; every response must be 2xx`));
      }
      const cpu = cpuSeconds(pid, ticksPerSecond) - before;
      resolveLoad({ requestsPerSecond: r.requests.average, cpuMicrosPerRequest: (cpu * 1e6) / r.requests.total, total: r.requests.total });
    });
  });
}

async function main(): Promise<void> {
  if (process.env[IN_NS] !== '1') {
    // Re-run inside a new network namespace of its own: nothing outside it is touched, and it goes with the process.
    const child = spawn('unshare', ['-n', process.execPath, SELF, ...process.argv.slice(2)], { stdio: 'inherit', env: { ...process.env, [IN_NS]: '1' } });
    process.exitCode = await new Promise<number>((done) => child.once('close', (code) => done(code ?? 1)));
    return;
  }
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
  execFileSync('ip', ['addr', 'add', `${ADDRESS}/64`, 'dev', 'lo', 'nodad']);
  const base = options.base === undefined ? undefined : resolve(options.base);
  if (base !== undefined && !existsSync(join(base, 'dist', 'src', 'gateway', 'http', 'app.js'))) throw new Error(`--base ${base}: no built gateway there (dist/src/gateway/http/app.js); build it first`);
  const ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  const targets: Target[] = [await startServer('bare Koa hello-world', BARE_SERVER, [ADDRESS, '9100'], 9100)];
  if (base !== undefined) targets.push(await startServer(`whoami path, ${base}`, PATH_SERVER, [base, ADDRESS, '9101'], 9101));
  targets.push(await startServer('whoami path, this build', PATH_SERVER, [ROOT, ADDRESS, '9102'], 9102));
  for (const t of targets) await load(t, WARMUP_SECONDS, ticksPerSecond);
  for (let round = 1; round <= ROUNDS; round++) {
    // Alternate the order, so a load that rises or falls across a round does not always favour one server.
    const order = round % 2 === 1 ? targets : [...targets].reverse();
    for (const t of order) {
      process.stderr.write(`bench/auth-path: round ${round}/${ROUNDS}: ${t.name}\n`);
      t.rounds.push(await load(t, SECONDS, ticksPerSecond));
    }
  }
  const bare = targets[0] as Target;
  const cpu = cpus();
  const rows = ['| server | requests/s | CPU µs/request | CPU ratio to bare Koa | requests/s ratio |', '|---|---:|---:|---:|---:|'];
  for (const t of targets) {
    const cpuRatio = median(t.rounds.map((r, i) => r.cpuMicrosPerRequest / (bare.rounds[i] as Round).cpuMicrosPerRequest));
    const rpsRatio = median(t.rounds.map((r, i) => r.requestsPerSecond / (bare.rounds[i] as Round).requestsPerSecond));
    rows.push(`| ${t.name} | ${median(t.rounds.map((r) => r.requestsPerSecond)).toFixed(0)} | ${median(t.rounds.map((r) => r.cpuMicrosPerRequest)).toFixed(1)} | ${cpuRatio.toFixed(2)} | ${rpsRatio.toFixed(2)} |`);
  }
  const lines = [
    `machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, node ${process.version}, load average at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')}`,
    `autocannon -c ${CONNECTIONS} -d ${SECONDS} against each server in turn, ${ROUNDS} rounds (order alternating) after a ${WARMUP_SECONDS} s warm-up; one private network namespace, no lab; medians of the rounds, ratios are the median of each round's ratio`,
    '',
    ...rows,
    '',
    `per round, CPU µs/request: ${targets.map((t) => `${t.name}: ${t.rounds.map((r) => r.cpuMicrosPerRequest.toFixed(1)).join(', ')}`).join('; ')}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

try {
  await main();
} catch (err) {
  process.stderr.write(`bench/auth-path: ${errorMessage(err)}\n`);
  process.exitCode = 1;
} finally {
  await teardown.run();
}
