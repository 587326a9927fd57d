// The README's quick start, dependency table and bench names match package.json and bench/, and every relative link in README.md and docs/ leads to a file (and heading) in the repository.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this runs from dist/test/docs/, compiled). */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

interface PackageJson {
  scripts: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson;

/** The lines of a `## ` section of a markdown file, up to the next one. */
function section(markdown: string, title: string): string[] {
  const lines = markdown.split('\n');
  const start = lines.indexOf(`## ${title}`);
  assert.ok(start >= 0, `no "## ${title}" section`);
  const end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  return lines.slice(start + 1, end < 0 ? undefined : end);
}

type Kind = 'dependencies' | 'devDependencies' | 'optionalDependencies';

test('the dependency table names every dependency in package.json, at its pinned version and of its kind', () => {
  const table = new Map<string, { version: string; kind: Kind }>();
  for (const row of section(README, 'Dependencies').filter((l) => l.startsWith('| ') && !l.startsWith('| dependency'))) {
    const cell = row.split('|')[1] ?? '';
    const kind: Kind = cell.includes('(dev)') ? 'devDependencies' : cell.includes('(optional)') ? 'optionalDependencies' : 'dependencies';
    for (const m of cell.matchAll(/(@?[a-z0-9][\w./-]*) (\d+\.\d+\.\d+)\b/g)) table.set(m[1] as string, { version: m[2] as string, kind });
  }
  const inPackage = new Map<string, { version: string; kind: Kind }>();
  for (const kind of ['dependencies', 'devDependencies', 'optionalDependencies'] as const) {
    for (const [name, version] of Object.entries(PKG[kind] ?? {})) {
      assert.match(version, /^\d+\.\d+\.\d+$/, `${name} is not pinned to an exact version in package.json`);
      inPackage.set(name, { version, kind });
    }
  }
  assert.ok(inPackage.size >= 20);
  assert.deepEqual(Object.fromEntries([...table].sort()), Object.fromEntries([...inPackage].sort()));
});

test('the quick start runs scripts that exist: npm install builds, npm start starts the lab, npm test tests', () => {
  const block = /## Quick start[\s\S]*?```sh\n([\s\S]*?)```/.exec(README)?.[1] ?? '';
  const commands = block.split('\n').map((l) => l.replace(/#.*$/, '').trim()).filter((l) => l.startsWith('npm '));
  assert.deepEqual(commands, ['npm install', 'npm start', 'npm test']);
  // npm install runs `prepare` (docs/cli.md: "after `npm install`, which builds it").
  assert.match(PKG.scripts.prepare ?? '', /\btsc\b/);
  assert.match(PKG.scripts.start ?? '', /scripts\/prereqs\.sh.*bin\/hypha\.js lab up/);
  assert.match(PKG.scripts.test ?? '', /scripts\/prereqs\.sh.*npm run build.*npm run lint.*node --test/);
  assert.ok(existsSync(join(ROOT, 'bin', 'hypha.js')));
});

test('every bench the README names exists: `npm run bench:*` scripts and bench/ files', () => {
  const text = section(README, 'Benchmarks').join('\n');
  const scripts = [...text.matchAll(/`(?:npm run )?(bench:[a-z-]+)/g)].map((m) => m[1] as string);
  const files = [...text.matchAll(/(?:dist\/)?bench\/([a-z-]+)(?:\.js)?/g)].map((m) => m[1] as string).filter((f) => f !== 'README');
  assert.ok(scripts.length >= 8 && files.length >= 3, `read ${scripts.length} scripts and ${files.length} files`);
  for (const s of scripts) assert.ok(PKG.scripts[s] !== undefined, `${s} is not a script in package.json`);
  for (const f of files) assert.ok(existsSync(join(ROOT, 'bench', `${f}.ts`)), `bench/${f}.ts does not exist`);
  for (const [name, cmd] of Object.entries(PKG.scripts).filter(([n]) => n.startsWith('bench:'))) {
    const file = /dist\/bench\/([\w-]+)\.js/.exec(cmd)?.[1];
    assert.ok(file !== undefined && existsSync(join(ROOT, 'bench', `${file}.ts`)), `${name} runs a bench that does not exist: ${cmd}`);
  }
});

/** GitHub's anchor of a heading: lower case, punctuation but `-` and `_` dropped, spaces as `-`. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const m = fenced ? null : /^#{1,6} (.*)$/.exec(line);
    if (!m) continue;
    const base = slug(m[1] as string);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

test('every relative link in README.md and docs/*.md leads to a file in the repository, and its #anchor to a heading there', () => {
  const files = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const broken: string[] = [];
  let count = 0;
  for (const file of files) {
    const text = readFileSync(join(ROOT, file), 'utf8').replace(/```[\s\S]*?```/g, '');
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1] as string;
      if (/^[a-z]+:/i.test(target)) continue;
      count++;
      const [path, anchor] = target.split('#') as [string, string | undefined];
      const full = path === '' ? join(ROOT, file) : resolve(dirname(join(ROOT, file)), path);
      if (relative(ROOT, full).startsWith('..')) broken.push(`${file}: ${target} leaves the repository`);
      else if (!existsSync(full)) broken.push(`${file}: ${target} does not exist`);
      else if (anchor !== undefined && full.endsWith('.md') && !anchorsOf(readFileSync(full, 'utf8')).has(anchor)) broken.push(`${file}: ${target} names no heading`);
    }
  }
  assert.ok(count >= 20, `only ${count} links read`);
  assert.deepEqual(broken, []);
});

test('every source, test, bench or script file README.md and docs/*.md name exists', () => {
  const files = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const missing: string[] = [];
  let count = 0;
  for (const file of files) {
    for (const m of readFileSync(join(ROOT, file), 'utf8').matchAll(/\b(?:src|test|bench|scripts)\/[\w/-]+\.(?:ts|sh|js|json|md)\b/g)) {
      count++;
      const path = m[0];
      if (!existsSync(join(ROOT, path)) && !existsSync(join(ROOT, path.replace(/\.js$/, '.ts')))) missing.push(`${file}: ${path}`);
    }
  }
  assert.ok(count >= 30, `only ${count} paths read`);
  assert.deepEqual(missing, []);
});

test('docs/architecture.md has a row for every folder of src/gateway, and none for a folder that is gone', () => {
  const doc = readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8');
  const rows = section(doc, 'Layers')
    .map((l) => /^\| `([a-z-]+)\/` \|/.exec(l)?.[1])
    .filter((f) => f !== undefined);
  const folders = readdirSync(join(ROOT, 'src', 'gateway'), { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name);
  assert.deepEqual([...rows].sort(), folders.sort());
});
