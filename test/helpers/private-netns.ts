// A private network namespace for one process tree: the process re-runs itself inside it, and there puts many 400::/7 addresses (distinct /64s) on `lo`, so a gateway and its callers use real sockets with real source addresses.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { generateX25519KeyPair, myceliumAddressOfKey, parseSubnet64, vmAddress } from '../../src/identity/index.js';
import { runCommand } from './run.js';

/** The environment variable naming the namespace a re-run process is in. */
const NS_ENV = 'HYPHA_PRIVATE_NS';

/** The private namespace this process runs in, if it was started by `runInPrivateNamespace`. */
export function privateNamespace(): string | undefined {
  const ns = process.env[NS_ENV];
  return ns === undefined || ns === '' ? undefined : ns;
}

/** What the re-run process printed, and how it ended. */
export interface NamespacedRun {
  readonly code: number;
  readonly output: string;
}

async function ipOrThrow(args: string[]): Promise<void> {
  const r = await runCommand('ip', args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

/**
 * Creates a fresh namespace (`hp-` and 6 random hex digits), runs `argv` inside it with
 * HYPHA_PRIVATE_NS set, and deletes the namespace afterwards, whatever happened. Output is
 * passed through to `echo` as it comes (and kept) so a long run shows progress.
 */
export async function runInPrivateNamespace(argv: readonly string[], options: { echo?: (chunk: string) => void; timeoutMs?: number } = {}): Promise<NamespacedRun> {
  const ns = `hp-${randomBytes(3).toString('hex')}`;
  await ipOrThrow(['netns', 'add', ns]);
  try {
    return await new Promise<NamespacedRun>((resolve, reject) => {
      // Without node:test's marker of a child test process, so a re-run test file runs its tests itself.
      const env: NodeJS.ProcessEnv = { ...process.env, [NS_ENV]: ns };
      delete env.NODE_TEST_CONTEXT;
      const child = spawn('ip', ['netns', 'exec', ns, ...argv], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      const take = (d: Buffer): void => {
        const s = d.toString('utf8');
        output += s;
        options.echo?.(s);
      };
      child.stdout.on('data', take);
      child.stderr.on('data', take);
      const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 600_000);
      child.on('error', reject);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code: code ?? (signal ? 128 : 1), output });
      });
    });
  } finally {
    await runCommand('ip', ['netns', 'del', ns]);
  }
}

/** A random Mycelium address (its own random /64, as every Mycelium node's is). */
export function randomMyceliumAddress(): string {
  return myceliumAddressOfKey(generateX25519KeyPair().publicKey);
}

/** A random address inside a /64 (as a VM of a node in that /64 gets: prefix, ff0f, 6 random bytes). */
export function randomAddressIn(subnet: string): string {
  return vmAddress(parseSubnet64(subnet), randomBytes(6));
}

/**
 * Inside the private namespace: brings `lo` up and adds `count` random Mycelium addresses to it
 * (DAD off, usable at once). Returns them; each is in its own /64.
 */
export async function addLoopbackAddresses(count: number): Promise<string[]> {
  if (privateNamespace() === undefined) throw new Error('addLoopbackAddresses: not in a private namespace (run through runInPrivateNamespace)');
  await ipOrThrow(['link', 'set', 'lo', 'up']);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const address = randomMyceliumAddress();
    await ipOrThrow(['-6', 'addr', 'add', `${address}/128`, 'dev', 'lo', 'nodad']);
    out.push(address);
  }
  return out;
}
