// The unprivileged user each lab VM's shells run as: its uid, its home folder, and ending every process it left.
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { chmod, chown, mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { VmDriverError } from '../vm-driver.js';

/** Most VMs one node runs: the size of its block of uids. */
export const MAX_VMS = 1024;

/**
 * First uid of the lab VM range: 0x70000000, just above systemd's container range
 * (524288–1879048191, systemd docs/UIDS-GIDS.md) and far below its foreign range
 * (0x7FFE0000), so no distribution user or container owns these ids.
 */
const UID_BASE = 0x7000_0000;
/** Blocks of MAX_VMS uids that fit below 0x7FFE0000. */
const BLOCKS = Math.floor((0x7ffe_0000 - UID_BASE) / MAX_VMS);

/** A VM's user: uid = gid, with no supplementary groups and no passwd entry. */
export interface VmUser {
  readonly uid: number;
  readonly gid: number;
  /** A name for USER and LOGNAME; the kernel knows only the number. */
  readonly name: string;
}

/**
 * The uid of slot `slot` of node `nodeSubnet`. Each node gets its own block (from a hash of its
 * /64), so the agents of several lab farmers on one machine do not share users.
 */
export function vmUser(nodeSubnet: string, slot: number): VmUser {
  if (!Number.isInteger(slot) || slot < 0 || slot >= MAX_VMS) throw new VmDriverError('failed', `VM slot ${slot} is outside 0-${MAX_VMS - 1}`);
  const block = createHash('sha256').update(nodeSubnet).digest().readUInt32BE(0) % BLOCKS;
  const uid = UID_BASE + block * MAX_VMS + slot;
  return { uid, gid: uid, name: `labvm-${uid}` };
}

/**
 * Makes `home` the VM user's own folder (mode 0700) and checks that the user can reach it: every
 * folder above must let others pass (o+x). The agent's own files stay root-owned 0600, so passing
 * through lets the VM user reach its home and nothing else.
 */
export async function prepareHome(home: string, user: VmUser): Promise<void> {
  await mkdir(home, { recursive: true, mode: 0o700 });
  await chown(home, user.uid, user.gid);
  await chmod(home, 0o700);
  for (let dir = dirname(home); ; dir = dirname(dir)) {
    const mode = (await stat(dir)).mode;
    if ((mode & 0o001) === 0) {
      throw new VmDriverError(
        'failed',
        `the VM user ${user.uid} cannot reach its home ${home}: ${dir} has mode ${(mode & 0o777).toString(8).padStart(4, '0')}; run \`chmod o+x ${dir}\` (others may pass through, not list)`,
      );
    }
    if (dirname(dir) === dir) return;
  }
}

/**
 * SIGKILLs every process of the VM user: what a customer started with setsid or nohup escapes
 * the session's process group, and must not outlive the VM. A shell running as that user sends
 * kill(-1), which the kernel delivers to every process the user owns but the sender, in one pass,
 * so a forking process cannot slip past a scan.
 */
export function killUserProcesses(user: VmUser): Promise<void> {
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn('/bin/sh', ['-c', 'kill -KILL -1'], { uid: user.uid, gid: user.gid, cwd: '/', env: { PATH: '/usr/bin:/bin' }, stdio: 'ignore' });
    } catch {
      resolve(); // Not root: this user cannot have processes of ours.
      return;
    }
    child.once('error', () => resolve());
    child.once('close', () => resolve());
  });
}
