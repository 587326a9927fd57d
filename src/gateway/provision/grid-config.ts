// The grid provisioner's configuration (`provisioner` with `kind: "grid"`): checked field by field when the gateway config loads.
import { errorMessage } from '../../identity/error-message.js';
import { isAgentPubKey, readSecureFile } from '../../identity/index.js';
import { ValidationError, expectInteger, expectObject, expectOnlyKeys, expectString } from '../../protocol/validate.js';
import { GRID_NETWORKS, parseBaseUrl } from './grid-proxy-client.js';
import type { GridNetwork } from './grid-proxy-client.js';

/** What the gateway's configuration says about the grid (key `provisioner`, with `kind: "grid"`). */
export interface GridProvisionerConfig {
  readonly network: GridNetwork;
  /** A file holding the twin's mnemonic (or hex seed); it must be mode 0600. Exactly one of mnemonicFile and mnemonicEnv. */
  readonly mnemonicFile?: string;
  /** The name of an environment variable holding the mnemonic. */
  readonly mnemonicEnv?: string;
  /**
   * Farm id (decimal) -> the farmer's AgentPubKey, where SPORE for the farm's uptime goes. Only
   * nodes of these farms are candidates: the gateway cannot pay the farmer of any other farm.
   */
  readonly farmers: Readonly<Record<string, string>>;
  /** The grid proxy; GRIDPROXY_URLS[network] when absent. */
  readonly gridproxyUrl?: string;
  /** The VM image of offers that name none; DEFAULT_FLIST when absent. */
  readonly flist?: string;
  /** The image's entrypoint; DEFAULT_ENTRYPOINT when absent. */
  readonly entrypoint?: string;
  /** Bounds every grid_client call (connect, deploy, getObj, delete); DEFAULT_DEPLOY_TIMEOUT_MS when absent. */
  readonly deployTimeoutMs?: number;
  /** Bounds each grid proxy request; DEFAULT_GRIDPROXY_TIMEOUT_MS when absent. */
  readonly gridproxyTimeoutMs?: number;
  /** grid_client project name; DEFAULT_PROJECT_NAME when absent. */
  readonly projectName?: string;
  /** The gateway's twin id, so node search can include nodes it rents before the grid client is connected. */
  readonly twinId?: number;
}

/** The keys a grid provisioner config may have, besides `kind`. */
export const GRID_CONFIG_KEYS = ['network', 'mnemonicFile', 'mnemonicEnv', 'farmers', 'gridproxyUrl', 'flist', 'entrypoint', 'deployTimeoutMs', 'gridproxyTimeoutMs', 'projectName', 'twinId'] as const;

/** The longest a grid_client call may be allowed to take: a day. */
const MAX_TIMEOUT_MS = 86_400_000;

/** BIP-39 mnemonic lengths, in words. */
const MNEMONIC_WORD_COUNTS = [12, 15, 18, 21, 24];

/**
 * Checks a grid provisioner config object (without `kind`) and answers it typed; `at` names it in
 * errors ("config.provisioner"), `resolvePath` resolves mnemonicFile. The mnemonic itself is
 * not read here (see readGridMnemonic). Throws ValidationError naming the field and what to fix.
 */
