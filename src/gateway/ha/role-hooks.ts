// Runs the operator's commands on role changes (config ha.onActiveCommand / ha.onStandbyCommand), e.g. starting Mycelium with the shared key.
import { execFile } from 'node:child_process';
import type { Logger } from 'pino';
import type { GatewayRole } from './lease.js';

/** A hook may take this long before it is killed (a stuck hook must not hold the next transition). */
const HOOK_TIMEOUT_MS = 60_000;

/**
 * Runs `argv` (no shell) with `HYPHA_ROLE` and `HYPHA_ACTIVE_URL` in its environment; the outcome is
 * logged, never awaited by the role change itself: the gateway acts on the lease, not on the hook.
 */
export function runRoleHook(argv: readonly string[] | undefined, role: GatewayRole, activeUrl: string | undefined, log: Logger): Promise<void> {
  if (argv === undefined || argv.length === 0) return Promise.resolve();
  const [cmd, ...args] = argv as [string, ...string[]];
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: HOOK_TIMEOUT_MS, env: { ...process.env, HYPHA_ROLE: role, HYPHA_ACTIVE_URL: activeUrl ?? '' }, maxBuffer: 64 * 1024 }, (err, stdout, stderr) => {
      if (err) log.error({ role, command: cmd, err: err.message, stderr: stderr.slice(-2000) }, 'ha: the %s hook failed', role);
      else log.info({ role, command: cmd, stdout: stdout.slice(-2000) }, 'ha: the %s hook ran', role);
      resolve();
    });
  });
}
