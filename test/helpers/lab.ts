// A lab for one test file: brought up with the real `hypha lab up`, driven with real curl in the actors' namespaces.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { errorMessage } from '../../src/identity/error-message.js';
import { parseCurlOutput, type CurlOutput } from '../../src/lab/curl-output.js';
import { readLabState, type LabActor, type LabState } from '../../src/lab/lab-state.js';
import { scratchDir } from './paths.js';
import { hypha, runCommand, type RunResult } from './run.js';

/** What curl got back. */
export type CurlResult = CurlOutput;

/** A running lab, torn down when the test ends. */
export interface TestLab {
  readonly dir: string;
  state(): LabState;
  actor(name: string): LabActor;
  /** The gateway's base URL: the state's `gateway`, which `hypha lab` commands point at the active one in a two-gateway lab. */
  readonly gw: string;
  /** Runs a command in an actor's namespace (its Mycelium address is the source). */
  exec(actor: string, cmd: string, args: string[], input?: string): Promise<RunResult>;
  /** curl from an actor; `body` is sent as JSON text (a string is sent as is). */
  curl(actor: string, method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<CurlResult>;
  /** `hypha lab …` with this lab's --dir. */
  lab(sub: string, ...args: string[]): Promise<RunResult>;
}

/**
 * `skip` for every lab test: false when the lab can run (root), else the one-line reason.
 * `npm run test:unit` sets HYPHA_TEST_NO_LAB=1 to leave the lab out on purpose. Under CI
 * (CI=true) a lab test must never be skipped silently: not being root there is an error.
 */
export const LAB_SKIP: string | false = labSkipReason();

function labSkipReason(): string | false {
  if (process.env.HYPHA_TEST_NO_LAB === '1') return 'lab test left out (HYPHA_TEST_NO_LAB=1, npm run test:unit)';
  if (process.getuid?.() === 0) return false;
  if (process.env.CI === 'true' || process.env.CI === '1') {
    throw new Error('lab tests need root (network namespaces) and CI must run them: run CI as root');
  }
  return 'needs root for network namespaces: run `npm test` as root, or `npm run test:unit` for the root-free part';
}

/** The store every lab of the suite uses: HYPHA_TEST_STORE, "embedded" (default) or "postgres". */
export const TEST_STORE: 'embedded' | 'postgres' = process.env.HYPHA_TEST_STORE === 'postgres' ? 'postgres' : 'embedded';

/** The last `lines` lines of each log of a lab (gateways, agents, ledger), to explain a failure in CI's output. */
export function labLogTails(dir: string, lines = 25): string {
  const logs = join(dir, 'logs');
  if (!existsSync(logs)) return '(no logs)';
  return readdirSync(logs)
    .filter((f) => f.endsWith('.log'))
    .sort()
    .map((f) => `--- ${f} (last ${lines} lines)\n${readFileSync(join(logs, f), 'utf8').trimEnd().split('\n').slice(-lines).join('\n')}`)
    .join('\n');
}

/** Brings up a lab in a scratch folder (unique name) and registers its teardown on `t`. */
export async function startLab(t: TestContext, options: { hour?: number; linkTtl?: number; extra?: string[] } = {}): Promise<TestLab> {
  if (LAB_SKIP !== false) throw new Error(`startLab: ${LAB_SKIP} (declare the test with { skip: LAB_SKIP })`);
  const { dir, remove } = scratchDir('hypha-lab-');
  const name = `t${randomBytes(3).toString('hex')}`;
  const args = ['lab', 'up', '--detach', '--dir', dir, '--name', name, '--hour', String(options.hour ?? 2)];
  if (options.linkTtl !== undefined) args.push('--link-ttl', String(options.linkTtl));
  // HYPHA_TEST_STORE=postgres runs the lab suite with the gateway's state on a real PostgreSQL server.
  if (TEST_STORE === 'postgres' && !(options.extra ?? []).includes('--store')) args.push('--store', 'postgres');
  const up = await hypha([...args, ...(options.extra ?? [])], { timeoutMs: 120_000 });
  t.after(async () => {
    await hypha(['lab', 'down', '--dir', dir]);
    if (process.env.HYPHA_KEEP_LAB !== '1') remove();
  });
  if (up.code !== 0) throw new Error(`hypha lab up failed (${up.code}): ${up.stderr}${up.stdout}`);
  const state = (): LabState => {
    const s = readLabState(dir);
    if (!s) throw new Error(`no lab state in ${dir}`);
    return s;
  };
  const actor = (n: string): LabActor => {
    const a = state().actors.find((x) => x.name === n);
    if (!a) throw new Error(`no actor ${n}`);
    return a;
  };
  const exec = (a: string, cmd: string, cmdArgs: string[], input?: string): Promise<RunResult> =>
    runCommand('ip', ['netns', 'exec', actor(a).ns, cmd, ...cmdArgs], input === undefined ? {} : { input });
  return {
    dir,
    get gw() {
      return state().gateway.url;
    },
    state,
    actor,
    exec,
    lab: (sub: string, ...a: string[]) => hypha(['lab', sub, '--dir', dir, ...a], { timeoutMs: 60_000 }),
    async curl(a, method, path, body, headers = {}) {
      const curlArgs = ['-s', '-S', '--max-time', '15', '-X', method, '-w', '\n%{http_code}', `${state().gateway.url}${path}`];
      for (const [k, v] of Object.entries(headers)) curlArgs.push('-H', `${k}: ${v}`);
      let input: string | undefined;
      if (body !== undefined) {
        input = typeof body === 'string' ? body : JSON.stringify(body);
        curlArgs.push('-H', 'content-type: application/json', '--data-binary', '@-');
      }
      const r = await exec(a, 'curl', curlArgs, input);
      if (r.code !== 0) throw new Error(`curl failed (${r.code}): ${r.stderr}`);
      return parseCurlOutput(r.stdout);
    },
  };
}

/** The `error.code` of an error body. */
export function errorCode(r: CurlResult): unknown {
  return (r.json as { error?: { code?: unknown } } | undefined)?.error?.code;
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${errorMessage(last)}` : ''}`);
}
