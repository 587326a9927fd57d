// The gateway's configuration: a JSON file, checked field by field, with defaults a real deployment can start from.
import { parseHaConfig, type HaConfig } from './ha/ha-config.js';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { errorMessage } from '../identity/error-message.js';
import { ValidationError, expectAgentPubKey, expectArray, expectSubnet64, expectBoolean, expectInteger, expectNumber, expectObject, expectOnlyKeys, expectString } from '../protocol/validate.js';
import { formatAmount, parseAmount } from '../protocol/money.js';
import { HOUR_MS } from '../protocol/clock.js';
import { DEFAULT_OFFERS_FILE } from './offers.js';
import { normaliseHost } from './http/origin-guard.js';
import { parseGridProvisionerConfig, readGridMnemonic } from './provision/grid-config.js';
import type { GridProvisionerConfig } from './provision/grid-config.js';
import { parseUnytLedgerConfig, type UnytLedgerConfig } from './ledger/unyt/config.js';
import type { TrustTierConfig } from './trust/trust-tier.js';
import { DATABASE_URL_ENV, parseStoreConfig, type StoreConfig } from './store/store-config.js';

/** Farmer agents approved in the config file: the nodes each may speak for, and from which /64s. */
export interface ConfiguredAgent {
  readonly agent: string;
  readonly subnets: readonly string[];
  readonly nodes: readonly string[];
}

/** Where the ledger is. */
export type LedgerConfig =
  | { readonly kind: 'embedded'; readonly dir: string }
  | { readonly kind: 'embedded-remote'; readonly url: string; readonly timeoutMs: number }
  | UnytLedgerConfig;

/** Which provisioner deploys VMs: farmers' agents, or the ThreeFold grid (its fields checked like the rest of the config). */
export type ProvisionerConfig =
  | { readonly kind: 'agent'; readonly commandTimeoutMs: number }
  | ({ readonly kind: 'grid' } & GridProvisionerConfig);

/** The HTTP server's limits and the Host values it answers to besides its own `[address]:port`. */
export interface HttpConfig {
  /** Extra `host:port` values (e.g. `127.0.0.1:8480` behind an SSH tunnel); IP literals only, never a DNS name. */
  readonly allowedHosts: readonly string[];
  /** Open connections in all. */
  readonly maxConnections: number;
  /** Open connections from one /64 (agent WebSockets included). */
  readonly maxConnectionsPerSubnet: number;
  /** Requests a minute from one /64 that is not linked (GET /v1/offers, link challenges, …). */
  readonly unlinkedRequestsPerMinute: number;
  /** Requests a minute from one linked /64 (admins are not limited). */
  readonly linkedRequestsPerMinute: number;
  /** Agent WebSocket upgrades a minute from one /64 (each one a hello to check). */
  readonly agentUpgradesPerMinute: number;
}

