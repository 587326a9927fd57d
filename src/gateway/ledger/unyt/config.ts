// The `ledger: {"kind": "unyt", …}` block of the gateway config: parsed and checked when the config loads.
import { resolve } from 'node:path';
import {
  ValidationError,
  expectAgentPubKey,
  expectInteger,
  expectObject,
  expectOnlyKeys,
  expectString,
  optionalString,
} from '../../../protocol/validate.js';
import { UNIT } from '../../../protocol/money.js';
import { actionHashBytes } from './holo-hash.js';
import { DEFAULT_ROLE_NAME, DEFAULT_ZOME_NAME } from './zome-api.js';

/** Settings of the Unyt ledger adapter. Paths are absolute (resolved against the config file). */
export interface UnytLedgerConfig {
  readonly kind: 'unyt';
  /** The conductor's app interface, e.g. "ws://127.0.0.1:30000". */
  readonly appUrl: string;
  /** The installed app id of the Unyt hApp; the admin interface issues tokens for it. */
  readonly installedAppId: string;
  /** The conductor's admin interface (loopback): the adapter issues its own token and signing grant. */
  readonly adminUrl?: string;
  /** A 0600 file holding an app authentication token (JSON array of bytes), instead of adminUrl. */
  readonly appTokenFile?: string;
  /** A 0600 JSON file {capSecret, publicKey, privateKey (base64), signingKey ("uhCAk…")}, instead of adminUrl. */
  readonly signingCredentialsFile?: string;
  /** The Origin header sent to the conductor (its interfaces check allowed_origins). */
  readonly origin: string;
  readonly roleName: string;
  readonly zomeName: string;
  /** Each customer's agreement: AgentPubKey ("uhCAk…") -> agreement ActionHash ("uhCkk…"). */
  readonly agreements: Readonly<Record<string, string>>;
  /** ct_role_id of the customer's funding (ParkedSpend) links. */
  readonly customerRole: string;
  /** ct_role_id the gateway parks invoices (ParkedData) under. */
  readonly invoicerRole: string;
  /** The unit hypha bills in, by its name in the alliance. */
  readonly unit: string;
  /** The unit's index in Unyt UnitMaps, when given; otherwise resolved by name at start. */
  readonly unitIndex?: string;
  /** holochain GetStrategy the RAVE reads links with. */
  readonly strategy: 'Network' | 'Local';
  /** The idempotency journal (hash-chained append log, 0600). */
  readonly journalPath: string;
  /** Deadline of each conductor call and of connecting, in ms. */
  readonly callTimeoutMs: number;
}

const KEYS = [
  'kind', 'appUrl', 'installedAppId', 'adminUrl', 'appTokenFile', 'signingCredentialsFile', 'origin', 'roleName', 'zomeName',
  'agreements', 'customerRole', 'invoicerRole', 'unit', 'unitIndex', 'strategy', 'journalPath', 'callTimeoutSeconds',
] as const;

/** At most this many agreements in the config (a bound on a table the operator grows). */
export const MAX_CONFIGURED_AGREEMENTS = 10_000;

/** Default ct_role_id of the customer's funding links (hypha's agreement template, unyt/hypha-agreement). */
export const DEFAULT_CUSTOMER_ROLE = 'hypha_customer';
/** Default ct_role_id of the gateway's invoices (hypha's agreement template, unyt/hypha-agreement). */
export const DEFAULT_INVOICER_ROLE = 'hypha_invoicer';

/** Resolves a path field of the gateway config (relative to the config file), with a fallback. */
export type ConfigPath = (value: unknown, field: string, fallback: string) => string;

/**
 * Checks a `ledger` block of kind "unyt" and fills in the defaults. Throws ValidationError
 * naming the field (`config.ledger.…`) and saying how to fix it.
 */
