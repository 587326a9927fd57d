// A real PostgreSQL server in a folder: initdb, start on a Unix socket only, stop. Used by the lab and the tests.
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A running server and how to reach it. */
export interface PostgresServer {
  /** `postgresql://hypha@/hypha?host=SOCKETDIR&port=PORT`: no password, only the Unix socket (0700 folder). */
  readonly url: string;
  /** The server's data folder (initdb output). */
  readonly dataDir: string;
  /** The folder holding the Unix socket. */
  readonly socketDir: string;
  readonly port: number;
  /** Stops the server (fast shutdown: open transactions roll back, committed ones are durable). */
  stop(): Promise<void>;
}

/** Options for `startPostgres`. */
export interface PostgresServerOptions {
  /** Folder for the cluster: `data/`, `socket/` and `server.log` go inside. Reused when it already holds a cluster. */
  readonly dir: string;
  /** The TCP port number in the socket's name (`.s.PGSQL.PORT`); no TCP listener is opened. */
  readonly port?: number;
  /** The database to create (default `hypha`). */
  readonly database?: string;
}

/** The server's own unprivileged account: PostgreSQL refuses to run as root. */
const SERVER_USER = 'postgres';

/** Finds Debian's server binaries (`/usr/lib/postgresql/NN/bin`), newest major version first. */
export function findPostgresBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) {
    const bin = join(root, v, 'bin');
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'pg_ctl'))) return bin;
  }
  throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql: install Debian\'s package (apt-get install postgresql)');
}

/** Runs a server binary as the unprivileged server account when we are root, else as ourselves. */
async function runAsServer(bin: string, args: string[]): Promise<string> {
  const asRoot = process.getuid?.() === 0;
  const [cmd, argv] = asRoot ? ['runuser', ['-u', SERVER_USER, '--', bin, ...args]] : [bin, args];
  const { stdout } = await run(cmd, argv, { timeout: 120_000 });
  return stdout;
}

/** Gives the server account a folder (or file) it owns, when we are root. */
function serverFolder(path: string): void {
  if (!existsSync(path)) mkdirSync(path, { recursive: true, mode: 0o700 });
  if (process.getuid?.() !== 0) return;
  const uid = Number(readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${SERVER_USER}:`))?.split(':')[2] ?? NaN);
  if (!Number.isInteger(uid)) throw new Error(`no '${SERVER_USER}' account on this machine: Debian's postgresql package makes it`);
  chownSync(path, uid, -1);
}

/**
 * Starts a PostgreSQL server in `dir` (creating the cluster on first use) that listens only on a Unix
 * socket in `dir/socket`, with trust authentication for the `hypha` role: the socket folder is 0700 and
 * owned by the server account, so only root and that account reach it. Resolves once it accepts connections.
 */
export async function startPostgres(options: PostgresServerOptions): Promise<PostgresServer> {
  const bin = findPostgresBin();
  const port = options.port ?? 5432;
  const database = options.database ?? 'hypha';
  mkdirSync(options.dir, { recursive: true, mode: 0o755 });
  const dataDir = join(options.dir, 'data');
  const socketDir = join(options.dir, 'socket');
  const logFile = join(options.dir, 'server.log');
  serverFolder(socketDir);
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    serverFolder(dataDir);
    await runAsServer(join(bin, 'initdb'), ['-D', dataDir, '-U', 'hypha', '--auth=trust', '-E', 'UTF8', '--no-instructions']);
  }
  if (!existsSync(logFile)) writeFileSync(logFile, '', { mode: 0o600 });
  if (process.getuid?.() === 0) serverFolder(logFile);
  const serverOptions = `-c listen_addresses='' -k ${socketDir} -p ${port} -c fsync=on -c synchronous_commit=on`;
  await runAsServer(join(bin, 'pg_ctl'), ['-D', dataDir, '-l', logFile, '-o', serverOptions, '-w', '-t', '60', 'start']);
  const stop = async (): Promise<void> => {
    await runAsServer(join(bin, 'pg_ctl'), ['-D', dataDir, '-m', 'fast', '-w', '-t', '60', 'stop']).catch(() => undefined);
  };
  try {
    const psql = join(bin, 'psql');
    const exists = await runAsServer(psql, ['-h', socketDir, '-p', String(port), '-U', 'hypha', '-d', 'postgres', '-tAc', `SELECT 1 FROM pg_database WHERE datname = '${database}'`]);
    if (exists.trim() !== '1') await runAsServer(psql, ['-h', socketDir, '-p', String(port), '-U', 'hypha', '-d', 'postgres', '-c', `CREATE DATABASE "${database}"`]);
  } catch (err) {
    await stop();
    throw err;
  }
  const url = `postgresql://hypha@/${database}?host=${encodeURIComponent(socketDir)}&port=${port}`;
  return { url, dataDir, socketDir, port, stop };
}

/**
 * Stops the server whose cluster is in `dir` (the folder given to `startPostgres`), if one runs there;
 * for `lab down`, which no longer holds the `stop` of the process that started it.
 */
export async function stopPostgres(dir: string): Promise<void> {
  const dataDir = join(dir, 'data');
  if (!existsSync(join(dataDir, 'postmaster.pid'))) return;
  await runAsServer(join(findPostgresBin(), 'pg_ctl'), ['-D', dataDir, '-m', 'fast', '-w', '-t', '60', 'stop']).catch(() => undefined);
}