/** The gateway's whole configuration, durations in clock milliseconds. */
export interface GatewayConfig {
  readonly listen?: string;
  readonly port: number;
  readonly dataDir: string;
  /** Where the state tables and logs are: files in dataDir (embedded) or a PostgreSQL database. */
  readonly store: StoreConfig;
  readonly keyFile: string;
  readonly myceliumApiUrl: string;
  /** Admin AgentPubKeys and /64s. */
  readonly admins: readonly string[];
  readonly link: { readonly challengeTtlMs: number; readonly maxSubnetsPerAgent: number; readonly challengesPerMinute: number };
  readonly offersFile: string;
  /** Price overrides by offer id, decimal strings per hour. */
  readonly prices: Readonly<Record<string, string>>;
  readonly agents: readonly ConfiguredAgent[];
  readonly heartbeatIntervalMs: number;
  readonly billing: {
    readonly periodMs: number;
    readonly farmerShareBps: number;
    readonly depositMs: number;
    readonly graceMs: number;
    readonly lowFundsRunwayMs: number;
    readonly pauseInGrace: boolean;
    /** Wait after a period ends before closing it, so late heartbeats still count. */
    readonly settleMs: number;
    /** Real ms to wait after start before the first close, so agents reconnect and replay. */
    readonly startupWaitRealMs: number;
    /** Real ms between billing-loop ticks. */
    readonly tickRealMs: number;
  };
  readonly orders: {
    readonly expireAfterMs: number;
    readonly maxProvisionAttempts: number;
    /** How long a paid order waits for a node with room before it fails (a node that missed a few heartbeats is back by then). */
    readonly roomWaitMs: number;
    readonly checkIntervalRealMs: number;
    /** Unpaid orders one customer may have open at once. */
    readonly maxUnpaid: number;
    /** Orders one customer may create within `windowMs` (any state, archived ones included). */
    readonly maxPerWindow: number;
    readonly windowMs: number;
    /** Bytes of SSH public key lines one order may carry, all keys together. */
    readonly maxSshKeyBytes: number;
    /** Expired and failed orders kept in memory per customer for its order history (all stay in the archive file). */
    readonly historyPerCustomer: number;
  };
  /** Farmer agents asking to be approved (a self-signed hello from an unknown key). */
  readonly agentRequests: {
    /** Pending requests from one /64 at once. */
    readonly maxPerSubnet: number;
    /** Pending requests in all at once. */
    readonly maxTotal: number;
    /** A pending request an admin has not decided within this time is dropped (the agent may ask again). */
    readonly expireAfterMs: number;
  };
  /** The event timeline. */
  readonly events: {
    /** The newest events kept in memory for the admin views; older ones stay in events.log on disk. */
    readonly keepInMemory: number;
  };
  readonly ledger: LedgerConfig;
  readonly provisioner: ProvisionerConfig;
  readonly probes: { readonly enabled: boolean; readonly port: number };
  /** Capacity requests and bids (docs/operator.md "Capacity requests"). */
  readonly market: MarketConfig;
  /** Redeploying VMs of dead nodes (docs/operator.md "Redeploy"). */
  readonly redeploy: RedeployConfig;
  readonly http: HttpConfig;
  /** Access escrow: charges are held until the customer's access is verified or this window after handover passes (0: off). */
  readonly escrow: { readonly windowMs: number };
  /** Trust tiers, lowest first: what a customer's history here allows (most VMs at once, deposit). */
  readonly trust: { readonly tiers: readonly TrustTierConfig[] };
  /** Active/standby gateways (docs/operator.md "Active and standby gateways"). */
  readonly ha: HaConfig;
  /** Lab only: one billed hour lasts hourSeconds real seconds, from epochMs. */
  readonly lab?: { readonly hourSeconds: number; readonly epochMs: number };
}

/** Config `market`. */
export interface MarketConfig {
  /** Requests held in all, open and finished within orders.windowHours (default 10,000). */
  readonly maxRequests: number;
  /** The longest a request may take bids (default 1,440: a day). */
  readonly maxExpiresInMinutes: number;
}

/** Config `redeploy`. */
export interface RedeployConfig {
  /** How long a VM must be down, by the agent's silence and the probes, before it moves (default 30 min). */
  readonly afterMs: number;
  /** Attempts per deployment within any 24 h (default 3). */
  readonly maxPerDay: number;
}

