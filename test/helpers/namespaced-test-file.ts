// A test file that runs its tests in a private network namespace: outside one, it is a single test that re-runs the file inside a fresh namespace and passes when that run passes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LAB_SKIP } from './lab.js';
import { privateNamespace, runInPrivateNamespace } from './private-netns.js';

/** How the re-run is judged and bounded. */
export interface NamespacedFileOptions {
  /** The test title outside (" (in a private network namespace)" is added). */
  readonly name: string;
  /** The file's `import.meta.url`: the file that is re-run. */
  readonly moduleUrl: string;
  /** How many tests the file declares inside the namespace: the re-run must report exactly that many passed. */
  readonly tests: number;
  /** How long the re-run may take before it is killed. */
  readonly timeoutMs: number;
  /** Called just before the re-run (to fix a seed in the environment, say); what it returns is added to a failure's message. */
  readonly beforeRun?: () => string;
}

/**
 * True inside the private namespace (the caller then declares its tests); outside, declares the one test
 * that re-runs this file in a fresh namespace (skipped where the lab is: it needs root) and returns false.
 * The re-run's output is echoed to stderr as it comes, so a long run shows progress.
 */
export function inPrivateNamespace(options: NamespacedFileOptions): boolean {
  if (privateNamespace() !== undefined) return true;
  test(`${options.name} (in a private network namespace)`, { skip: LAB_SKIP }, async () => {
    const note = options.beforeRun?.() ?? '';
    const run = await runInPrivateNamespace([process.execPath, '--test-reporter=spec', fileURLToPath(options.moduleUrl)], { echo: (s) => void process.stderr.write(s), timeoutMs: options.timeoutMs });
    assert.equal(run.code, 0, `${options.name} failed${note}; its output is above`);
    const ran = options.tests === 1 ? 'the test ran' : `all ${options.tests} tests ran`;
    assert.match(run.output, new RegExp(`ℹ pass ${options.tests}\\b`), `${ran} inside the namespace`);
  });
  return false;
}
