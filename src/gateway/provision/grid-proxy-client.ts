// A small client for the ThreeFold grid proxy's REST API: which grid nodes have room for an offer.
import { errorMessage } from '../../identity/error-message.js';
import { kindOf } from '../../identity/kind-of.js';
import type { Offer } from '../../protocol/offer.js';
import { expectObject } from '../../protocol/validate.js';

/** The ThreeFold grid v3 networks (grid_client `NetworkEnv`). */
export type GridNetwork = 'main' | 'test' | 'qa' | 'dev';

/** The grid networks, for validating configuration. */
export const GRID_NETWORKS: readonly GridNetwork[] = ['main', 'test', 'qa', 'dev'];

/**
 * The public grid proxy of each network: `https://gridproxy.<base>` with base `grid.tf` on
 * mainnet and `<network>.grid.tf` elsewhere (grid_client `GridClient.getDefaultUrls`).
 */
export const GRIDPROXY_URLS: Readonly<Record<GridNetwork, string>> = {
  main: 'https://gridproxy.grid.tf',
  test: 'https://gridproxy.test.grid.tf',
  qa: 'https://gridproxy.qa.grid.tf',
  dev: 'https://gridproxy.dev.grid.tf',
};

/** Bytes in one GB as the grid counts them: grid_client sizes rootfs as `GB * 1024 ** 3`. */
export const BYTES_PER_GB = 1024 ** 3;

/** The node feature a VM with `mycelium: true` needs (grid proxy `types.FeaturesSet`). */
export const MYCELIUM_FEATURE = 'mycelium';

/** How long a grid proxy request may take by default. */
export const DEFAULT_GRIDPROXY_TIMEOUT_MS = 10_000;

/** Nodes asked for per request; the proxy's own default page size is 50 (`types.DefaultLimit`). */
export const DEFAULT_NODES_PAGE_SIZE = 50;

/** The largest page this client asks for. */
export const MAX_NODES_PAGE_SIZE = 1000;

/** The largest response body read; 50 nodes are about 100 kB. */
export const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

/** The part of an offer that decides whether a VM fits on a node. */
export type OfferSize = Pick<Offer, 'cpu' | 'memoryGb' | 'diskGb'>;

/** A node's resources as the proxy reports them: cru is a core count, the rest are bytes. */
export interface GridNodeResources {
  readonly cru: number;
  readonly mruBytes: number;
  readonly sruBytes: number;
  readonly hruBytes: number;
}

/** One node of a `GET /nodes` answer, reduced to what node selection needs. */
export interface GridNodeInfo {
  readonly nodeId: number;
  readonly farmId: number;
  readonly twinId: number;
  /** "up", "down" or "standby" (powered off by the farmerbot). */
  readonly status: string;
  readonly features: readonly string[];
  /** False when the node did not answer the proxy's RMB health check lately; undefined when not reported. */
  readonly healthy: boolean | undefined;
  readonly total: GridNodeResources;
  /** Used resources; the proxy counts the memory and disk zos reserves for itself as used. */
  readonly used: GridNodeResources;
  /** The node's farm is dedicated: its nodes take deployments only under a rent contract. */
  readonly inDedicatedFarm: boolean;
  /** The node's active rent contract, 0 when nobody rents it. */
  readonly rentContractId: number;
  /** The twin that rents the node, 0 when nobody does. */
  readonly rentedByTwinId: number;
  /** The farmer's extra fee for the node; above 0 makes the node dedicated on tfchain. 0 when not reported. */
  readonly extraFee: number;
}

/** A node that can take at least one VM of the offer asked about. */
export interface GridNodeCandidate {
  readonly nodeId: number;
  readonly farmId: number;
  readonly twinId: number;
  readonly totalCru: number;
  readonly freeMruBytes: number;
  readonly freeSruBytes: number;
  /** How many more VMs of the offer fit in the free memory and disk. */
  readonly freeSlots: number;
}

/** Narrows a node search beyond the offer's size. */
export interface NodeFilter {
  /** Only nodes of these farms (proxy `farm_ids`). */
  readonly farmIds?: readonly number[];
  /**
   * Only nodes this twin may deploy on: rented by it, or neither rented nor dedicated (proxy
   * `available_for`). Without it, only nodes nobody rents outside dedicated farms.
   */
  readonly availableForTwinId?: number;
}