/** Defaults (docs/architecture.md "Agents and up-time" and "Billing"). */
export const DEFAULTS = {
  port: 8480,
  challengeTtlSeconds: 300,
  maxSubnetsPerAgent: 8,
  challengesPerMinute: 20,
  heartbeatIntervalSeconds: 15,
  periodHours: 1,
  farmerSharePercent: 90,
  depositHours: 24,
  /** Access escrow window after handover (issue 16: "default 1 h"). */
  escrowWindowHours: 1,
  /** With no trust tiers configured: the order caps (orders.maxUnpaid, maxPerWindow) are the only bound. */
  maxVmsWithoutTiers: 100_000,
  graceHours: 72,
  lowFundsRunwayHours: 24,
  orderExpireHours: 2,
  maxProvisionAttempts: 3,
  /** Long enough for a node that missed heartbeats, or a VM being cancelled, to free room; short enough that a customer is not left wondering. */
  orderRoomWaitHours: 0.5,
  /** Enough for thousands of agents and customers on one process; Node's own default is unlimited. */
  maxConnections: 4096,
  /** A customer's curl, a browser (about 6 per host) and bench/auth's 32 connections fit; one /64 cannot take the rest. */
  maxConnectionsPerSubnet: 64,
  /** A person with curl or a browser opening the customer page stays far below; a flood of GET /v1/offers from one /64 does not. */
  unlinkedRequestsPerMinute: 300,
  /** 25 a second on average from one linked /64 (bursts of a quarter of that, a few seconds' worth, pass). */
  linkedRequestsPerMinute: 1500,
  /** An agent reconnects with backoff; 60 a minute leaves room for a farm's agents behind one /64 restarting together. */
  agentUpgradesPerMinute: 60,
  maxUnpaidOrders: 10,
  maxOrdersPerWindow: 50,
  orderWindowHours: 24,
  maxSshKeyBytes: 8192,
  orderHistoryPerCustomer: 200,
  maxAgentRequestsPerSubnet: 3,
  maxAgentRequests: 1000,
  agentRequestExpireHours: 168,
  eventsInMemory: 100_000,
} as const;

/** Reads and checks a config file; paths in it are relative to the file's folder. */
export function loadGatewayConfig(path: string | undefined, overrides: { listen?: string } = {}): GatewayConfig {
  let raw: unknown = {};
  let base = process.cwd();
  if (path !== undefined) {
    base = dirname(resolve(path));
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ValidationError('config', `cannot read ${path}: ${errorMessage(err)}`);
    }
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new ValidationError('config', `${path} is not valid JSON: ${errorMessage(err)}`);
    }
  }
  const config = parseGatewayConfig(raw, base, process.env[DATABASE_URL_ENV]);
  return overrides.listen !== undefined ? { ...config, listen: overrides.listen } : config;
}