export function parseGridProvisionerConfig(raw: unknown, at: string, resolvePath: (path: string) => string = (p) => p): GridProvisionerConfig {
  const o = expectObject(raw, at);
  expectOnlyKeys(o, ['kind', ...GRID_CONFIG_KEYS], at);
  if (typeof o.network !== 'string' || !(GRID_NETWORKS as readonly string[]).includes(o.network)) {
    throw new ValidationError(`${at}.network`, `must be one of ${GRID_NETWORKS.map((n) => `"${n}"`).join(', ')}, got ${JSON.stringify(o.network)}`);
  }
  if ((o.mnemonicFile === undefined) === (o.mnemonicEnv === undefined)) {
    throw new ValidationError(`${at}.mnemonicFile`, 'give the mnemonic through exactly one of mnemonicFile (a mode-0600 file) and mnemonicEnv (an environment variable name)');
  }
  const config: GridProvisionerConfig = {
    network: o.network as GridNetwork,
    ...(o.mnemonicFile === undefined ? {} : { mnemonicFile: resolvePath(expectString(o.mnemonicFile, `${at}.mnemonicFile`, { maxLength: 4096 })) }),
    ...(o.mnemonicEnv === undefined
      ? {}
      : { mnemonicEnv: expectString(o.mnemonicEnv, `${at}.mnemonicEnv`, { maxLength: 128, pattern: /^[A-Za-z_][A-Za-z0-9_]*$/, patternName: 'an environment variable name' }) }),
    farmers: parseFarmers(o.farmers, `${at}.farmers`),
    ...(o.gridproxyUrl === undefined ? {} : { gridproxyUrl: parseProxyUrl(o.gridproxyUrl, `${at}.gridproxyUrl`) }),
    ...(o.flist === undefined ? {} : { flist: expectString(o.flist, `${at}.flist`, { maxLength: 2048, pattern: /^https?:\/\/\S+$/, patternName: 'an http(s) URL of a .flist image' }) }),
    ...(o.entrypoint === undefined ? {} : { entrypoint: expectString(o.entrypoint, `${at}.entrypoint`, { maxLength: 1024 }) }),
    ...(o.deployTimeoutMs === undefined ? {} : { deployTimeoutMs: expectInteger(o.deployTimeoutMs, `${at}.deployTimeoutMs`, 1, MAX_TIMEOUT_MS) }),
    ...(o.gridproxyTimeoutMs === undefined ? {} : { gridproxyTimeoutMs: expectInteger(o.gridproxyTimeoutMs, `${at}.gridproxyTimeoutMs`, 1, MAX_TIMEOUT_MS) }),
    ...(o.projectName === undefined
      ? {}
      : { projectName: expectString(o.projectName, `${at}.projectName`, { maxLength: 64, pattern: /^[A-Za-z0-9_/-]+$/, patternName: 'letters, digits, "_", "-" or "/"' }) }),
    ...(o.twinId === undefined ? {} : { twinId: expectInteger(o.twinId, `${at}.twinId`, 1, 2 ** 32 - 1) }),
  };
  return config;
}

/**
 * Reads the twin's mnemonic from the configured file (refused unless mode 0600) or environment
 * variable, and checks it is 12 to 24 BIP-39 words or a 32-byte hex seed. The answer's
 * `source` names where it came from, never the secret; errors never hold it either.
 */
export function readGridMnemonic(config: GridProvisionerConfig, env: Readonly<Record<string, string | undefined>>, at: string): { mnemonic: string; source: string } {
  let raw: string;
  let source: string;
  if (config.mnemonicFile !== undefined) {
    source = `file ${config.mnemonicFile}`;
    try {
      raw = readSecureFile(config.mnemonicFile).toString('utf8');
    } catch (err) {
      throw new ValidationError(`${at}.mnemonicFile`, errorMessage(err));
    }
  } else {
    const name = config.mnemonicEnv as string;
    source = `environment variable ${name}`;
    const value = env[name];
    if (value === undefined || value.trim() === '') throw new ValidationError(`${at}.mnemonicEnv`, `environment variable ${name} is not set or empty`);
    raw = value;
  }
  const mnemonic = raw.trim().split(/\s+/).join(' ');
  const words = mnemonic.split(' ');
  const isWords = MNEMONIC_WORD_COUNTS.includes(words.length) && words.every((w) => /^[a-z]+$/.test(w));
  const isSeed = /^(0x)?[0-9a-fA-F]{64}$/.test(mnemonic);
  if (!isWords && !isSeed) {
    const field = config.mnemonicFile !== undefined ? 'mnemonicFile' : 'mnemonicEnv';
    throw new ValidationError(`${at}.${field}`, `the ${source} does not hold a mnemonic: expected 12 to 24 lower-case BIP-39 words, or a 32-byte hex seed`);
  }
  return { mnemonic, source };
}

function parseFarmers(value: unknown, at: string): Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError(at, 'must map farm ids to their farmers\' AgentPubKeys, e.g. {"42": "uhCAk…"}');
  }
  const out: Record<string, string> = {};
  for (const [farmId, agent] of Object.entries(value as Record<string, unknown>)) {
    if (!/^[1-9][0-9]{0,9}$/.test(farmId)) throw new ValidationError(at, `${JSON.stringify(farmId)} is not a farm id (a positive integer)`);
    if (typeof agent !== 'string' || !isAgentPubKey(agent)) throw new ValidationError(`${at}.${farmId}`, 'not a valid AgentPubKey ("uhCAk…")');
    out[farmId] = agent;
  }
  if (Object.keys(out).length === 0) {
    throw new ValidationError(at, "must name at least one farm: only nodes of listed farms are candidates, because the gateway pays each farm's farmer");
  }
  return out;
}

function parseProxyUrl(value: unknown, at: string): string {
  const text = expectString(value, at, { maxLength: 2048 });
  try {
    parseBaseUrl(text);
  } catch (err) {
    throw new ValidationError(at, errorMessage(err));
  }
  return text;
}
