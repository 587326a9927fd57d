// What the lab benches share to drive a lab: commands in their own process group, curl from an actor's namespace, and `hypha lab up` with its teardown.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCurlOutput, type CurlOutput } from '../src/lab/curl-output.js';
import { readLabState, type LabActor, type LabState } from '../src/lab/lab-state.js';
import type { Teardown } from './teardown.js';

/** The repository root (the benches run as dist/bench/*.js). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The `hypha` command of this checkout. */
export const HYPHA_BIN = join(ROOT, 'bin', 'hypha.js');

/** What one finished command printed. */
export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}


/** How a command runs: its input, when it is killed, and whether it may still start (and is left to finish) once the teardown began. */
export interface RunOptions {
  readonly input?: string;
  readonly timeoutMs?: number;
  readonly finishOnTeardown?: boolean;
}

/** A lab brought up for a bench: its folder and its state (lab.json). */
export interface BenchLab {
  readonly dir: string;
  readonly state: LabState;
}

/**
 * The commands one bench runs. Each child gets its own process group, so a Ctrl-C reaches only the
 * bench, which then ends them in order (`stopAll` first): a `lab up` cut off half-way would leave
 * namespaces behind.
 */
export class BenchCommands {
  private readonly children = new Set<ChildProcess>();

  /** `bench` names the bench in messages; `teardown` is the run's (commands stop starting once it began). */
  constructor(
    private readonly bench: string,
    private readonly teardown: Teardown,
  ) {}

  /** Ends every command still running (give this to the Teardown as its first step). */
  stopAll(): void {
    for (const child of this.children) child.kill('SIGTERM');
  }

  /** Runs a command to completion; killed after `timeoutMs` (60 s). */
  run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      if (this.teardown.started && options.finishOnTeardown !== true) {
        reject(new Error(`interrupted before ${cmd} ${args.slice(0, 4).join(' ')}`));
        return;
      }
      const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
      if (options.finishOnTeardown !== true) this.children.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
      child.on('error', (err) => {
        clearTimeout(timer);
        this.children.delete(child);
        reject(err);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        this.children.delete(child);
        resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
      });
      // A command that exits without reading its input (a failed curl) must not crash the bench: its exit code says what went wrong.
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input ?? '');
    });
  }

  /** Runs `cmd args` in an actor's namespace, so its Mycelium address is the source. */
  runAs(actor: LabActor, cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    return this.run('ip', ['netns', 'exec', actor.ns, cmd, ...args], options);
  }

  /**
   * curl from `actor` to `url`; a JSON `body` is sent as the request body, and curl gives up after
   * `maxSeconds` (15). Throws when curl itself fails (no answer).
   */
  async curl(actor: LabActor, method: string, url: string, body?: unknown, maxSeconds = 15): Promise<CurlOutput> {
    const args = ['-s', '-S', '--max-time', String(maxSeconds), '-X', method, '-w', '\n%{http_code}', url];
    if (body !== undefined) args.push('-H', 'content-type: application/json', '--data-binary', '@-');
    const r = await this.runAs(actor, 'curl', args, body === undefined ? {} : { input: JSON.stringify(body) });
    if (r.code !== 0) throw new Error(`curl ${method} ${url} from ${actor.name} failed (${r.code}): ${r.stderr.trim()}`);
    return parseCurlOutput(r.stdout);
  }

  /**
   * `hypha lab up --detach` in a fresh folder under a unique name (`prefix` and 6 hex digits) with
   * `args` added; the teardown brings it down and removes the folder (kept with HYPHA_KEEP_LAB=1).
   */
  async labUp(prefix: string, args: readonly string[], timeoutMs: number): Promise<BenchLab> {
    const dir = mkdtempSync(join(tmpdir(), `hypha-${this.bench.replace('/', '-')}-`));
    const name = `${prefix}${randomBytes(3).toString('hex')}`;
    this.teardown.add(() => {
      if (process.env.HYPHA_KEEP_LAB === '1') process.stderr.write(`${this.bench}: lab folder kept in ${dir}\n`);
      else rmSync(dir, { recursive: true, force: true });
    });
    process.stderr.write(`${this.bench}: lab ${name} up in ${dir}\n`);
    const starting = this.run(process.execPath, [HYPHA_BIN, 'lab', 'up', '--detach', '--dir', dir, '--name', name, ...args], { timeoutMs, finishOnTeardown: true });
    this.teardown.add(async () => {
      await starting.catch(() => undefined);
      const down = await this.run(process.execPath, [HYPHA_BIN, 'lab', 'down', '--dir', dir], { timeoutMs: 60_000, finishOnTeardown: true });
      if (down.code !== 0) throw new Error(`hypha lab down --dir ${dir} failed (${down.code}): ${down.stderr.trim()}`);
    });
    const up = await starting;
    if (up.code !== 0) throw new Error(`hypha lab up failed (${up.code}): ${up.stderr.trim()}${up.stdout.trim()}`);
    const state = readLabState(dir);
    if (!state) throw new Error(`hypha lab up wrote no lab.json in ${dir}`);
    return { dir, state };
  }
}
