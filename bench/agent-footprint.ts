// bench/agent-footprint: the farmer agent's resident memory and idle CPU in a real lab, with and without VMs, against a bare Node process in the same windows.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../src/identity/error-message.js';
import { loadKeyFile, newIdentity, toBase64, writeSecureFile } from '../src/identity/index.js';
import { HYPHA_BIN, readLabState, type LabActor, type LabState } from '../src/lab/lab-state.js';
import { median } from './measure.js';
import { Teardown } from './teardown.js';
import { runCommand } from '../test/helpers/run.js';

/** Seconds each window samples when heartbeats come every 100 ms (BENCH_WINDOW_SECONDS). */
const WINDOW_SECONDS = Number(process.env.BENCH_WINDOW_SECONDS ?? 30);
/** Production's heartbeat interval (docs/architecture.md "Agents and up-time"), set on the second lab's gateway. */
const PRODUCTION_HEARTBEAT_SECONDS = 15;
/** Windows of the production-interval lab are longer, so they hold at least four heartbeats (BENCH_SLOW_WINDOW_SECONDS). */
const SLOW_WINDOW_SECONDS = Number(process.env.BENCH_SLOW_WINDOW_SECONDS ?? Math.max(WINDOW_SECONDS, 4 * PRODUCTION_HEARTBEAT_SECONDS));
/** Small VMs bought in each lab (spread over the two farmers' nodes by the gateway). */
const VMS = Number(process.env.BENCH_VMS ?? 3);
/** Seconds to let a process settle after a change before a window starts. */
const SETTLE_SECONDS = 5;

const CLK_TCK = clockTicks();
const out = (line = ''): boolean => process.stdout.write(line + '\n');



