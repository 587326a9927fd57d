// How a fuzz suite runs: its test file re-runs itself in a private network namespace with one seed, printed first, so any failure can be repeated with HYPHA_TEST_SEED.
import { test, type TestContext } from 'node:test';
import fc from 'fast-check';
import { errorMessage } from '../../src/identity/error-message.js';
import { inPrivateNamespace } from '../helpers/namespaced-test-file.js';
import { testSeed } from '../helpers/seeded-random.js';

/**
 * Declares a fuzz suite. Outside the namespace it is one test that re-runs this file inside a
 * fresh one (with the seed fixed in HYPHA_TEST_SEED) and passes when that run passes; inside, it
 * is `body` itself.
 */
export function fuzzSuite(name: string, moduleUrl: string, body: (t: TestContext, seed: number) => Promise<void>): void {
  const beforeRun = (): string => {
    const seed = testSeed();
    process.env.HYPHA_TEST_SEED = String(seed);
    process.stderr.write(`${name}: seed ${seed} (repeat with HYPHA_TEST_SEED=${seed})\n`);
    return ` with seed ${seed} (repeat with HYPHA_TEST_SEED=${seed})`;
  };
  if (!inPrivateNamespace({ name, moduleUrl, tests: 1, timeoutMs: 300_000, beforeRun })) return;
  test(name, async (t) => {
    const seed = testSeed();
    t.diagnostic(`seed ${seed}`);
    await body(t, seed);
  });
}

/** fc.assert with the suite's seed; a failure names the seed and how to repeat it. */
export async function assertSeeded<Ts>(property: fc.IAsyncProperty<Ts>, seed: number, numRuns: number, examples: Ts[] = []): Promise<void> {
  try {
    // No shrinking: the gateway is stateful, so the first failing input (and the seed) is the clearest report.
    await fc.assert(property, { seed, numRuns, endOnFailure: true, examples });
  } catch (err) {
    throw new Error(`property failed with seed ${seed} (repeat with HYPHA_TEST_SEED=${seed}):\n${errorMessage(err)}`);
  }
}
