// scripts/prereqs.sh, the step npm start and npm test run first: passes when everything is there, and stops a non-root user at once with the apt-get line to run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { REPO_ROOT } from '../helpers/paths.js';
import { runCommand } from '../helpers/run.js';

const SCRIPT = join(REPO_ROOT, 'scripts', 'prereqs.sh');
const env = (extra: Record<string, string>): NodeJS.ProcessEnv => ({ PATH: `${dirname(process.execPath)}:/usr/sbin:/usr/bin:/sbin:/bin`, ...extra });

test('with every package installed it passes quietly', async () => {
  const r = await runCommand('bash', [SCRIPT], { env: env({}) });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
});

test('a user who is not root is told the exact apt-get line, and nothing is installed', { skip: process.getuid?.() !== 0 ? 'needs root to run the script as another user' : false }, async () => {
  // A package name Debian does not have stands for a missing one; `nobody` cannot install it.
  const r = await runCommand('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'bash', SCRIPT], { env: env({ HYPHA_PREREQ_PACKAGES: 'curl hypha-not-a-package' }) });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /not installed: hypha-not-a-package\n/);
  assert.match(r.stderr, /^ {2}sudo apt-get update && sudo apt-get install -y --no-install-recommends hypha-not-a-package$/m);
  assert.doesNotMatch(r.stderr, /installing/);
});