async function hypha(...args: string[]): Promise<string> {
  const r = await runCommand(process.execPath, [HYPHA_BIN, ...args], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`hypha ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

function clockTicks(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

/** One reading of a process: CPU ticks so far (utime + stime) and resident set (KiB). */
interface Reading {
  readonly atMs: number;
  readonly ticks: number;
  readonly rssKib: number;
}

function read(pid: number): Reading {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After "pid (comm) ", field 3 (state) is index 0, so utime (14) and stime (15) are 11 and 12.
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rss = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { atMs: Date.now(), ticks, rssKib: rss ? Number(rss[1]) : NaN };
}

/** A window's summary for one process. */
interface Footprint {
  readonly rssMedianMib: number;
  readonly rssMaxMib: number;
  readonly cpuPercent: number;
}

/** Samples every pid once a second for `seconds`; CPU% is of one core over the whole window. */
async function sampleWindow(pids: ReadonlyMap<string, number>, seconds: number): Promise<Map<string, Footprint>> {
  const readings = new Map<string, Reading[]>([...pids.keys()].map((k) => [k, []]));
  const take = (): void => {
    for (const [name, pid] of pids) readings.get(name)?.push(read(pid));
  };
  take();
  for (let s = 0; s < seconds; s++) {
    await sleep(1000);
    take();
  }
  const result = new Map<string, Footprint>();
  for (const [name, list] of readings) {
    const first = list[0] as Reading;
    const last = list[list.length - 1] as Reading;
    const rss = list.map((r) => r.rssKib / 1024);
    result.set(name, { rssMedianMib: median(rss), rssMaxMib: Math.max(...rss), cpuPercent: (100 * (last.ticks - first.ticks)) / CLK_TCK / ((last.atMs - first.atMs) / 1000) });
  }
  return result;
}

/** A lab brought up by this bench, driven with the real CLI and curl in the actors' namespaces. */
class BenchLab {
  private constructor(readonly dir: string) {}

  static async up(hourSeconds: number): Promise<BenchLab> {
    const dir = mkdtempSync(join(tmpdir(), 'hypha-bench-agent-'));
    const lab = new BenchLab(dir);
    labs.push(lab);
    const name = `bf${Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, '0')}`;
    await hypha('lab', 'up', '--detach', '--dir', dir, '--name', name, '--hour', String(hourSeconds));
    return lab;
  }

  state(): LabState {
    const s = readLabState(this.dir);
    if (!s) throw new Error(`no lab state in ${this.dir}`);
    return s;
  }

  actor(name: string): LabActor {
    const a = this.state().actors.find((x) => x.name === name);
    if (!a) throw new Error(`no actor ${name} in the lab`);
    return a;
  }

  pid(name: string): number {
    const pid = this.actor(name).pid;
    if (pid === undefined) throw new Error(`${name} runs no process`);
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmdline.includes('hypha')) throw new Error(`pid ${pid} of ${name} is not a hypha process: ${cmdline}`);
    return pid;
  }

  /** The heartbeat interval the farmer's agent runs at, in real ms (the gateway's welcome sets it). */
  heartbeatRealMs(farmer: string): number | undefined {
    const state = JSON.parse(readFileSync(join(this.dir, farmer, 'state', 'agent-state.json'), 'utf8')) as { heartbeatIntervalMs?: number };
    return state.heartbeatIntervalMs === undefined ? undefined : state.heartbeatIntervalMs / (3600 / this.state().hourSeconds);
  }

  async curl(actor: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const args = ['netns', 'exec', this.actor(actor).ns, 'curl', '-s', '-S', '--max-time', '15', '-X', method, '-w', '\n%{http_code}'];
    if (body !== undefined) args.push('-H', 'content-type: application/json', '--data-raw', JSON.stringify(body));
    args.push(`${this.state().gateway.url}${path}`);
    const r = await runCommand('ip', args, { timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(`curl ${method} ${path} from ${actor} failed: ${r.stderr}`);
    const cut = r.stdout.lastIndexOf('\n');
    return { status: Number(r.stdout.slice(cut + 1)), json: JSON.parse(r.stdout.slice(0, cut) || '{}') as Record<string, unknown> };
  }

  /** Links admin and alice, orders `count` small VMs as alice, funds her, and waits until all are active; VMs per node. */
  async buyVms(count: number): Promise<Map<string, number>> {
    await hypha('lab', 'link', 'admin', '--dir', this.dir);
    await hypha('lab', 'link', 'alice', '--dir', this.dir);
    const alice = loadKeyFile(this.actor('alice').key).agent;
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const placed = await this.curl('alice', 'POST', '/v1/orders', { offer: 'small', sshKeys: [sshPublicKey(`bench-${i}`)] });
      if (placed.status !== 201) throw new Error(`order failed: ${JSON.stringify(placed.json)}`);
      ids.push((placed.json.order as { id: string }).id);
    }
    const funded = await this.curl('admin', 'POST', '/admin/api/ledger/fund', { agent: alice, amount: '100000' });
    if (funded.status !== 200) throw new Error(`funding failed: ${JSON.stringify(funded.json)}`);
    const perNode = new Map<string, number>();
    for (const id of ids) {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const o = (await this.curl('alice', 'GET', `/v1/orders/${id}`)).json.order as { state: string; failure?: string; deployment?: { id: string } };
        if (o.state === 'active' && o.deployment) {
          const d = (await this.curl('alice', 'GET', `/v1/deployments/${o.deployment.id}`)).json.deployment as { node: string };
          perNode.set(d.node, (perNode.get(d.node) ?? 0) + 1);
          break;
        }
        if (o.state === 'failed' || o.state === 'expired' || Date.now() > deadline) throw new Error(`order ${id} is ${o.state}${o.failure ? `: ${o.failure}` : ''}`);
        await sleep(250);
      }
    }
    return perNode;
  }

  /** Sets the gateway's heartbeat interval (lab seconds) and restarts it; agents reconnect and take it up. */
  async setHeartbeat(seconds: number): Promise<void> {
    const path = join(this.dir, 'gateway', 'config.json');
    const config = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    writeSecureFile(path, JSON.stringify({ ...config, heartbeatIntervalSeconds: seconds }, null, 2) + '\n');
    await hypha('lab', 'restart', 'gateway', '--dir', this.dir);
    const wantRealMs = (1000 * seconds) / (3600 / this.state().hourSeconds);
    const deadline = Date.now() + 30_000;
    while (!['farmer1', 'farmer2'].every((f) => this.heartbeatRealMs(f) === wantRealMs)) {
      if (Date.now() > deadline) throw new Error(`the agents did not take up a ${seconds} s heartbeat`);
      await sleep(250);
    }
  }

  async down(): Promise<void> {
    const i = labs.indexOf(this);
    if (i >= 0) labs.splice(i, 1);
    try {
      await hypha('lab', 'down', '--dir', this.dir);
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/** An OpenSSH ed25519 public key line (RFC 8709 section 4 wire format), from a fresh key. */
function sshPublicKey(comment: string): string {
  const type = Buffer.from('ssh-ed25519');
  const key = newIdentity().publicKey;
  const blob = Buffer.alloc(4 + type.length + 4 + key.length);
  blob.writeUInt32BE(type.length, 0);
  type.copy(blob, 4);
  blob.writeUInt32BE(key.length, 4 + type.length);
  blob.set(key, 8 + type.length);
  return `ssh-ed25519 ${toBase64(blob)} ${comment}`;
}

/** Percentage points with two decimals, without a "-0.00". */
function points(value: number): string {
  const text = value.toFixed(2);
  return text === '-0.00' ? '0.00' : text;
}

/** One table row. */
interface Row {
  readonly lab: string;
  readonly process: string;
  readonly heartbeat: string;
  readonly vms: string;
  readonly seconds: number;
  readonly f: Footprint;
  readonly base: Footprint;
}

/** Measures farmer1, farmer2 and the bare Node process in one window. */
async function measureLab(lab: BenchLab, labName: string, seconds: number, vmsPerNode: ReadonlyMap<string, number>, bare: number): Promise<Row[]> {
  const pids = new Map([
    ['farmer1', lab.pid('farmer1')],
    ['farmer2', lab.pid('farmer2')],
    ['bare node', bare],
  ]);
  const result = await sampleWindow(pids, seconds);
  const base = result.get('bare node') as Footprint;
  const rows: Row[] = ['farmer1', 'farmer2'].map((name) => {
    const heartbeatMs = lab.heartbeatRealMs(name) ?? NaN;
    return {
      lab: labName,
      process: `${name} agent`,
      heartbeat: heartbeatMs >= 1000 ? `${heartbeatMs / 1000} s` : `${heartbeatMs} ms`,
      vms: String(vmsPerNode.get(lab.actor(name).node ?? '') ?? 0),
      seconds,
      f: result.get(name) as Footprint,
      base,
    };
  });
  rows.push({ lab: labName, process: 'bare `node -e "setInterval(()=>{},1000)"`', heartbeat: '—', vms: '—', seconds, f: base, base });
  return rows;
}

const labs: BenchLab[] = [];
let bareChild: ReturnType<typeof spawn> | null = null;
const cleanUp = async (): Promise<void> => {
  bareChild?.kill('SIGKILL');
  for (const lab of [...labs]) await lab.down().catch((err: unknown) => process.stderr.write(`lab down in ${lab.dir} failed: ${errorMessage(err)}\n`));
};
const teardown = new Teardown('bench/agent-footprint', cleanUp);

try {
  if (process.getuid?.() !== 0) throw new Error('bench/agent-footprint brings up a lab, which needs root (ip netns)');
  bareChild = spawn(process.execPath, ['-e', 'setInterval(()=>{},1000)'], { stdio: 'ignore' });
  const bare = bareChild.pid as number;
  const rows: Row[] = [];

  // Lab A: the lab's default scaling (--hour 2): agents beat every 100 ms of real time.
  const fast = await BenchLab.up(2);
  await sleep(SETTLE_SECONDS * 1000);
  rows.push(...(await measureLab(fast, 'A: --hour 2', WINDOW_SECONDS, new Map(), bare)));
  const fastVms = await fast.buyVms(VMS);
  await sleep(SETTLE_SECONDS * 1000);
  rows.push(...(await measureLab(fast, 'A: --hour 2', WINDOW_SECONDS, fastVms, bare)));
  await fast.down();

  // Lab B: unscaled time (--hour 3600) and the gateway set to production's 15 s heartbeat.
  const slow = await BenchLab.up(3600);
  await slow.setHeartbeat(PRODUCTION_HEARTBEAT_SECONDS);
  await sleep(SETTLE_SECONDS * 1000);
  rows.push(...(await measureLab(slow, 'B: --hour 3600, 15 s beat', SLOW_WINDOW_SECONDS, new Map(), bare)));
  const slowVms = await slow.buyVms(VMS);
  await sleep(SETTLE_SECONDS * 1000);
  rows.push(...(await measureLab(slow, 'B: --hour 3600, 15 s beat', SLOW_WINDOW_SECONDS, slowVms, bare)));
  await slow.down();

  out('## bench/agent-footprint: the farmer agent at rest');
  out();
  out(`Node ${process.version}; /proc/PID/status VmRSS and /proc/PID/stat utime+stime (CLK_TCK ${CLK_TCK}), read once a second; CPU % is of one core over the window. The bare Node process runs through every window, so each window has its own baseline. VMs are the lab driver's in-process ssh2 endpoints (small offer, ${VMS} bought per lab, placed by the gateway).`);
  out();
  out(`CPU resolution: one clock tick per window, ${(100 / CLK_TCK / WINDOW_SECONDS).toFixed(3)} points over ${WINDOW_SECONDS} s and ${(100 / CLK_TCK / SLOW_WINDOW_SECONDS).toFixed(3)} over ${SLOW_WINDOW_SECONDS} s; differences below it are noise.`);
  out();
  out('| lab | process | heartbeat (real) | VMs on its node | window (s) | RSS median (MiB) | RSS max (MiB) | CPU % of one core | RSS ratio to bare node | CPU over bare node (points) |');
  out('|---|---|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    out(`| ${r.lab} | ${r.process} | ${r.heartbeat} | ${r.vms} | ${r.seconds} | ${r.f.rssMedianMib.toFixed(1)} | ${r.f.rssMaxMib.toFixed(1)} | ${r.f.cpuPercent.toFixed(2)} | ${(r.f.rssMedianMib / r.base.rssMedianMib).toFixed(2)} | ${points(r.f.cpuPercent - r.base.cpuPercent)} |`);
  }
} finally {
  await teardown.run();
}