/** Options of a GridProxyClient. */
export interface GridProxyClientOptions {
  /** The proxy's base URL, e.g. https://gridproxy.grid.tf (see GRIDPROXY_URLS). */
  readonly baseUrl: string;
  readonly timeoutMs?: number;
  readonly pageSize?: number;
}

/** A grid proxy request failed or answered something unusable. The message starts with `gridproxy.<operation>:`. */
export class GridProxyError extends Error {
  constructor(
    readonly operation: string,
    message: string,
    /** The HTTP status, when the proxy answered with one that is not 2xx. */
    readonly httpStatus?: number,
  ) {
    super(`gridproxy.${operation}: ${message}`);
    this.name = 'GridProxyError';
  }
}

/** Talks to one grid proxy. */
export class GridProxyClient {
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly pageSize: number;

  constructor(options: GridProxyClientOptions) {
    this.baseUrl = parseBaseUrl(options.baseUrl);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_GRIDPROXY_TIMEOUT_MS;
    if (!Number.isInteger(this.timeoutMs) || this.timeoutMs < 1) {
      throw new RangeError(`timeoutMs must be a positive integer of milliseconds, got ${String(options.timeoutMs)}`);
    }
    this.pageSize = options.pageSize ?? DEFAULT_NODES_PAGE_SIZE;
    if (!Number.isInteger(this.pageSize) || this.pageSize < 1 || this.pageSize > MAX_NODES_PAGE_SIZE) {
      throw new RangeError(`pageSize must be an integer from 1 to ${MAX_NODES_PAGE_SIZE}, got ${String(options.pageSize)}`);
    }
  }

  /**
   * Nodes that are up, healthy, have the mycelium feature and room for at least one VM of
   * `offer`, most room first. The proxy filters; the answer is checked again here, so a proxy
   * that ignores a filter still yields only real candidates.
   */
  async findNodes(offer: OfferSize, filter: NodeFilter = {}): Promise<GridNodeCandidate[]> {
    const url = `${this.baseUrl}/nodes?${nodesQuery(offer, filter, this.pageSize).toString()}`;
    const body = await this.#getJson('findNodes', url);
    let nodes: GridNodeInfo[];
    try {
      nodes = parseNodes(body);
    } catch (err) {
      throw new GridProxyError('findNodes', `unexpected answer from ${url}: ${errorMessage(err)}`);
    }
    return candidatesFrom(nodes, offer, filter);
  }

  async #getJson(operation: string, url: string): Promise<unknown> {
    let response: Response;
    let text: string | undefined;
    try {
      response = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(this.timeoutMs) });
      text = await readBounded(response, MAX_RESPONSE_BYTES);
    } catch (err) {
      if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
        throw new GridProxyError(operation, `no answer from ${url} within ${this.timeoutMs} ms`);
      }
      throw new GridProxyError(operation, `cannot reach ${url}: ${describeFetchError(err)}`);
    }
    if (text === undefined) throw new GridProxyError(operation, `GET ${url} answered more than ${MAX_RESPONSE_BYTES} bytes`);
    if (!response.ok) {
      throw new GridProxyError(operation, `GET ${url} answered ${response.status}: ${excerpt(text)}`, response.status);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new GridProxyError(operation, `GET ${url} answered something that is not JSON: ${excerpt(text)}`);
    }
  }
}

/**
 * The query string of `GET /nodes` for `offer` (grid proxy `types.NodeFilter` and `types.Limit`):
 * free_mru and free_sru are minimum free bytes, total_cru a minimum core count (zos does not
 * reserve CPU, it overcommits it), list values are comma-separated.
 */
