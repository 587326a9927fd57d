// bench/auth's lab at a production gateway's background rates: the lab's compressed heartbeat, billing and order-check intervals put back to the defaults a deployed gateway and agent run with.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSecureFile } from '../src/identity/index.js';
import type { LabState } from '../src/lab/lab-state.js';

/**
 * The keys `hypha lab up` sets to compress time (src/lab/lab.ts writeGatewayConfig and
 * writeAgentConfig) that `--hour` does not scale: heartbeats every 100 ms real whatever the hour
 * (production: 15 s, config.ts DEFAULTS.heartbeatIntervalSeconds and the agent's default), the
 * billing tick every 100 ms (production: 5 s) and the order check every 200 ms (production: 10 s).
 * Removed, each falls back to the default a deployed gateway or agent runs with.
 */
export const LAB_GATEWAY_RATES: readonly (readonly string[])[] = [['heartbeatIntervalSeconds'], ['billing', 'tickSeconds'], ['orders', 'checkIntervalSeconds']];
export const LAB_AGENT_RATES: readonly (readonly string[])[] = [['heartbeatIntervalSeconds']];

/** Deletes the key at `path` in a parsed JSON object, if it is there; true when something was removed. */
export function deletePath(object: Record<string, unknown>, path: readonly string[]): boolean {
  const [head, ...rest] = path;
  if (head === undefined || !(head in object)) return false;
  if (rest.length === 0) return delete object[head];
  const inner = object[head];
  return typeof inner === 'object' && inner !== null && !Array.isArray(inner) && deletePath(inner as Record<string, unknown>, rest);
}

/** Rewrites the config file at `path` (0600, as the lab wrote it) without the given keys. */
function withoutKeys(path: string, keys: readonly (readonly string[])[], edit: (config: Record<string, unknown>) => void = () => undefined): void {
  const config = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  for (const key of keys) deletePath(config, key);
  edit(config);
  writeSecureFile(path, JSON.stringify(config, null, 2) + '\n');
}

/**
 * Puts the lab's gateway config (with `edit` applied too) and, unless `keepLabRates`, every
 * farmer's agent config at production background rates. Returns the actors whose process must be
 * restarted to read its config: the farmers (the caller restarts the gateway itself).
 */
export function productionBackground(dir: string, state: LabState, keepLabRates: boolean, edit: (gatewayConfig: Record<string, unknown>) => void): string[] {
  withoutKeys(join(dir, 'gateway', 'config.json'), keepLabRates ? [] : LAB_GATEWAY_RATES, edit);
  if (keepLabRates) return [];
  const farmers = state.actors.filter((a) => a.role === 'farmer').map((a) => a.name);
  for (const farmer of farmers) withoutKeys(join(dir, farmer, 'agent.json'), LAB_AGENT_RATES);
  return farmers;
}
