// docs/cli.md is exactly what the commands' --help prints (npm run docs:cli writes it), and every command answers --help.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CLI_DOC, cliReference } from '../../scripts/cli-docs.js';
import { COMMAND_NAMES } from '../../src/cli/main.js';

test('docs/cli.md is what `npm run docs:cli` would write from the commands\' --help', () => {
  const expected = cliReference();
  const actual = readFileSync(CLI_DOC, 'utf8');
  assert.ok(actual === expected, 'docs/cli.md is out of date: run `npm run docs:cli` and commit docs/cli.md');
});

test('every command has a section with its help', () => {
  const doc = readFileSync(CLI_DOC, 'utf8');
  assert.ok(COMMAND_NAMES.length >= 6);
  for (const name of COMMAND_NAMES) assert.match(doc, new RegExp(`^## hypha ${name}$`, 'm'), name);
});