export function nodesQuery(offer: OfferSize, filter: NodeFilter = {}, pageSize = DEFAULT_NODES_PAGE_SIZE): URLSearchParams {
  const need = offerNeeds(offer);
  const query = new URLSearchParams();
  query.set('status', 'up');
  query.set('healthy', 'true');
  query.set('features', MYCELIUM_FEATURE);
  query.set('free_mru', String(need.mruBytes));
  query.set('free_sru', String(need.sruBytes));
  query.set('total_cru', String(need.cru));
  if (filter.farmIds !== undefined) {
    for (const id of filter.farmIds) ensureId('farmIds[]', id);
    query.set('farm_ids', filter.farmIds.join(','));
  }
  if (filter.availableForTwinId !== undefined) {
    query.set('available_for', String(ensureId('availableForTwinId', filter.availableForTwinId)));
  } else {
    // What available_for means for a twin that rents nothing (grid proxy postgres.go: renter null and farm not dedicated).
    query.set('rented', 'false');
    query.set('in_dedicated_farm', 'false');
  }
  query.set('size', String(pageSize));
  query.set('page', '1');
  return query;
}

/** What one VM of `offer` takes on a node, in the proxy's units. */
export function offerNeeds(offer: OfferSize): GridNodeResources {
  if (!Number.isInteger(offer.cpu) || offer.cpu < 1) throw new RangeError(`offer.cpu must be a positive integer, got ${String(offer.cpu)}`);
  if (!(offer.memoryGb > 0) || !Number.isFinite(offer.memoryGb)) throw new RangeError(`offer.memoryGb must be positive, got ${String(offer.memoryGb)}`);
  if (!(offer.diskGb > 0) || !Number.isFinite(offer.diskGb)) throw new RangeError(`offer.diskGb must be positive, got ${String(offer.diskGb)}`);
  return {
    cru: offer.cpu,
    mruBytes: Math.ceil(offer.memoryGb * BYTES_PER_GB),
    sruBytes: Math.ceil(offer.diskGb * BYTES_PER_GB),
    hruBytes: 0,
  };
}

/**
 * Checks a `GET /nodes` answer (a JSON array of grid proxy `types.Node`) and keeps the fields
 * node selection needs. Throws TypeError (ValidationError for a field that is not an object) naming the first bad field.
 */
export function parseNodes(body: unknown): GridNodeInfo[] {
  if (!Array.isArray(body)) throw new TypeError(`expected a JSON array of nodes, got ${kindOf(body)}`);
  return body.map((item: unknown, i) => parseNode(item, `[${i}]`));
}

/** Nodes of `nodes` that can take a VM of `offer` under `filter`, most free slots first (then most free memory, then lowest node id). */
export function candidatesFrom(nodes: readonly GridNodeInfo[], offer: OfferSize, filter: NodeFilter = {}): GridNodeCandidate[] {
  const need = offerNeeds(offer);
  const farms = filter.farmIds === undefined ? undefined : new Set(filter.farmIds);
  const out: GridNodeCandidate[] = [];
  for (const node of nodes) {
    if (node.status !== 'up' || node.healthy === false || !node.features.includes(MYCELIUM_FEATURE)) continue;
    if (farms !== undefined && !farms.has(node.farmId)) continue;
    if (!isAvailableTo(node, filter.availableForTwinId)) continue;
    if (node.total.cru < need.cru) continue;
    const freeMruBytes = Math.max(0, node.total.mruBytes - node.used.mruBytes);
    const freeSruBytes = Math.max(0, node.total.sruBytes - node.used.sruBytes);
    const freeSlots = Math.min(Math.floor(freeMruBytes / need.mruBytes), Math.floor(freeSruBytes / need.sruBytes));
    if (freeSlots < 1) continue;
    out.push({ nodeId: node.nodeId, farmId: node.farmId, twinId: node.twinId, totalCru: node.total.cru, freeMruBytes, freeSruBytes, freeSlots });
  }
  return out.sort((a, b) => b.freeSlots - a.freeSlots || b.freeMruBytes - a.freeMruBytes || a.nodeId - b.nodeId);
}

/**
 * Whether `twinId` (undefined: a twin that rents nothing) may deploy on `node`. A rented node
 * takes only its renter's deployments; an unrented node in a dedicated farm, or with an extra
 * fee, takes none until someone rents it. Follows grid_client 2.9.2
 * `Nodes.nodeAvailableForTwinId` (primitives/nodes.ts), which refuses the deployment otherwise,
 * and tfchain pallet-smart-contract `_create_node_contract` (a node is dedicated when its farm
 * is, or when it has an extra fee).
 */
