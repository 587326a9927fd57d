// The check that keeps the lab VM driver inside `hypha lab`: it gives customers a shell on the agent's host.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../../identity/error-message.js';
import { parseSubnet64, subnet64Of } from '../../identity/index.js';

/** The variable `hypha lab` sets for the processes it starts: the path of its state file (lab.json). */
export const LAB_STATE_ENV = 'HYPHA_LAB_STATE';

/** Where `ip netns add` keeps the named network namespaces. */
const NETNS_DIR = '/run/netns';

const INSTEAD =
  'config.vmDriver: "lab" is for `hypha lab` only: it runs customers\' shells on the agent\'s own host. Outside the lab remove "vmDriver" from the agent config; the gateway deploys VMs on the ThreeFold grid (provisioner "grid")';

/** The agent runs outside the lab; the message says what to use instead. */
export class LabOnlyError extends Error {
  constructor(why: string) {
    super(`${INSTEAD} (refused: ${why})`);
    this.name = 'LabOnlyError';
  }
}

/**
 * Throws LabOnlyError unless this process runs inside a `hypha lab` farmer: $HYPHA_LAB_STATE names
 * a root-owned lab state file that others cannot write, one of its farmer actors' network
 * namespaces is the one this process is in (same nsfs inode), and that actor's /64 is `nodeSubnet`.
 * An operator does not meet all of that by accident, and a production host (root namespace) never does.
 */
export function assertInsideLab(nodeSubnet: string): void {
  const path = process.env[LAB_STATE_ENV];
  if (path === undefined || path === '') throw new LabOnlyError(`$${LAB_STATE_ENV} is not set; \`hypha lab up\` sets it for the agents it starts`);
  let actors: unknown;
  try {
    const info = statSync(path);
    if (info.uid !== 0 || (info.mode & 0o022) !== 0) throw new Error('it must be owned by root and writable by nobody else');
    actors = (JSON.parse(readFileSync(path, 'utf8')) as { actors?: unknown }).actors;
  } catch (err) {
    throw new LabOnlyError(`$${LAB_STATE_ENV} (${path}) is not a lab state file: ${errorMessage(err)}`);
  }
  let own: { dev: number; ino: number };
  try {
    own = statSync('/proc/self/ns/net');
  } catch (err) {
    throw new LabOnlyError(`cannot tell which network namespace this process is in: ${errorMessage(err)}`);
  }
  const farmer = (Array.isArray(actors) ? actors : []).find((a: unknown): a is { ns: string; subnet: string } => {
    const actor = a as { role?: unknown; ns?: unknown; subnet?: unknown };
    if (actor.role !== 'farmer' || typeof actor.ns !== 'string' || typeof actor.subnet !== 'string' || actor.ns.includes('/')) return false;
    try {
      const ns = statSync(join(NETNS_DIR, actor.ns));
      return ns.dev === own.dev && ns.ino === own.ino;
    } catch {
      return false;
    }
  });
  if (!farmer) throw new LabOnlyError(`this process is not in the network namespace of a farmer of the lab in ${path}`);
  if (!sameSubnet(farmer.subnet, nodeSubnet)) {
    throw new LabOnlyError(`the node's subnet ${nodeSubnet} is not ${farmer.subnet}, the /64 of this lab farmer`);
  }
}

function sameSubnet(a: string, b: string): boolean {
  try {
    const canonical = (s: string): string => {
      const bytes = new Uint8Array(16);
      bytes.set(parseSubnet64(s));
      return subnet64Of(bytes);
    };
    return canonical(a) === canonical(b);
  } catch {
    return false;
  }
}
