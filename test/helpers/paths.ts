// Paths tests need: the repository root, test vectors, the hypha launcher, scratch folders.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (tests run from dist/test/…, compiled). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The `hypha` launcher. */
export const HYPHA_BIN = join(REPO_ROOT, 'bin', 'hypha.js');

/** Reads a JSON file from test/vectors. */
export function readVectors<T>(name: string): T {
  return JSON.parse(readFileSync(join(REPO_ROOT, 'test', 'vectors', name), 'utf8')) as T;
}

/** A new scratch folder, and a function that removes it. */
export function scratchDir(prefix = 'hypha-test-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
