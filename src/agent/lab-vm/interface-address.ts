// The `ip` commands the lab VM driver runs: a VM's /128 on the node's Mycelium interface, in the agent's own namespace.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { normaliseIpv6 } from '../../identity/index.js';

const execFileAsync = promisify(execFile);

/** Runs `ip ARGS…`; the error carries what ip printed (addresses and interface names, no secrets). */
async function runIp(args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync('ip', args, { timeout: 10_000 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; code?: string; message: string };
    if (e.code === 'ENOENT') throw new Error('the `ip` command is missing: install iproute2');
    throw new Error(`ip ${args.join(' ')}: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

/** The IPv6 addresses on an interface of the current network namespace, normalised. */
export async function listInterfaceAddresses(interfaceName: string): Promise<string[]> {
  const out = await runIp(['-j', '-6', 'addr', 'show', 'dev', interfaceName]);
  const links = JSON.parse(out || '[]') as { addr_info?: { local?: string }[] }[];
  return links.flatMap((link) => (link.addr_info ?? []).flatMap((a) => (typeof a.local === 'string' ? [normaliseIpv6(a.local)] : [])));
}

/**
 * Adds `address`/128 to an interface of the current namespace without duplicate address detection
 * (usable at once); an address already there is fine. Unlike the lab's `addAddress`, it does not
 * enter a namespace: the agent already runs inside the node's.
 */
export async function addInterfaceAddress(interfaceName: string, address: string): Promise<void> {
  const wanted = normaliseIpv6(address);
  if ((await listInterfaceAddresses(interfaceName)).includes(wanted)) return;
  await runIp(['-6', 'addr', 'add', `${wanted}/128`, 'dev', interfaceName, 'nodad']);
}

/** Removes `address`/128 from an interface of the current namespace; an absent address is fine. */
export async function removeInterfaceAddress(interfaceName: string, address: string): Promise<void> {
  const wanted = normaliseIpv6(address);
  if (!(await listInterfaceAddresses(interfaceName)).includes(wanted)) return;
  await runIp(['-6', 'addr', 'del', `${wanted}/128`, 'dev', interfaceName]);
}
