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

/** A command's section of docs/cli.md (its --help). */
function sectionOf(doc: string, name: string): string {
  const start = doc.indexOf(`\n## hypha ${name}\n`);
  const end = doc.indexOf('\n## hypha ', start + 1);
  return doc.slice(start, end < 0 ? undefined : end);
}

test('every flag and subcommand a command parses is in its section of docs/cli.md', () => {
  const doc = readFileSync(CLI_DOC, 'utf8');
  const missing: string[] = [];
  for (const name of COMMAND_NAMES) {
    // The commands keep their parseArgs option tables and subcommand switches inline (none is
    // exported), so they are read from the source: `NAME: { type: 'string' }` and `case 'SUB':`.
    const source = readFileSync(new URL(`../../../src/cli/${name}-command.ts`, import.meta.url), 'utf8');
    const section = sectionOf(doc, name);
    const flags = new Set([...source.matchAll(/'?([a-z][a-z-]*)'?: \{ type: '(?:string|boolean)'/g)].map((m) => m[1] as string));
    assert.ok(flags.size > 0 || name === 'seal' || name === 'receipt' || name === 'id', `no flags read from ${name}-command.ts`);
    for (const flag of flags) if (!section.includes(`--${flag}`)) missing.push(`hypha ${name} --${flag}`);
    for (const m of source.matchAll(/case '([a-z][a-z-]*)':/g)) {
      const sub = m[1] as string;
      if (sub !== 'help' && !new RegExp(`hypha ${name} (?:[a-z|-]+\\|)?${sub}\\b`).test(section)) missing.push(`hypha ${name} ${sub}`);
    }
  }
  assert.deepEqual(missing, []);
});
