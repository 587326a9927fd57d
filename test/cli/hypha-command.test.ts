// The hypha command the lab prints: runnable from where the person is, since a fresh clone has no `hypha` on the PATH.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { hyphaCommand } from '../../src/lab/lab-state.js';
import { REPO_ROOT } from '../helpers/paths.js';

test('hyphaCommand: ./bin/hypha.js from the repository, relative inside it, absolute elsewhere', () => {
  assert.equal(hyphaCommand(REPO_ROOT), './bin/hypha.js');
  assert.equal(hyphaCommand(join(REPO_ROOT, 'src', 'lab')), '../../bin/hypha.js');
  assert.equal(hyphaCommand(join(REPO_ROOT, 'bin')), './hypha.js');
  assert.equal(hyphaCommand('/'), join(REPO_ROOT, 'bin', 'hypha.js'));
  assert.equal(hyphaCommand('/tmp'), join(REPO_ROOT, 'bin', 'hypha.js'));
});
