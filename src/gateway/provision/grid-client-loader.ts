// Loads the optional @threefold/grid_client package (its CommonJS build) on first use of the grid.
import { createRequire, Module } from 'node:module';
import { sep } from 'node:path';
import { errorMessage } from '../../identity/error-message.js';
import { ProvisionError } from './provisioner.js';
import type { GridClientFactory, GridClientLike, GridClientOptions } from './grid-provisioner.js';

/** The npm package the grid provisioner drives; an optional dependency, loaded on first use. */
export const GRID_CLIENT_PACKAGE = '@threefold/grid_client';

/** Node's CommonJS resolver: undocumented, but the only hook for require() calls inside a CommonJS package on Node 20. */
type ResolveFilename = (this: unknown, request: string, parent: { filename?: string | null } | undefined, ...rest: unknown[]) => string;
const cjsLoader = Module as unknown as { _resolveFilename: ResolveFilename };

/**
 * Loads @threefold/grid_client through require(). Its "import" entry is an ES build with
 * directory imports that Node's ESM loader refuses (ERR_UNSUPPORTED_DIR_IMPORT, checked with
 * 2.9.2 on Node 20), so the CommonJS build is used. Throws ProvisionError (not retryable) when
 * the package is not installed or does not load.
 */
export function loadGridClientFactory(resolveFrom: string | URL = import.meta.url): GridClientFactory {
  const require = createRequire(resolveFrom);
  try {
    require.resolve(GRID_CLIENT_PACKAGE);
  } catch {
    throw new ProvisionError(
      'loadGridClient',
      `the grid provisioner needs ${GRID_CLIENT_PACKAGE}, an optional dependency that is not installed: run \`npm install ${GRID_CLIENT_PACKAGE}\``,
      false,
    );
  }
  let loaded: unknown;
  try {
    loaded = withNobleHashesSubpaths(() => require(GRID_CLIENT_PACKAGE) as unknown);
  } catch (err) {
    throw new ProvisionError(
      'loadGridClient',
      `${GRID_CLIENT_PACKAGE} is installed but does not load (${errorMessage(err)}); reinstall it with \`npm install ${GRID_CLIENT_PACKAGE}\``,
      false,
    );
  }
  const GridClient = (loaded as { GridClient?: unknown }).GridClient;
  if (typeof GridClient !== 'function') {
    throw new ProvisionError('loadGridClient', `${GRID_CLIENT_PACKAGE} does not export a GridClient class; install a 2.x release`, false);
  }
  const Client = GridClient as new (options: GridClientOptions) => GridClientLike;
  return (options) => new Client(options);
}

/**
 * Runs `load` while require() calls made from inside @threefold packages for an extension-less
 * @noble/hashes subpath ("@noble/hashes/sha2") fall back to the ".js" subpath. Why:
 * @threefold/rmb_direct_client 2.9.2 (dist/node/sign.js) requires "@noble/hashes/sha2" without
 * declaring @noble/hashes, so it gets hypha's own @noble/hashes 2.x, whose exports map names
 * only "./sha2.js" (ERR_PACKAGE_PATH_NOT_EXPORTED), and grid_client cannot load at all.
 * Both @noble/hashes 1.8 and 2.x export "./sha2.js" with the same `sha256`. Every other
 * request resolves as usual, and the resolver is restored before this returns.
 */
export function withNobleHashesSubpaths<T>(load: () => T): T {
  const original = cjsLoader._resolveFilename;
  cjsLoader._resolveFilename = function (this: unknown, request, parent, ...rest) {
    try {
      return original.call(this, request, parent, ...rest);
    } catch (err) {
      if (isNobleSubpathFromThreefold(err, request, parent)) return original.call(this, `${request}.js`, parent, ...rest);
      throw err;
    }
  };
  try {
    return load();
  } finally {
    cjsLoader._resolveFilename = original;
  }
}

function isNobleSubpathFromThreefold(err: unknown, request: string, parent: { filename?: string | null } | undefined): boolean {
  return (
    (err as { code?: unknown } | null)?.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED' &&
    /^@noble\/hashes\/[a-z0-9_-]+$/.test(request) &&
    typeof parent?.filename === 'string' &&
    parent.filename.includes(`${sep}node_modules${sep}@threefold${sep}`)
  );
}
