// Linux network namespaces for the lab: one bridge namespace, and one namespace per actor whose
// `mycelium` interface carries that actor's 400::/7 address, so every actor has real kernel sockets.
import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** A failed `ip` command, with what it printed. */
export class NetnsError extends Error {
  constructor(readonly args: readonly string[], readonly stderr: string) {
    super(`ip ${args.join(' ')}: ${stderr.trim() || 'failed'}`);
    this.name = 'NetnsError';
  }
}

/** Runs `ip ARGS…`. */
export async function ip(...args: string[]): Promise<string> {
  try {
    const { stdout } = await exec('ip', args, { timeout: 20_000 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string; code?: string };
    if (e.code === 'ENOENT') throw new NetnsError(args, 'the `ip` command is missing: install iproute2');
    throw new NetnsError(args, e.stderr ?? e.message);
  }
}

/** Runs `ip netns exec NS CMD…` to completion. */
export async function nsExec(ns: string, cmd: string, ...args: string[]): Promise<string> {
  return ip('netns', 'exec', ns, cmd, ...args);
}

/** The interface name every actor's address sits on, as on a Mycelium host (its TUN's default name). */
export const MYCELIUM_IF = 'mycelium';

/** Names of one lab's namespaces. */
export function namespaceName(lab: string, host: string): string {
  return `hl-${lab}-${host}`;
}

/** The lab's L2 segment: a namespace holding one bridge. */
export async function createBridge(lab: string): Promise<string> {
  const ns = namespaceName(lab, 'br');
  await ip('netns', 'add', ns);
  await nsExec(ns, 'ip', 'link', 'set', 'lo', 'up');
  await nsExec(ns, 'ip', 'link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0');
  await nsExec(ns, 'ip', 'link', 'set', 'br0', 'up');
  return ns;
}

/**
 * Adds a host namespace with a veth into the lab's bridge. Its `mycelium` interface carries
 * `address`/7, so the whole 400::/7 range is on-link, as Mycelium's TUN route makes it.
 * DAD is off so the address is usable at once.
 */
export async function addHost(lab: string, host: string, index: number, address: string): Promise<string> {
  const ns = namespaceName(lab, host);
  const br = namespaceName(lab, 'br');
  await ip('netns', 'add', ns);
  await nsExec(ns, 'ip', 'link', 'set', 'lo', 'up');
  await nsExec(ns, 'sysctl', '-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0');
  const outer = `p${index}`;
  await ip('link', 'add', MYCELIUM_IF, 'netns', ns, 'type', 'veth', 'peer', 'name', outer, 'netns', br);
  await nsExec(br, 'ip', 'link', 'set', outer, 'master', 'br0');
  await nsExec(br, 'ip', 'link', 'set', outer, 'up');
  await nsExec(ns, 'ip', '-6', 'addr', 'add', `${address}/7`, 'dev', MYCELIUM_IF, 'nodad');
  await nsExec(ns, 'ip', 'link', 'set', MYCELIUM_IF, 'up');
  return ns;
}

/** Deletes every namespace of a lab (missing ones are fine). */
export async function removeLab(lab: string): Promise<void> {
  const prefix = `hl-${lab}-`;
  for (const ns of await listNamespaces()) {
    if (ns.startsWith(prefix)) {
      try {
        await ip('netns', 'del', ns);
      } catch {
        // Already gone: another `lab down` raced us.
      }
    }
  }
}

/** Names of all network namespaces. */
export async function listNamespaces(): Promise<string[]> {
  const out = await ip('netns', 'list');
  return out
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name !== '');
}

/** Spawns `cmd args` inside namespace `ns`; the child's pid is the command's own (ip execs it). */
export function spawnInNamespace(ns: string, cmd: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, cmd, ...args], options);
}

/** Adds a /128 to a namespace's mycelium interface (a lab VM's own address). */
export async function addAddress(ns: string, address: string): Promise<void> {
  await nsExec(ns, 'ip', '-6', 'addr', 'add', `${address}/128`, 'dev', MYCELIUM_IF, 'nodad');
}