export function isAvailableTo(node: GridNodeInfo, twinId: number | undefined): boolean {
  if (node.rentContractId !== 0 || node.rentedByTwinId !== 0) return twinId !== undefined && node.rentedByTwinId === twinId;
  return !node.inDedicatedFarm && node.extraFee === 0;
}

function parseNode(item: unknown, at: string): GridNodeInfo {
  const node = expectObject(item, at);
  const healthy = node['healthy'];
  if (healthy !== undefined && typeof healthy !== 'boolean') throw new TypeError(`${at}.healthy must be a boolean, got ${kindOf(healthy)}`);
  const status = node['status'];
  if (typeof status !== 'string') throw new TypeError(`${at}.status must be a string, got ${kindOf(status)}`);
  return {
    nodeId: expectCount(node['nodeId'], `${at}.nodeId`, 1),
    farmId: expectCount(node['farmId'], `${at}.farmId`, 1),
    twinId: expectCount(node['twinId'], `${at}.twinId`, 1),
    status,
    features: parseFeatures(node['features'], `${at}.features`),
    healthy,
    total: parseResources(node['total_resources'], `${at}.total_resources`),
    used: parseResources(node['used_resources'], `${at}.used_resources`),
    inDedicatedFarm: expectBoolean(node['inDedicatedFarm'], `${at}.inDedicatedFarm`),
    rentContractId: expectCount(node['rentContractId'], `${at}.rentContractId`, 0),
    rentedByTwinId: expectCount(node['rentedByTwinId'], `${at}.rentedByTwinId`, 0),
    extraFee: node['extraFee'] === undefined ? 0 : expectCount(node['extraFee'], `${at}.extraFee`, 0),
  };
}

function expectBoolean(value: unknown, at: string): boolean {
  if (typeof value !== 'boolean') throw new TypeError(`${at} must be a boolean, got ${kindOf(value)}`);
  return value;
}

/** The node's features; the proxy sends null for a node that reported none. */
function parseFeatures(value: unknown, at: string): string[] {
  if (value === null || value === undefined) return [];
  if (!Array.isArray(value)) throw new TypeError(`${at} must be a list of strings, got ${kindOf(value)}`);
  return value.map((f: unknown, i) => {
    if (typeof f !== 'string') throw new TypeError(`${at}[${i}] must be a string, got ${kindOf(f)}`);
    return f;
  });
}

function parseResources(value: unknown, at: string): GridNodeResources {
  const r = expectObject(value, at);
  return {
    cru: expectCount(r['cru'], `${at}.cru`, 0),
    mruBytes: expectCount(r['mru'], `${at}.mru`, 0),
    sruBytes: expectCount(r['sru'], `${at}.sru`, 0),
    hruBytes: expectCount(r['hru'], `${at}.hru`, 0),
  };
}

function expectCount(value: unknown, at: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new TypeError(`${at} must be an integer of at least ${min}, got ${typeof value === 'number' ? String(value) : kindOf(value)}`);
  }
  return value;
}

function ensureId(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${String(value)}`);
  return value;
}

/** `text` as a grid proxy base URL without a trailing slash; TypeError says what is wrong. */
export function parseBaseUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TypeError(`baseUrl must be an absolute http(s) URL such as ${GRIDPROXY_URLS.main}, got ${JSON.stringify(text)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new TypeError(`baseUrl must use http or https, got ${url.protocol}`);
  }
  if (url.search !== '' || url.hash !== '') throw new TypeError('baseUrl must not carry a query or a fragment');
  return url.href.replace(/\/+$/, '');
}

/** The body as text, or undefined when it is larger than `maxBytes`. */
async function readBounded(response: Response, maxBytes: number): Promise<string | undefined> {
  if (response.body === null) return '';
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function describeFetchError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as Error & { cause?: unknown }).cause;
  return cause instanceof Error ? `${err.message} (${cause.message})` : err.message;
}

function excerpt(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  if (oneLine === '') return '(empty body)';
  return oneLine.length > 200 ? `${oneLine.slice(0, 200)}…` : oneLine;
}