export function parseUnytLedgerConfig(o: Record<string, unknown>, path: ConfigPath, dataDir: string): UnytLedgerConfig {
  const f = 'config.ledger';
  expectOnlyKeys(o, KEYS, f);
  const adminUrl = optionalWsUrl(o.adminUrl, `${f}.adminUrl`);
  const appTokenFile = o.appTokenFile === undefined ? undefined : path(o.appTokenFile, `${f}.appTokenFile`, '');
  const signingCredentialsFile = o.signingCredentialsFile === undefined ? undefined : path(o.signingCredentialsFile, `${f}.signingCredentialsFile`, '');
  if (adminUrl === undefined && (appTokenFile === undefined || signingCredentialsFile === undefined)) {
    throw new ValidationError(
      `${f}.adminUrl`,
      'is required unless both appTokenFile and signingCredentialsFile are set',
      'set adminUrl to the conductor admin interface (loopback), or give a token file and a signing-credentials file',
    );
  }
  const unitIndex = optionalString(o.unitIndex, `${f}.unitIndex`, { maxLength: 3, pattern: /^(?:0|[1-9][0-9]{0,2})$/, patternName: 'a unit index such as "0"' });
  if (unitIndex !== undefined && Number(unitIndex) > 255) throw new ValidationError(`${f}.unitIndex`, 'must be at most 255 (rave_engine UnitIndex is a u8)');
  const strategy = o.strategy === undefined ? 'Network' : o.strategy;
  if (strategy !== 'Network' && strategy !== 'Local') throw new ValidationError(`${f}.strategy`, 'must be "Network" or "Local" (holochain GetStrategy)');
  return {
    kind: 'unyt',
    appUrl: expectWsUrl(o.appUrl, `${f}.appUrl`),
    installedAppId: expectString(o.installedAppId, `${f}.installedAppId`, { maxLength: 200 }),
    ...(adminUrl === undefined ? {} : { adminUrl }),
    ...(appTokenFile === undefined ? {} : { appTokenFile }),
    ...(signingCredentialsFile === undefined ? {} : { signingCredentialsFile }),
    origin: name(o.origin, `${f}.origin`, 'hypha'),
    roleName: name(o.roleName, `${f}.roleName`, DEFAULT_ROLE_NAME),
    zomeName: name(o.zomeName, `${f}.zomeName`, DEFAULT_ZOME_NAME),
    agreements: agreements(o.agreements, `${f}.agreements`),
    customerRole: name(o.customerRole, `${f}.customerRole`, DEFAULT_CUSTOMER_ROLE),
    invoicerRole: name(o.invoicerRole, `${f}.invoicerRole`, DEFAULT_INVOICER_ROLE),
    unit: name(o.unit, `${f}.unit`, UNIT),
    ...(unitIndex === undefined ? {} : { unitIndex }),
    strategy,
    journalPath: path(o.journalPath, `${f}.journalPath`, resolve(dataDir, 'unyt-ledger.journal')),
    callTimeoutMs: 1000 * (o.callTimeoutSeconds === undefined ? 30 : expectInteger(o.callTimeoutSeconds, `${f}.callTimeoutSeconds`, 1, 600)),
  };
}

function name(value: unknown, field: string, fallback: string): string {
  return value === undefined ? fallback : expectString(value, field, { maxLength: 100, pattern: /^[A-Za-z0-9_.-]+$/, patternName: 'letters, digits, "_", "." or "-"' });
}

function expectWsUrl(value: unknown, field: string): string {
  const text = expectString(value, field, { maxLength: 500 });
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ValidationError(field, `${JSON.stringify(text)} is not a URL`, 'write e.g. "ws://127.0.0.1:30000"');
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new ValidationError(field, `must be a ws:// or wss:// URL, got ${url.protocol}`);
  return text;
}

function optionalWsUrl(value: unknown, field: string): string | undefined {
  return value === undefined ? undefined : expectWsUrl(value, field);
}

function agreements(value: unknown, field: string): Record<string, string> {
  if (value === undefined) return {};
  const o = expectObject(value, field);
  const entries = Object.entries(o);
  if (entries.length > MAX_CONFIGURED_AGREEMENTS) throw new ValidationError(field, `may name at most ${MAX_CONFIGURED_AGREEMENTS} customers`);
  const out: Record<string, string> = {};
  for (const [customer, agreement] of entries) {
    expectAgentPubKey(customer, `${field} key ${JSON.stringify(customer.slice(0, 60))}`);
    if (actionHashBytes(agreement) === undefined) {
      throw new ValidationError(`${field}.${customer}`, 'must be the agreement\'s ActionHash ("uhCkk…", 53 characters)');
    }
    out[customer] = agreement as string;
  }
  return out;
}
