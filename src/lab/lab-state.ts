// The lab's state file (lab.json): who the actors are, where their keys are, and which processes run.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSecureFile } from '../identity/index.js';

/** An actor's role (docs/cli.md `hypha lab status`). */
export type ActorRole = 'gateway' | 'customer' | 'admin' | 'farmer' | 'ledger';

/** Which ledger the lab's ledger actor runs (docs/cli.md `hypha lab up --ledger`). */
export type LabLedgerKind = 'embedded' | 'unyt';

/** Where the lab's gateway keeps its state (docs/cli.md `hypha lab up --store`). */
export type LabStoreKind = 'embedded' | 'postgres';

/** One actor of the lab: a host with its own namespace, Mycelium address and /64. */
export interface LabActor {
  readonly name: string;
  readonly role: ActorRole;
  readonly address: string;
  readonly subnet: string;
  /** The actor's Unyt key file (ed25519). */
  readonly key: string;
  /** The actor's network namespace. */
  readonly ns: string;
  /** The actor's long-running process (gateway, agent, ledger), if it has one. */
  readonly pid?: number;
  /** Its log file, when it has a process. */
  readonly log?: string;
  /** For farmers: the node id the agent speaks for. */
  readonly node?: string;
  /** The hypha arguments its process runs with, so the lab can restart it. */
  readonly command?: readonly string[];
}

/** The whole lab. */
export interface LabState {
  readonly v: 1;
  readonly name: string;
  readonly dir: string;
  readonly hourSeconds: number;
  readonly epochMs: number;
  readonly gateway: { readonly address: string; readonly port: number; readonly url: string; readonly pid: number; readonly agent: string };
  readonly actors: readonly LabActor[];
  /** "unyt" when the ledger actor is the Unyt conductor stand-in; absent for the embedded ledger. */
  readonly ledger?: LabLedgerKind;
  /** "postgres" when the gateway's state is on the lab's PostgreSQL server (DIR/postgres); absent for the embedded store. */
  readonly store?: LabStoreKind;
  /** The foreground `hypha lab up` that waits for Ctrl-C, if the lab was not started with --detach. */
  readonly supervisorPid?: number;
  /** Running `hypha lab admin-proxy` processes (in the root namespace), so `lab down` stops them too. */
  readonly proxyPids?: readonly number[];
}

/** Where `lab up` keeps each actor's Mycelium address beside its key, so `lab up --keep` can reuse both. */
export function addressesPath(dir: string): string {
  return join(dir, 'keys', 'addresses.json');
}

/**
 * Changes the state file with `change` if a lab is up in `dir` (read, change, write; the lab's
 * commands run one at a time per person, so no lock). Answers the new state, or null when no lab is up.
 */
export function updateLabState(dir: string, change: (state: LabState) => LabState): LabState | null {
  const state = readLabState(dir);
  if (!state) return null;
  const next = change(state);
  writeLabState(next);
  return next;
}

/** Where labs live unless --dir says otherwise: data/lab in the hypha folder. */
export const DEFAULT_LAB_DIR = fileURLToPath(new URL('../../../data/lab', import.meta.url));

/** The folder of the lab: --dir, else $HYPHA_LAB_DIR, else data/lab. */
export function labDir(dir: string | undefined): string {
  return resolve(dir ?? process.env.HYPHA_LAB_DIR ?? DEFAULT_LAB_DIR);
}

/** The state file's path. */
export function statePath(dir: string): string {
  return join(dir, 'lab.json');
}

/** Reads the lab's state, or null when no lab is up there. */
export function readLabState(dir: string): LabState | null {
  const path = statePath(dir);
  if (!existsSync(path)) return null;
  return JSON.parse(readFileSync(path, 'utf8')) as LabState;
}

/** Writes the lab's state (mode 0600). */
export function writeLabState(state: LabState): void {
  writeSecureFile(statePath(state.dir), JSON.stringify(state, null, 2) + '\n');
}

/** The repository's `hypha` launcher, which lab processes run. */
export const HYPHA_BIN = fileURLToPath(new URL('../../../bin/hypha.js', import.meta.url));

/**
 * How a person at `cwd` runs this checkout's `hypha`: `./bin/hypha.js` from the repository's
 * folder, a relative path from inside it, the absolute path from anywhere else. Messages print
 * this rather than a bare `hypha`, which is not on the PATH of a fresh clone.
 */
export function hyphaCommand(cwd: string = process.cwd()): string {
  const fromRoot = relative(dirname(dirname(HYPHA_BIN)), resolve(cwd));
  if (fromRoot.startsWith('..') || isAbsolute(fromRoot)) return HYPHA_BIN;
  const rel = relative(resolve(cwd), HYPHA_BIN);
  return rel.startsWith('.') ? rel : `./${rel}`;
}
