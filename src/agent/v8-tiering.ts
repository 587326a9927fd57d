// Turns V8's optimising compiler back on in an agent the launcher started without it, once the agent has the work that pays for it.
import { setFlagsFromString } from 'node:v8';

/**
 * A countersign batch this large turns TurboFan on for good: bin/hypha.js starts `hypha agent`
 * without it (~3.5 MiB less RSS for an agent's usual few milliseconds every 15 s), but checking
 * thousands of receipts interpreted takes ~5x the CPU (10,000: ~19 s instead of ~4 s, bench/README.md
 * "Agent footprint"). A farmer with that many deployments per agent gains more than 3.5 MiB costs.
 */
export const OPTIMISE_FROM_BATCH = 1_000;

let optimising = false;

/** Lets V8 optimise hot functions from now on (a flag V8 reads at each tier-up decision); true only the first time. */
export function optimiseFromNowOn(): boolean {
  if (optimising) return false;
  optimising = true;
  setFlagsFromString('--turbofan');
  return true;
}