/** Checks a parsed config object; `base` resolves relative paths; `databaseUrl` is HYPHA_DATABASE_URL. */
export function parseGatewayConfig(raw: unknown, base: string, databaseUrl?: string): GatewayConfig {
  const c = expectObject(raw, 'config');
  expectOnlyKeys(
    c,
    ['listen', 'port', 'dataDir', 'store', 'keyFile', 'myceliumApiUrl', 'admins', 'link', 'offersFile', 'prices', 'agents', 'agentRequests', 'events', 'heartbeatIntervalSeconds', 'billing', 'orders', 'ledger', 'provisioner', 'probes', 'market', 'redeploy', 'http', 'ha', 'lab', 'escrow', 'trust'],
    'config',
  );
  const store = parseStoreConfig(c.store, databaseUrl);
  const path = (v: unknown, f: string, fallback: string): string => {
    const p = v === undefined ? fallback : expectString(v, f, { maxLength: 4096 });
    return isAbsolute(p) ? p : resolve(base, p);
  };
  const hours = (o: Record<string, unknown>, key: string, f: string, fallback: number): number =>
    Math.round((o[key] === undefined ? fallback : expectNumber(o[key], `${f}.${key}`, 0, 24 * 365 * 10)) * HOUR_MS);
  const dataDir = path(c.dataDir, 'config.dataDir', 'data');
  const link = expectObject(c.link ?? {}, 'config.link');
  expectOnlyKeys(link, ['challengeTtlSeconds', 'maxSubnetsPerAgent', 'challengesPerMinute'], 'config.link');
  const billing = expectObject(c.billing ?? {}, 'config.billing');
  expectOnlyKeys(billing, ['periodHours', 'farmerSharePercent', 'depositHours', 'graceHours', 'lowFundsRunwayHours', 'pauseInGrace', 'settleSeconds', 'startupWaitSeconds', 'tickSeconds'], 'config.billing');
  const orders = expectObject(c.orders ?? {}, 'config.orders');
  expectOnlyKeys(orders, ['expireAfterHours', 'maxProvisionAttempts', 'roomWaitHours', 'checkIntervalSeconds', 'maxUnpaid', 'maxPerWindow', 'windowHours', 'maxSshKeyBytes', 'historyPerCustomer'], 'config.orders');
  const int = (o: Record<string, unknown>, key: string, f: string, fallback: number, min: number, max: number): number => (o[key] === undefined ? fallback : expectInteger(o[key], `${f}.${key}`, min, max));
  const maxPerWindow = int(orders, 'maxPerWindow', 'config.orders', DEFAULTS.maxOrdersPerWindow, 1, 100_000);
  const historyPerCustomer = int(orders, 'historyPerCustomer', 'config.orders', DEFAULTS.orderHistoryPerCustomer, 1, 1_000_000);
  // The window count reads archived orders from the in-memory history: it must hold a whole window's worth.
  if (historyPerCustomer < maxPerWindow) throw new ValidationError('config.orders.historyPerCustomer', `must be at least orders.maxPerWindow (${maxPerWindow})`);
  const positiveHours = (o: Record<string, unknown>, key: string, f: string, fallback: number): number => {
    const ms = hours(o, key, f, fallback);
    if (ms <= 0) throw new ValidationError(`${f}.${key}`, 'must be more than 0');
    return ms;
  };
  const windowMs = positiveHours(orders, 'windowHours', 'config.orders', DEFAULTS.orderWindowHours);
  const agentRequests = expectObject(c.agentRequests ?? {}, 'config.agentRequests');
  expectOnlyKeys(agentRequests, ['maxPerSubnet', 'maxTotal', 'expireAfterHours'], 'config.agentRequests');
  const events = expectObject(c.events ?? {}, 'config.events');
  expectOnlyKeys(events, ['keepInMemory'], 'config.events');
  const heartbeatIntervalMs = Math.round(1000 * (c.heartbeatIntervalSeconds === undefined ? DEFAULTS.heartbeatIntervalSeconds : expectNumber(c.heartbeatIntervalSeconds, 'config.heartbeatIntervalSeconds', 0.001, 3600)));
  const periodMs = hours(billing, 'periodHours', 'config.billing', DEFAULTS.periodHours);
  if (periodMs < 2 * heartbeatIntervalMs) throw new ValidationError('config.billing.periodHours', 'a period must last at least two heartbeat intervals');
  const sharePercent = billing.farmerSharePercent === undefined ? DEFAULTS.farmerSharePercent : expectNumber(billing.farmerSharePercent, 'config.billing.farmerSharePercent', 0, 100);
  const farmerShareBps = Math.round(sharePercent * 100);
  if (Math.abs(farmerShareBps - sharePercent * 100) > 1e-9) throw new ValidationError('config.billing.farmerSharePercent', 'may have at most two decimal places');
  const prices = expectObject(c.prices ?? {}, 'config.prices');
  for (const [id, price] of Object.entries(prices)) parseAmount(`config.prices.${id}`, price);
  return {
    ...(c.listen === undefined ? {} : { listen: expectString(c.listen, 'config.listen', { maxLength: 64 }) }),
    port: c.port === undefined ? DEFAULTS.port : expectInteger(c.port, 'config.port', 1, 65535),
    dataDir,
    store,
    keyFile: path(c.keyFile, 'config.keyFile', resolve(dataDir, 'gateway.key')),
    myceliumApiUrl: c.myceliumApiUrl === undefined ? 'http://127.0.0.1:8989' : expectString(c.myceliumApiUrl, 'config.myceliumApiUrl', { pattern: /^https?:\/\//, patternName: 'an http:// URL' }),
    admins: expectArray(c.admins ?? [], 'config.admins', 0, 1000, (v, f) => adminEntry(v, f)),
    link: {
      challengeTtlMs: 1000 * (link.challengeTtlSeconds === undefined ? DEFAULTS.challengeTtlSeconds : expectNumber(link.challengeTtlSeconds, 'config.link.challengeTtlSeconds', 1, 86_400)),
      maxSubnetsPerAgent: link.maxSubnetsPerAgent === undefined ? DEFAULTS.maxSubnetsPerAgent : expectInteger(link.maxSubnetsPerAgent, 'config.link.maxSubnetsPerAgent', 1, 1000),
      challengesPerMinute: link.challengesPerMinute === undefined ? DEFAULTS.challengesPerMinute : expectInteger(link.challengesPerMinute, 'config.link.challengesPerMinute', 1, 100_000),
    },
    offersFile: path(c.offersFile, 'config.offersFile', DEFAULT_OFFERS_FILE),
    prices: prices as Record<string, string>,
    agents: expectArray(c.agents ?? [], 'config.agents', 0, 100_000, (v, f) => configuredAgent(v, f)),
    heartbeatIntervalMs,
    billing: {
      periodMs,
      farmerShareBps,
      depositMs: hours(billing, 'depositHours', 'config.billing', DEFAULTS.depositHours),
      graceMs: hours(billing, 'graceHours', 'config.billing', DEFAULTS.graceHours),
      lowFundsRunwayMs: hours(billing, 'lowFundsRunwayHours', 'config.billing', DEFAULTS.lowFundsRunwayHours),
      pauseInGrace: billing.pauseInGrace === undefined ? true : expectBoolean(billing.pauseInGrace, 'config.billing.pauseInGrace'),
      settleMs: billing.settleSeconds === undefined ? 2 * heartbeatIntervalMs : 1000 * expectNumber(billing.settleSeconds, 'config.billing.settleSeconds', 0, 86_400),
      startupWaitRealMs: 1000 * (billing.startupWaitSeconds === undefined ? 60 : expectNumber(billing.startupWaitSeconds, 'config.billing.startupWaitSeconds', 0, 3600)),
      tickRealMs: 1000 * (billing.tickSeconds === undefined ? 5 : expectNumber(billing.tickSeconds, 'config.billing.tickSeconds', 0.01, 3600)),
    },
    orders: {
      expireAfterMs: hours(orders, 'expireAfterHours', 'config.orders', DEFAULTS.orderExpireHours),
      maxProvisionAttempts: orders.maxProvisionAttempts === undefined ? DEFAULTS.maxProvisionAttempts : expectInteger(orders.maxProvisionAttempts, 'config.orders.maxProvisionAttempts', 1, 20),
      roomWaitMs: hours(orders, 'roomWaitHours', 'config.orders', DEFAULTS.orderRoomWaitHours),
      checkIntervalRealMs: 1000 * (orders.checkIntervalSeconds === undefined ? 10 : expectNumber(orders.checkIntervalSeconds, 'config.orders.checkIntervalSeconds', 0.01, 3600)),
      maxUnpaid: int(orders, 'maxUnpaid', 'config.orders', DEFAULTS.maxUnpaidOrders, 1, 10_000),
      maxPerWindow,
      windowMs,
      // A single RSA 16384-bit key line is about 2.8 KB; MAX_SSH_KEY_LINE (8 KB) is the smallest sane ceiling.
      maxSshKeyBytes: int(orders, 'maxSshKeyBytes', 'config.orders', DEFAULTS.maxSshKeyBytes, 8192, 65_536),
      historyPerCustomer,
    },
    agentRequests: {
      expireAfterMs: positiveHours(agentRequests, 'expireAfterHours', 'config.agentRequests', DEFAULTS.agentRequestExpireHours),
      maxPerSubnet: int(agentRequests, 'maxPerSubnet', 'config.agentRequests', DEFAULTS.maxAgentRequestsPerSubnet, 1, 1000),
      maxTotal: int(agentRequests, 'maxTotal', 'config.agentRequests', DEFAULTS.maxAgentRequests, 1, 1_000_000),
    },
    events: { keepInMemory: int(events, 'keepInMemory', 'config.events', DEFAULTS.eventsInMemory, 100, 100_000_000) },
    ledger: ledgerConfig(c.ledger, path, dataDir),
    provisioner: provisionerConfig(c.provisioner, path),
    probes: probesConfig(c.probes),
    market: marketConfig(c.market),
    redeploy: redeployConfig(c.redeploy),
    http: httpConfig(c.http),
    escrow: escrowConfig(c.escrow, hours),
    trust: trustConfig(c.trust, hours(billing, 'depositHours', 'config.billing', DEFAULTS.depositHours)),
    ha: parseHaConfig(c.ha, store),
    ...(c.lab === undefined ? {} : { lab: labConfig(c.lab) }),
  };
}

function escrowConfig(v: unknown, hours: (o: Record<string, unknown>, key: string, f: string, fallback: number) => number): GatewayConfig['escrow'] {
  const o = expectObject(v ?? {}, 'config.escrow');
  expectOnlyKeys(o, ['windowHours'], 'config.escrow');
  return { windowMs: hours(o, 'windowHours', 'config.escrow', DEFAULTS.escrowWindowHours) };
}

/**
 * `trust.tiers`: each {name, maxVms, depositHours, minPaidHours?, minPaid?, minAgeHours?}, the first
 * needing nothing, each later one needing at least what the one before needs. Without it one tier
 * ("default") allows as many VMs as the order caps do, at the billing deposit: no trust limits.
 */
function trustConfig(v: unknown, depositMs: number): GatewayConfig['trust'] {
  const o = expectObject(v ?? {}, 'config.trust');
  expectOnlyKeys(o, ['tiers'], 'config.trust');
  if (o.tiers === undefined) return { tiers: [{ name: 'default', minPaidHours: 0, minPaid: '0.000000', minAgeMs: 0, maxVms: DEFAULTS.maxVmsWithoutTiers, depositMs }] };
  const tiers = expectArray(o.tiers, 'config.trust.tiers', 1, 32, (t, f): TrustTierConfig => {
    const x = expectObject(t, f);
    expectOnlyKeys(x, ['name', 'maxVms', 'depositHours', 'minPaidHours', 'minPaid', 'minAgeHours'], f);
    const num = (key: string, max: number): number => (x[key] === undefined ? 0 : expectNumber(x[key], `${f}.${key}`, 0, max));
    if (x.depositHours === undefined) throw new ValidationError(`${f}.depositHours`, 'is required');
    const tierDepositMs = Math.round(num('depositHours', 24 * 365) * HOUR_MS);
    if (tierDepositMs <= 0) throw new ValidationError(`${f}.depositHours`, 'must be more than 0');
    return {
      name: expectString(x.name, `${f}.name`, { maxLength: 64, pattern: /^[a-z0-9][a-z0-9_-]*$/, patternName: 'lower-case letters, digits, _ and -' }),
      maxVms: expectInteger(x.maxVms, `${f}.maxVms`, 1, 100_000),
      depositMs: tierDepositMs,
      minPaidHours: Math.floor(num('minPaidHours', 1e9)),
      minPaid: formatAmount(x.minPaid === undefined ? 0n : parseAmount(`${f}.minPaid`, x.minPaid)),
      minAgeMs: Math.round(num('minAgeHours', 24 * 365 * 100) * HOUR_MS),
    };
  });
  const names = new Set<string>();
  tiers.forEach((t, i) => {
    if (names.has(t.name)) throw new ValidationError(`config.trust.tiers[${i}].name`, `${t.name} is used twice`);
    names.add(t.name);
    const before = tiers[i - 1];
    if (i === 0 && (t.minPaidHours > 0 || parseAmount('minPaid', t.minPaid) > 0n || t.minAgeMs > 0)) throw new ValidationError('config.trust.tiers[0]', 'the first tier is every new customer\'s: it must need nothing (no minPaidHours, minPaid or minAgeHours)');
    if (before && (t.minPaidHours < before.minPaidHours || parseAmount('minPaid', t.minPaid) < parseAmount('minPaid', before.minPaid) || t.minAgeMs < before.minAgeMs)) throw new ValidationError(`config.trust.tiers[${i}]`, 'each tier must need at least what the tier before it needs');
  });
  return { tiers };
}

function adminEntry(v: unknown, f: string): string {
  const s = expectString(v, f, { maxLength: 64 });
  if (s.startsWith('u')) return expectAgentPubKey(s, f);
  try {
    return expectSubnet64(s, f);
  } catch (err) {
    throw new ValidationError(f, `must be an AgentPubKey ("uhCAk…") or a Mycelium /64 ("4a1:…::/64"): ${(err as ValidationError).message}`);
  }
}

function configuredAgent(v: unknown, f: string): ConfiguredAgent {
  const o = expectObject(v, f);
  expectOnlyKeys(o, ['agent', 'subnets', 'nodes'], f);
  return {
    agent: expectAgentPubKey(o.agent, `${f}.agent`),
    subnets: expectArray(o.subnets, `${f}.subnets`, 1, 64, expectSubnet64),
    nodes: expectArray(o.nodes, `${f}.nodes`, 1, 64, (n, nf) => expectString(n, nf, { maxLength: 64, pattern: /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, patternName: 'a node id' })),
  };
}

function ledgerConfig(v: unknown, path: (v: unknown, f: string, fallback: string) => string, dataDir: string): LedgerConfig {
  if (v === undefined) return { kind: 'embedded', dir: resolve(dataDir, 'ledger') };
  const o = expectObject(v, 'config.ledger');
  switch (o.kind) {
    case 'embedded':
      expectOnlyKeys(o, ['kind', 'dir'], 'config.ledger');
      return { kind: 'embedded', dir: path(o.dir, 'config.ledger.dir', resolve(dataDir, 'ledger')) };
    case 'embedded-remote':
      expectOnlyKeys(o, ['kind', 'url', 'timeoutSeconds'], 'config.ledger');
      return {
        kind: 'embedded-remote',
        url: expectString(o.url, 'config.ledger.url', { pattern: /^http:\/\//, patternName: 'an http:// URL' }),
        timeoutMs: 1000 * (o.timeoutSeconds === undefined ? 5 : expectNumber(o.timeoutSeconds, 'config.ledger.timeoutSeconds', 0.1, 600)),
      };
    case 'unyt':
      return parseUnytLedgerConfig(o, path, dataDir);
    default:
      throw new ValidationError('config.ledger.kind', 'must be "embedded", "embedded-remote" or "unyt"');
  }
}

function provisionerConfig(v: unknown, path: (v: unknown, f: string, fallback: string) => string): ProvisionerConfig {
  if (v === undefined) return { kind: 'agent', commandTimeoutMs: 30_000 };
  const o = expectObject(v, 'config.provisioner');
  switch (o.kind) {
    case 'agent':
      expectOnlyKeys(o, ['kind', 'commandTimeoutSeconds'], 'config.provisioner');
      return { kind: 'agent', commandTimeoutMs: 1000 * (o.commandTimeoutSeconds === undefined ? 30 : expectNumber(o.commandTimeoutSeconds, 'config.provisioner.commandTimeoutSeconds', 0.1, 3600)) };
    case 'grid': {
      const grid = parseGridProvisionerConfig(o, 'config.provisioner', (p) => path(p, 'config.provisioner.mnemonicFile', ''));
      // The mnemonic is read once here only to refuse a missing, readable-by-others or malformed one before anything starts; it is not kept.
      readGridMnemonic(grid, process.env, 'config.provisioner');
      return { kind: 'grid', ...grid };
    }
    default:
      throw new ValidationError('config.provisioner.kind', 'must be "agent" or "grid"');
  }
}

function marketConfig(v: unknown): MarketConfig {
  const o = expectObject(v ?? {}, 'config.market');
  expectOnlyKeys(o, ['maxRequests', 'maxExpiresInMinutes'], 'config.market');
  return {
    maxRequests: o.maxRequests === undefined ? 10_000 : expectInteger(o.maxRequests, 'config.market.maxRequests', 1, 1_000_000),
    maxExpiresInMinutes: o.maxExpiresInMinutes === undefined ? 1440 : expectInteger(o.maxExpiresInMinutes, 'config.market.maxExpiresInMinutes', 1, 7 * 1440),
  };
}

function redeployConfig(v: unknown): RedeployConfig {
  const o = expectObject(v ?? {}, 'config.redeploy');
  expectOnlyKeys(o, ['afterMinutes', 'maxPerDay'], 'config.redeploy');
  return {
    afterMs: 60_000 * (o.afterMinutes === undefined ? 30 : expectNumber(o.afterMinutes, 'config.redeploy.afterMinutes', 1, 7 * 1440)),
    maxPerDay: o.maxPerDay === undefined ? 3 : expectInteger(o.maxPerDay, 'config.redeploy.maxPerDay', 0, 100),
  };
}

function probesConfig(v: unknown): GatewayConfig['probes'] {
  const o = expectObject(v ?? {}, 'config.probes');
  expectOnlyKeys(o, ['enabled', 'port'], 'config.probes');
  return {
    enabled: o.enabled === undefined ? true : expectBoolean(o.enabled, 'config.probes.enabled'),
    port: o.port === undefined ? 22 : expectInteger(o.port, 'config.probes.port', 1, 65535),
  };
}

function httpConfig(v: unknown): HttpConfig {
  const o = expectObject(v ?? {}, 'config.http');
  expectOnlyKeys(o, ['allowedHosts', 'maxConnections', 'maxConnectionsPerSubnet', 'unlinkedRequestsPerMinute', 'linkedRequestsPerMinute', 'agentUpgradesPerMinute'], 'config.http');
  const allowedHosts = expectArray(o.allowedHosts ?? [], 'config.http.allowedHosts', 0, 16, (h, f) => {
    const text = expectString(h, f, { maxLength: 64 });
    const host = normaliseHost(text);
    // A DNS name here would let a page that rebinds that name in.
    if (host === undefined || !/^(?:\[[0-9a-f:.]+\]|\d{1,3}(?:\.\d{1,3}){3})(?::\d+)?$/.test(host)) {
      throw new ValidationError(f, `${JSON.stringify(text)} is not an IP literal with a port`, 'write it as a browser does: "127.0.0.1:8480" or "[5a1::1]:8480"; DNS names are refused (DNS rebinding)');
    }
    return host;
  });
  const maxConnections = o.maxConnections === undefined ? DEFAULTS.maxConnections : expectInteger(o.maxConnections, 'config.http.maxConnections', 1, 1_000_000);
  const maxConnectionsPerSubnet = o.maxConnectionsPerSubnet === undefined ? Math.min(DEFAULTS.maxConnectionsPerSubnet, maxConnections) : expectInteger(o.maxConnectionsPerSubnet, 'config.http.maxConnectionsPerSubnet', 1, maxConnections);
  const perMinute = (key: 'unlinkedRequestsPerMinute' | 'linkedRequestsPerMinute' | 'agentUpgradesPerMinute'): number =>
    o[key] === undefined ? DEFAULTS[key] : expectInteger(o[key], `config.http.${key}`, 1, 10_000_000);
  return {
    allowedHosts,
    maxConnections,
    maxConnectionsPerSubnet,
    unlinkedRequestsPerMinute: perMinute('unlinkedRequestsPerMinute'),
    linkedRequestsPerMinute: perMinute('linkedRequestsPerMinute'),
    agentUpgradesPerMinute: perMinute('agentUpgradesPerMinute'),
  };
}

function labConfig(v: unknown): NonNullable<GatewayConfig['lab']> {
  const o = expectObject(v, 'config.lab');
  expectOnlyKeys(o, ['hourSeconds', 'epochMs'], 'config.lab');
  if (process.env.HYPHA_LAB !== '1') {
    throw new ValidationError('config.lab', 'scaled time is for the lab only', 'remove "lab" from the config; `hypha lab up` sets it for its own gateway');
  }
  return {
    hourSeconds: expectNumber(o.hourSeconds, 'config.lab.hourSeconds', 0.01, 3600),
    epochMs: expectInteger(o.epochMs, 'config.lab.epochMs', 0, 8.64e15),
  };
}
