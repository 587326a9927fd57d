// UnytLedger: the experimental Ledger adapter that bills customers through the Unyt hApp on a Holochain conductor.
//
// How hypha maps onto Unyt (docs/architecture.md "Facts the code relies on: Unyt" and "Billing"):
// - every customer has a smart agreement (an "EA", identified by its ActionHash "uhCkk…") that the
//   customer funds by parking spends on it under the customer role;
// - a billing event is a parked spend the gateway creates on that agreement under its invoicer role,
//   carrying the invoice payload and hypha's idempotency key; executing the agreement (a RAVE)
//   over the invoice and the customer's funding allocates the charge; the agreement's code pays
//   nothing when the funding does not cover the invoice;
// - a farmer payout is a plain spend from the gateway's agent to the farmer's agent.
// Every zome function name and payload shape sits in the "Unyt zome API" section below, with its source.
import { mkdir, open, readFile, truncate, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { decodeAgentPubKey } from '../../identity/agent-pub-key.js';
import { fromBase64, toBase64Url } from '../../identity/bytes.js';
import { formatAmount, parseAmount, UNIT } from '../../protocol/money.js';
import {
  LedgerRejectedError,
  LedgerUnavailableError,
  type Balance,
  type BillingEvent,
  type Ledger,
  type Payout,
  type PostResult,
} from './ledger.js';

// ---------------------------------------------------------------------------------------------
// Unyt zome API: the ONE place that names zome functions and builds their payloads.
//
// Sources (read, not copied):
// [WT]  holochain/wind-tunnel scenarios/unyt_chain_transaction/src/unyt_agent.rs: every call goes to
//       the "alliance" role's "transactor" zome; names get_ledger, create_parked_spend, execute_rave,
//       get_current_global_definition, create_spend (SpendInput {receiver: AgentPubKeyB64, amount:
//       UnitMap, note: Option<String>, service_network_definition: Option<ActionHash>} -> Transaction).
// [RO]  unytco/raindex-orders bridge-orchestrator/src/orchestrator.rs and coupon-signer/src/withdrawer.rs:
//       get_parked_links_by_ea(ActionHash) -> Vec<Transaction>; create_parked_spend(CreateParkedSpendInput
//       {ea_id: ActionHash, executor: Option<AgentPubKey>, ct_role_id: Option<String>, amount: UnitMap,
//       spender_payload: Value, lane_definitions}) -> ActionHashB64, then the new link is looked up by id
//       among the agreement's parked links; execute_rave(RAVEExecuteInputs {ea_id, executor_inputs: Value,
//       links: Vec<Transaction>, global_definition: ActionHash, lane_definitions, strategy: GetStrategy})
//       -> (RAVE, ActionHash); Transaction (test fixture parked_spend_tx in orchestrator.rs) has id,
//       tx_type, amount (UnitMap, read by unit index "1"), creator (AgentPubKeyB64), timestamp and
//       details {ParkedSpend: {ea_id, spender, executor, ct_role_id: String, attached_payload, …}};
//       the RAVE consumes the links it was given, so they leave get_parked_links_by_ea.
// [LS]  unytco/log-sender SERVICE_ACCOUNTING.md: create_parked_spend as JSON, amounts are decimal
//       strings keyed by the unit's index in the global definition ({"1": "…"}), invoices travel as
//       spender_payload.invoice_payloads.
// [SAL] unytco/smart_agreement_library library/holo_hosting_proof_of_service/execution_code.rhai: an
//       agreement that cannot pay an invoice throws (no partial payment), so execute_rave fails.
// [HC]  holochain/holochain holochain_conductor_api ExternalApiWireError (serde snake_case "type"):
//       the error names a conductor answers with; holochain_zome_types GetStrategy {Network, Local}.
//
// Assumed (no public source found; correct here if the real app differs):
// - the hypha agreement template: funding links are ParkedSpend under `customerRole` created by the
//   customer; invoices are ParkedSpend under `invoicerRole`; its code allocates an invoice only if the
//   funding links given to the RAVE cover it, and re-parks the customer's remainder;
// - spender_payload {idempotency_key, invoice_payloads: [...]} and executor_inputs {idempotency_key};
// - lane_definitions: [] (no lanes) and strategy "Network";
// - create_spend also accepting lane_definitions (sent alongside service_network_definition, the
//   field [WT] shows; serde ignores whichever the installed version does not know).
// ---------------------------------------------------------------------------------------------

/** Zome function names hypha calls on the transactor zome, and what each is for. */
export const UNYT_ZOME_FUNCTIONS = {
  /** [RO] The live (not yet consumed) parked links of an agreement: funding and invoices. */
  getParkedLinksByEa: 'get_parked_links_by_ea',
  /** [WT][RO][LS] Parks a spend (here: an invoice) on an agreement. */
  createParkedSpend: 'create_parked_spend',
  /** [WT][RO] The global definition whose id execute_rave needs. */
  getCurrentGlobalDefinition: 'get_current_global_definition',
  /** [WT][RO] Executes an agreement (a RAVE) over explicit links. */
  executeRave: 'execute_rave',
  /** [WT] A direct spend from the gateway's agent to a payee. */
  createSpend: 'create_spend',
} as const;

/** Error names of answers the conductor itself gave ([HC]); any other failure may not have reached it. */
const CONDUCTOR_ERROR_NAMES: ReadonlySet<string> = new Set([
  'internal_error',
  'deserialization',
  'dna_read_error',
  'ribosome_error',
  'activate_app',
  'zome_call_unauthorized',
  'countersigning_session_error',
]);

/** A value msgpack (and serde_json::Value on the other side) can carry. */
type WireValue = null | boolean | number | string | Uint8Array | WireValue[] | { [key: string]: WireValue };

function unitMap(unitKey: string, amountMicros: bigint): Record<string, string> {
  return { [unitKey]: formatAmount(amountMicros) };
}

function createParkedSpendPayload(p: {
  agreement: Uint8Array;
  executor: Uint8Array | null;
  role: string;
  unitKey: string;
  amountMicros: bigint;
  spenderPayload: WireValue;
}): WireValue {
  return {
    ea_id: p.agreement,
    executor: p.executor,
    ct_role_id: p.role,
    amount: unitMap(p.unitKey, p.amountMicros),
    spender_payload: p.spenderPayload,
    lane_definitions: [],
  };
}

function executeRavePayload(p: {
  agreement: Uint8Array;
  key: string;
  links: readonly unknown[];
  globalDefinition: Uint8Array;
}): unknown {
  return {
    ea_id: p.agreement,
    executor_inputs: { idempotency_key: p.key },
    links: p.links,
    global_definition: p.globalDefinition,
    lane_definitions: [],
    strategy: 'Network',
  };
}

function createSpendPayload(p: { receiver: string; unitKey: string; amountMicros: bigint; note: string }): WireValue {
  return {
    receiver: p.receiver,
    amount: unitMap(p.unitKey, p.amountMicros),
    note: p.note,
    service_network_definition: null,
    lane_definitions: [],
  };
}

/** The invoice a billing event parks ([LS] invoice_payloads; the inner shape is hypha's). */
function invoiceSpenderPayload(event: BillingEvent, unitKey: string): WireValue {
  return {
    idempotency_key: event.key,
    invoice_payloads: [
      {
        customer: event.customer,
        farmer: event.farmer,
        amount: unitMap(unitKey, event.amountMicros),
        receipt_ids: [...event.receiptIds],
        invoice: toWire('event.invoice', event.invoice),
      },
    ],
  };
}

/** The note on a payout spend: the key finds it again in the gateway agent's history. */
function payoutNote(payout: Payout): string {
  return JSON.stringify({ hypha_payout: payout.key, receipt_ids: payout.receiptIds });
}

/** One parked link of an agreement, as far as hypha reads it. */
interface ParkedLink {
  /** The Transaction exactly as the conductor sent it; execute_rave gets it back unchanged. */
  readonly raw: unknown;
  readonly id: string;
  readonly creator: string | undefined;
  /** Set when the link is a ParkedSpend. */
  readonly spend: { readonly role: string | undefined; readonly payload: unknown; readonly amount: unknown } | undefined;
}

function readParkedLinks(answer: unknown): ParkedLink[] {
  const fn = UNYT_ZOME_FUNCTIONS.getParkedLinksByEa;
  if (!Array.isArray(answer)) throw new MalformedAnswer(fn, `answered ${describe(answer)}, expected a list of transactions`);
  return answer.map((item: unknown, i) => {
    if (!isRecord(item)) throw new MalformedAnswer(fn, `item ${i} is ${describe(item)}, expected a transaction`);
    const id = holoHashText(item.id);
    if (id === undefined) throw new MalformedAnswer(fn, `item ${i} has no readable id (got ${describe(item.id)})`);
    const details = item.details;
    const parked = isRecord(details) && isRecord(details.ParkedSpend) ? details.ParkedSpend : undefined;
    return {
      raw: item,
      id,
      creator: holoHashText(item.creator),
      spend:
        parked === undefined
          ? undefined
          : {
              role: typeof parked.ct_role_id === 'string' ? parked.ct_role_id : undefined,
              payload: parked.attached_payload,
              amount: item.amount,
            },
    };
  });
}

function readGlobalDefinitionId(answer: unknown): Uint8Array {
  const fn = UNYT_ZOME_FUNCTIONS.getCurrentGlobalDefinition;
  const id = isRecord(answer) ? holoHashBytes(answer.id) : undefined;
  if (id === undefined) throw new MalformedAnswer(fn, `answered ${describe(answer)}, expected a global definition with an id`);
  return id;
}

function readCreatedLinkId(answer: unknown): string {
  const id = holoHashText(answer);
  if (id === undefined) throw new MalformedAnswer(UNYT_ZOME_FUNCTIONS.createParkedSpend, `answered ${describe(answer)}, expected an ActionHash`);
  return id;
}

function readRaveHash(answer: unknown): string {
  const hash = Array.isArray(answer) && answer.length === 2 ? holoHashText(answer[1]) : undefined;
  if (hash === undefined) throw new MalformedAnswer(UNYT_ZOME_FUNCTIONS.executeRave, `answered ${describe(answer)}, expected [RAVE, ActionHash]`);
  return hash;
}

function readSpendId(answer: unknown): string {
  const id = isRecord(answer) ? holoHashText(answer.id) : undefined;
  if (id === undefined) throw new MalformedAnswer(UNYT_ZOME_FUNCTIONS.createSpend, `answered ${describe(answer)}, expected a transaction with an id`);
  return id;
}

// ---------------------------------------------------------------------------------------------
// Configuration.
// ---------------------------------------------------------------------------------------------

/** Settings of the Unyt ledger (`ledger: {"kind": "unyt", …}` in the gateway config). */
export interface UnytLedgerConfig {
  readonly kind: 'unyt';
  /** The conductor's app interface, e.g. "ws://127.0.0.1:30000". */
  readonly appUrl: string;
  /** The installed app id of the Unyt hApp on that conductor. */
  readonly installedAppId: string;
  /**
   * The conductor's admin interface (loopback). When set, the adapter issues its own app
   * authentication token and authorizes a signing key limited to the calls it makes.
   */
  readonly adminUrl?: string;
  /** A file holding an app authentication token as a JSON array of bytes (instead of adminUrl). */
  readonly appTokenFile?: string;
  /**
   * A JSON file {capSecret, publicKey, privateKey (base64), signingKey ("uhCAk…")} with zome call
   * signing credentials granted to the gateway (instead of adminUrl).
   */
  readonly signingCredentialsFile?: string;
  /** The Origin header sent to the conductor (its interfaces check allowed_origins). Default "hypha". */
  readonly origin?: string;
  /** Default "alliance" [WT]. */
  readonly roleName?: string;
  /** Default "transactor" [WT]. */
  readonly zomeName?: string;
  /** Each customer's agreement: AgentPubKey ("uhCAk…") -> agreement ActionHash ("uhCkk…"). */
  readonly agreements?: Readonly<Record<string, string>>;
  /** ct_role_id of the customer's funding links. Default "customer_spender" (assumed). */
  readonly customerRole?: string;
  /** ct_role_id the gateway parks invoices under. Default "hypha_invoicer" (assumed). */
  readonly invoicerRole?: string;
  /** The unit balances are read in. Default "SPORE". */
  readonly unit?: string;
  /**
   * The key of each unit in Unyt amount maps. Unyt keys amounts by the unit's index in the
   * global definition ([LS]: {"1": "…"}); default: the unit name itself ({"SPORE": "…"}).
   */
  readonly unitKeys?: Readonly<Record<string, string>>;
  /** The agent authorized to execute the agreements (sent as the parked spend's executor). Default: none. */
  readonly executorAgent?: string;
  /** The idempotency journal (JSON lines, fsynced), e.g. "data/unyt-ledger.journal". */
  readonly journalPath: string;
  /** Deadline of each conductor call and of connecting, in ms. Default 30000. */
  readonly callTimeoutMs?: number;
}

/** A configuration value that cannot work; `field` names it. */
export class UnytLedgerConfigError extends Error {
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'UnytLedgerConfigError';
  }
}

type ResolvedConfig = Required<Omit<UnytLedgerConfig, 'adminUrl' | 'appTokenFile' | 'signingCredentialsFile' | 'executorAgent'>> &
  Pick<UnytLedgerConfig, 'adminUrl' | 'appTokenFile' | 'signingCredentialsFile' | 'executorAgent'>;

/** Default deadline of a conductor call. */
export const DEFAULT_UNYT_CALL_TIMEOUT_MS = 30_000;

/**
 * Checks a `ledger` config block of kind "unyt" and fills in the defaults. Throws
 * UnytLedgerConfigError naming the field (prefixed `ledger.`) and saying how to fix it.
 */
export function parseUnytLedgerConfig(value: unknown): UnytLedgerConfig {
  if (!isRecord(value)) throw new UnytLedgerConfigError('ledger', 'must be an object such as {"kind": "unyt", …}');
  if (value.kind !== 'unyt') throw new UnytLedgerConfigError('ledger.kind', 'must be "unyt" for this adapter');
  const text = (field: string, fallback?: string): string => {
    const v = value[field] ?? fallback;
    if (typeof v !== 'string' || v.length === 0) throw new UnytLedgerConfigError(`ledger.${field}`, 'must be a non-empty string');
    return v;
  };
  const optionalText = (field: string): string | undefined => (value[field] === undefined ? undefined : text(field));
  const wsUrl = (field: string, v: string | undefined): string | undefined => {
    if (v === undefined) return undefined;
    let url: URL;
    try {
      url = new URL(v);
    } catch {
      throw new UnytLedgerConfigError(`ledger.${field}`, `${JSON.stringify(v)} is not a URL; write e.g. "ws://127.0.0.1:30000"`);
    }
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
      throw new UnytLedgerConfigError(`ledger.${field}`, `must be a ws:// or wss:// URL, got ${url.protocol}`);
    }
    return v;
  };
  const stringMap = (field: string): Record<string, string> => {
    const v = value[field];
    if (v === undefined) return {};
    if (!isRecord(v)) throw new UnytLedgerConfigError(`ledger.${field}`, 'must be an object of strings');
    const out: Record<string, string> = {};
    for (const [k, s] of Object.entries(v)) {
      if (typeof s !== 'string' || s.length === 0) throw new UnytLedgerConfigError(`ledger.${field}.${k}`, 'must be a non-empty string');
      out[k] = s;
    }
    return out;
  };

  const agreements = stringMap('agreements');
  for (const [customer, agreement] of Object.entries(agreements)) {
    checkAgent(`ledger.agreements key ${JSON.stringify(customer)}`, customer);
    if (actionHashBytes(agreement) === undefined) {
      throw new UnytLedgerConfigError(`ledger.agreements.${customer}`, 'must be an agreement ActionHash ("uhCkk…", 39 bytes)');
    }
  }
  const executorAgent = optionalText('executorAgent');
  if (executorAgent !== undefined) checkAgent('ledger.executorAgent', executorAgent);
  const timeout = value.callTimeoutMs ?? DEFAULT_UNYT_CALL_TIMEOUT_MS;
  if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 1 || timeout > 600_000) {
    throw new UnytLedgerConfigError('ledger.callTimeoutMs', 'must be an integer number of milliseconds between 1 and 600000');
  }
  const adminUrl = wsUrl('adminUrl', optionalText('adminUrl'));
  const appTokenFile = optionalText('appTokenFile');
  const signingCredentialsFile = optionalText('signingCredentialsFile');
  if (adminUrl === undefined && (appTokenFile === undefined || signingCredentialsFile === undefined)) {
    throw new UnytLedgerConfigError(
      'ledger.adminUrl',
      'the adapter needs credentials: set adminUrl (the conductor admin interface), or both appTokenFile and signingCredentialsFile',
    );
  }
  return {
    kind: 'unyt',
    appUrl: wsUrl('appUrl', text('appUrl')) as string,
    installedAppId: text('installedAppId'),
    ...(adminUrl === undefined ? {} : { adminUrl }),
    ...(appTokenFile === undefined ? {} : { appTokenFile }),
    ...(signingCredentialsFile === undefined ? {} : { signingCredentialsFile }),
    origin: text('origin', 'hypha'),
    roleName: text('roleName', 'alliance'),
    zomeName: text('zomeName', 'transactor'),
    agreements,
    customerRole: text('customerRole', 'customer_spender'),
    invoicerRole: text('invoicerRole', 'hypha_invoicer'),
    unit: text('unit', UNIT),
    unitKeys: stringMap('unitKeys'),
    ...(executorAgent === undefined ? {} : { executorAgent }),
    journalPath: text('journalPath'),
    callTimeoutMs: timeout,
  };
}

function resolveConfig(config: UnytLedgerConfig): ResolvedConfig {
  return parseUnytLedgerConfig(config) as ResolvedConfig;
}

function checkAgent(field: string, text: string): void {
  try {
    decodeAgentPubKey(text);
  } catch (e) {
    throw new UnytLedgerConfigError(field, `${(e as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The connection: a narrow view of @holochain/client's AppWebsocket.
// ---------------------------------------------------------------------------------------------

/** A zome call addressed by role, as AppWebsocket.callZome takes it. */
export interface UnytZomeCall {
  readonly role_name: string;
  readonly zome_name: string;
  readonly fn_name: string;
  readonly payload: unknown;
}

/** What the adapter needs of an app websocket. */
export interface UnytAppClient {
  callZome(request: UnytZomeCall, timeoutMs?: number): Promise<unknown>;
  close(): Promise<void>;
}

/** Opens an app websocket; called again after a connection failed. */
export type UnytAppClientFactory = () => Promise<UnytAppClient>;

/** What can be swapped in tests (a fake app websocket) or by the gateway (agreement lookup). */
export interface UnytLedgerDeps {
  /** Default: connect with @holochain/client, imported on first use. */
  readonly connect?: UnytAppClientFactory;
  /** Finds a customer's agreement ("uhCkk…"); default and fallback: config.agreements. */
  readonly agreementFor?: (customer: string) => Promise<string | undefined>;
}

/**
 * The default factory: imports @holochain/client, obtains a token and signing credentials (from
 * the admin interface, or from the files named in the config), and connects to the app interface.
 */
export function holochainAppClientFactory(config: UnytLedgerConfig): UnytAppClientFactory {
  const c = resolveConfig(config);
  return async () => {
    const hc = await import('@holochain/client');
    const wsClientOptions = { origin: c.origin };
    const admin =
      c.adminUrl === undefined
        ? undefined
        : await hc.AdminWebsocket.connect({ url: new URL(c.adminUrl), wsClientOptions, defaultTimeout: c.callTimeoutMs });
    let app: Awaited<ReturnType<typeof hc.AppWebsocket.connect>> | undefined;
    try {
      const token =
        c.appTokenFile !== undefined
          ? await readTokenFile(c.appTokenFile)
          : (await (admin as NonNullable<typeof admin>).issueAppAuthenticationToken({
              installed_app_id: c.installedAppId,
              expiry_seconds: 0,
              single_use: false,
            })).token;
      app = await hc.AppWebsocket.connect({ url: new URL(c.appUrl), token, wsClientOptions, defaultTimeout: c.callTimeoutMs });
      const cellId = app.getCellIdFromRoleName(c.roleName, await app.appInfo());
      if (c.signingCredentialsFile !== undefined) {
        hc.setSigningCredentials(cellId, await readSigningCredentials(c.signingCredentialsFile));
      } else {
        const functions = Object.values(UNYT_ZOME_FUNCTIONS).map((fn): [string, string] => [c.zomeName, fn]);
        await (admin as NonNullable<typeof admin>).authorizeSigningCredentials(cellId, { type: 'listed', value: functions });
      }
      const ws = app;
      return {
        callZome: (request, timeoutMs) => ws.callZome<unknown>({ ...request }, timeoutMs),
        close: () => closeTransport(hc, ws.client),
      };
    } catch (e) {
      if (app !== undefined) await closeTransport(hc, app.client).catch(() => undefined);
      throw e;
    } finally {
      await admin?.client.close().catch(() => undefined);
    }
  };
}

async function readTokenFile(path: string): Promise<number[]> {
  const parsed: unknown = JSON.parse(await readFile(path, 'utf8'));
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((b) => Number.isInteger(b) && (b as number) >= 0 && (b as number) < 256)) {
    throw new Error(`${path}: an app authentication token file holds a JSON array of bytes, as issue_app_authentication_token returns`);
  }
  return parsed as number[];
}

async function readSigningCredentials(path: string): Promise<{
  capSecret: Uint8Array;
  keyPair: { publicKey: Uint8Array; privateKey: Uint8Array; keyType: string };
  signingKey: Uint8Array;
}> {
  const doc: unknown = JSON.parse(await readFile(path, 'utf8'));
  if (!isRecord(doc)) throw new Error(`${path}: expected {capSecret, publicKey, privateKey, signingKey}`);
  const signingKey = agentHashBytes(`${path}: signingKey`, doc.signingKey);
  return {
    capSecret: fromBase64(`${path}: capSecret`, doc.capSecret, 64),
    keyPair: {
      publicKey: fromBase64(`${path}: publicKey`, doc.publicKey, 32),
      privateKey: fromBase64(`${path}: privateKey`, doc.privateKey, 64),
      keyType: 'ed25519',
    },
    signingKey,
  };
}

// ---------------------------------------------------------------------------------------------
// The idempotency journal: which keys were charged or paid, on disk, so a restart answers the same.
// ---------------------------------------------------------------------------------------------

type JournalKind = 'bill' | 'pay';
/** bill: parked -> paid. pay: sending -> paid, or sending -> failed (the conductor refused it). */
type JournalState = 'parked' | 'paid' | 'sending' | 'failed';

interface JournalRecord {
  readonly kind: JournalKind;
  readonly key: string;
  readonly state: JournalState;
  /** The customer charged or the farmer paid. */
  readonly party: string;
  readonly amount: string;
  readonly unit: string;
  /** The parked invoice's ActionHash (bill). */
  readonly linkId?: string;
  readonly entryId?: string;
}

/** The journal file is unreadable: the adapter stops rather than risk charging twice. */
export class UnytJournalError extends Error {
  constructor(path: string, message: string) {
    super(`unyt journal ${path}: ${message}; it is never reset silently: restore it from a backup, or move it away only if no charge can be pending`);
    this.name = 'UnytJournalError';
  }
}

const JOURNAL_STATES: ReadonlySet<string> = new Set(['parked', 'paid', 'sending', 'failed']);

class IdempotencyJournal {
  readonly #path: string;
  readonly #records = new Map<string, JournalRecord>();
  #loaded: Promise<void> | undefined;
  #handle: FileHandle | undefined;

  constructor(path: string) {
    this.#path = path;
  }

  async get(kind: JournalKind, key: string): Promise<JournalRecord | undefined> {
    await this.#load();
    return this.#records.get(`${kind}:${key}`);
  }

  async put(record: JournalRecord): Promise<void> {
    await this.#load();
    if (this.#handle === undefined) {
      await mkdir(dirname(this.#path), { recursive: true });
      this.#handle = await open(this.#path, 'a', 0o600);
    }
    await this.#handle.write(`${JSON.stringify(record)}\n`);
    await this.#handle.datasync();
    this.#records.set(`${record.kind}:${record.key}`, record);
  }

  async close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close();
  }

  #load(): Promise<void> {
    this.#loaded ??= this.#read();
    return this.#loaded;
  }

  async #read(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.#path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new UnytJournalError(this.#path, (e as Error).message);
    }
    const lines = text.split('\n');
    const last = lines.pop() as string;
    if (last !== '') {
      // A write cut short by a crash leaves a last line without its newline; nothing after it
      // was acknowledged, so it is dropped (and cut from the file, so appends start clean).
      await truncate(this.#path, Buffer.byteLength(text) - Buffer.byteLength(last));
    }
    lines.forEach((line, i) => {
      const record = parseJournalLine(line);
      if (record === undefined) throw new UnytJournalError(this.#path, `line ${i + 1} is not a journal record`);
      this.#records.set(`${record.kind}:${record.key}`, record);
    });
  }
}

function parseJournalLine(line: string): JournalRecord | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!isRecord(v)) return undefined;
  const ok =
    (v.kind === 'bill' || v.kind === 'pay') &&
    typeof v.key === 'string' &&
    typeof v.state === 'string' &&
    JOURNAL_STATES.has(v.state) &&
    typeof v.party === 'string' &&
    typeof v.amount === 'string' &&
    typeof v.unit === 'string' &&
    (v.linkId === undefined || typeof v.linkId === 'string') &&
    (v.entryId === undefined || typeof v.entryId === 'string');
  return ok ? (v as unknown as JournalRecord) : undefined;
}

// ---------------------------------------------------------------------------------------------
// The adapter.
// ---------------------------------------------------------------------------------------------

/** How a conductor call failed: never sent, refused by the conductor, or unknown (timeout, dropped socket). */
type CallOutcome = 'not_sent' | 'refused' | 'unknown';

class CallFailure extends Error {
  constructor(readonly outcome: CallOutcome, message: string) {
    super(message);
    this.name = 'CallFailure';
  }
}

class MalformedAnswer extends Error {
  constructor(fn: string, message: string) {
    super(`${fn} ${message} (is the installed Unyt hApp the version this adapter was written for?)`);
    this.name = 'MalformedAnswer';
  }
}

/**
 * The Ledger port on Unyt. Experimental: the zome API it relies on is partly assumed (see the
 * "Unyt zome API" section of this file). Every outage, timeout, conductor error and unreadable
 * answer surfaces as LedgerUnavailableError; only funding read from the agreement that does not
 * cover a charge answers `insufficient_funds`.
 */
export class UnytLedger implements Ledger {
  readonly kind = 'unyt' as const;
  readonly #config: ResolvedConfig;
  readonly #connectFactory: UnytAppClientFactory;
  readonly #agreementFor: ((customer: string) => Promise<string | undefined>) | undefined;
  readonly #journal: IdempotencyJournal;
  readonly #locks = new Map<string, Promise<unknown>>();
  #client: Promise<UnytAppClient> | undefined;
  #globalDefinition: Uint8Array | undefined;
  #closed = false;

  constructor(config: UnytLedgerConfig, deps: UnytLedgerDeps = {}) {
    this.#config = resolveConfig(config);
    this.#connectFactory = deps.connect ?? holochainAppClientFactory(config);
    this.#agreementFor = deps.agreementFor;
    this.#journal = new IdempotencyJournal(this.#config.journalPath);
  }

  /** The customer's funding parked in their agreement, in the configured unit. */
  balance(customer: string): Promise<Balance> {
    return this.#guard('balance', async () => {
      const unit = this.#config.unit;
      const agreement = await this.#agreement('balance', customer);
      const links = await this.#parkedLinks(agreement);
      return { unit, availableMicros: this.#funding(links, customer, this.#unitKey('balance', unit)).micros };
    });
  }

  /**
   * Charges one billing event: parks the invoice (once per key) and executes the agreement over
   * it and the customer's funding. Funding that does not cover it parks nothing and pays nothing.
   */
  postBillingEvent(event: BillingEvent): Promise<PostResult> {
    return this.#serial(`bill:${event.key}`, () => this.#guard('postBillingEvent', () => this.#postBillingEvent(event)));
  }

  /** Pays a farmer with a spend from the gateway's agent; once per key. */
  payFarmer(payout: Payout): Promise<{ readonly status: 'paid'; readonly entryId: string }> {
    return this.#serial(`pay:${payout.key}`, () => this.#guard('payFarmer', () => this.#payFarmer(payout)));
  }

  /** Closes the connection and the journal. */
  async close(): Promise<void> {
    this.#closed = true;
    const client = this.#client;
    this.#client = undefined;
    await Promise.all([this.#journal.close(), client?.then((c) => c.close()).catch(() => undefined)]);
  }

  async #postBillingEvent(event: BillingEvent): Promise<PostResult> {
    const op = 'postBillingEvent';
    checkCharge(op, event.key, event.amountMicros, event.unit);
    checkAgentArg(op, 'event.customer', event.customer);
    checkAgentArg(op, 'event.farmer', event.farmer);
    const unitKey = this.#unitKey(op, event.unit);
    const fingerprint = { party: event.customer, amount: formatAmount(event.amountMicros), unit: event.unit };
    const journaled = await this.#journal.get('bill', event.key);
    if (journaled !== undefined) sameCharge(op, journaled, fingerprint);
    if (journaled?.state === 'paid') return { status: 'paid', entryId: journaled.entryId as string };

    const agreement = await this.#agreement(op, event.customer);
    let links = await this.#parkedLinks(agreement);
    let invoice = links.find((l) => this.#isInvoiceFor(l, event.key));
    if (invoice === undefined && journaled?.state === 'parked') {
      // The invoice this key parked is gone from the agreement: a RAVE consumed it, so it was paid
      // (the gateway stopped before it could record that).
      const entryId = journaled.linkId as string;
      await this.#journal.put({ kind: 'bill', key: event.key, state: 'paid', ...fingerprint, entryId });
      return { status: 'paid', entryId };
    }
    if (invoice !== undefined) {
      const parked = isRecord(invoice.spend?.amount) ? invoice.spend.amount[unitKey] : undefined;
      if (readLedgerAmount(`invoice ${invoice.id} amount`, parked) !== event.amountMicros) {
        throw new LedgerRejectedError(op, `key ${event.key} already parked invoice ${invoice.id} for a different amount; an idempotency key names one charge`);
      }
      if (journaled === undefined) {
        // Parked before a crash that lost the journal line: record it before the RAVE can consume it.
        await this.#journal.put({ kind: 'bill', key: event.key, state: 'parked', ...fingerprint, linkId: invoice.id });
      }
    }
    const funding = this.#funding(links, event.customer, unitKey);
    if (funding.micros < event.amountMicros) return { status: 'insufficient_funds', availableMicros: funding.micros };

    if (invoice === undefined) {
      const payload = createParkedSpendPayload({
        agreement: actionHashBytes(agreement) as Uint8Array,
        executor: this.#config.executorAgent === undefined ? null : rawAgentBytes(this.#config.executorAgent),
        role: this.#config.invoicerRole,
        unitKey,
        amountMicros: event.amountMicros,
        spenderPayload: invoiceSpenderPayload(event, unitKey),
      });
      const linkId = readCreatedLinkId(await this.#call(UNYT_ZOME_FUNCTIONS.createParkedSpend, payload));
      await this.#journal.put({ kind: 'bill', key: event.key, state: 'parked', ...fingerprint, linkId });
      links = await this.#parkedLinks(agreement);
      invoice = links.find((l) => l.id === linkId);
      if (invoice === undefined) {
        throw new CallFailure('unknown', `the parked invoice ${linkId} is not among the agreement's links yet; the next attempt executes it`);
      }
    }

    const globalDefinition = await this.#currentGlobalDefinition();
    const ravePayload = executeRavePayload({
      agreement: actionHashBytes(agreement) as Uint8Array,
      key: event.key,
      links: [invoice.raw, ...this.#funding(links, event.customer, unitKey).links.map((l) => l.raw)],
      globalDefinition,
    });
    let answer: unknown;
    try {
      answer = await this.#call(UNYT_ZOME_FUNCTIONS.executeRave, ravePayload);
    } catch (e) {
      if (e instanceof CallFailure && e.outcome === 'refused') {
        this.#globalDefinition = undefined; // a new global definition is one reason to refuse; read it again next time
        // The agreement refused to run. Whether that was for want of funds is read from the
        // agreement's links, never from the error text.
        const after = this.#funding(await this.#parkedLinks(agreement), event.customer, unitKey);
        if (after.micros < event.amountMicros) return { status: 'insufficient_funds', availableMicros: after.micros };
      }
      throw e;
    }
    const entryId = readRaveHash(answer);
    await this.#journal.put({ kind: 'bill', key: event.key, state: 'paid', ...fingerprint, entryId });
    return { status: 'paid', entryId };
  }

  async #payFarmer(payout: Payout): Promise<{ readonly status: 'paid'; readonly entryId: string }> {
    const op = 'payFarmer';
    checkCharge(op, payout.key, payout.amountMicros, payout.unit);
    checkAgentArg(op, 'payout.farmer', payout.farmer);
    const unitKey = this.#unitKey(op, payout.unit);
    const fingerprint = { party: payout.farmer, amount: formatAmount(payout.amountMicros), unit: payout.unit };
    const journaled = await this.#journal.get('pay', payout.key);
    if (journaled !== undefined) sameCharge(op, journaled, fingerprint);
    if (journaled?.state === 'paid') return { status: 'paid', entryId: journaled.entryId as string };
    if (journaled?.state === 'sending') {
      throw new LedgerRejectedError(
        op,
        `payout ${payout.key} was sent but its outcome is unknown (the call timed out or the connection dropped); ` +
          `look for a spend whose note names it in the gateway agent's Unyt history, and if there is none, ` +
          `remove the lines of this key from ${this.#config.journalPath} while the gateway is stopped`,
      );
    }
    await this.#journal.put({ kind: 'pay', key: payout.key, state: 'sending', ...fingerprint });
    const payload = createSpendPayload({ receiver: payout.farmer, unitKey, amountMicros: payout.amountMicros, note: payoutNote(payout) });
    let answer: unknown;
    try {
      answer = await this.#call(UNYT_ZOME_FUNCTIONS.createSpend, payload);
    } catch (e) {
      // Refused by the conductor or never sent: nothing was committed, so the next attempt may send.
      if (e instanceof CallFailure && e.outcome !== 'unknown') {
        await this.#journal.put({ kind: 'pay', key: payout.key, state: 'failed', ...fingerprint });
      }
      throw e;
    }
    const entryId = readSpendId(answer);
    await this.#journal.put({ kind: 'pay', key: payout.key, state: 'paid', ...fingerprint, entryId });
    return { status: 'paid', entryId };
  }

  #isInvoiceFor(link: ParkedLink, key: string): boolean {
    const spend = link.spend;
    return spend !== undefined && spend.role === this.#config.invoicerRole && isRecord(spend.payload) && spend.payload.idempotency_key === key;
  }

  /** The customer's funding links and their total in one unit. */
  #funding(links: readonly ParkedLink[], customer: string, unitKey: string): { micros: bigint; links: ParkedLink[] } {
    const mine = links.filter((l) => l.spend?.role === this.#config.customerRole && l.creator === customer);
    let micros = 0n;
    for (const link of mine) {
      const amount = link.spend?.amount;
      if (!isRecord(amount)) {
        throw new MalformedAnswer(UNYT_ZOME_FUNCTIONS.getParkedLinksByEa, `link ${link.id} has amount ${describe(amount)}, expected a unit map`);
      }
      const value = amount[unitKey];
      if (value !== undefined) micros += readLedgerAmount(`link ${link.id} amount[${JSON.stringify(unitKey)}]`, value);
    }
    return { micros, links: mine };
  }

  #unitKey(op: string, unit: string): string {
    if (unit !== this.#config.unit && this.#config.unitKeys[unit] === undefined) {
      throw new LedgerRejectedError(op, `unit ${JSON.stringify(unit)} is not the configured unit ${JSON.stringify(this.#config.unit)} and has no entry in ledger.unitKeys`);
    }
    return this.#config.unitKeys[unit] ?? unit;
  }

  async #agreement(op: string, customer: string): Promise<string> {
    checkAgentArg(op, 'customer', customer);
    const found = (await this.#agreementFor?.(customer)) ?? this.#config.agreements[customer];
    if (found === undefined) {
      throw new LedgerRejectedError(op, `customer ${customer} has no Unyt agreement; add it to ledger.agreements ("${customer}": "uhCkk…")`);
    }
    if (actionHashBytes(found) === undefined) {
      throw new LedgerRejectedError(op, `the agreement of ${customer}, ${JSON.stringify(found)}, is not an ActionHash ("uhCkk…")`);
    }
    return found;
  }

  async #parkedLinks(agreement: string): Promise<ParkedLink[]> {
    return readParkedLinks(await this.#call(UNYT_ZOME_FUNCTIONS.getParkedLinksByEa, actionHashBytes(agreement)));
  }

  async #currentGlobalDefinition(): Promise<Uint8Array> {
    this.#globalDefinition ??= readGlobalDefinitionId(await this.#call(UNYT_ZOME_FUNCTIONS.getCurrentGlobalDefinition, null));
    return this.#globalDefinition;
  }

  /** Conductor failures and unreadable answers leave an operation as LedgerUnavailableError. */
  async #guard<T>(op: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (e) {
      if (e instanceof CallFailure || e instanceof MalformedAnswer) throw new LedgerUnavailableError(op, e);
      throw e;
    }
  }

  /** One zome call with a deadline; a failure is a CallFailure that says whether it reached the conductor. */
  async #call(fn: string, payload: unknown): Promise<unknown> {
    const ms = this.#config.callTimeoutMs;
    const where = `${fn} on ${this.#config.roleName}/${this.#config.zomeName}`;
    if (this.#closed) throw new CallFailure('not_sent', 'the Unyt ledger is closed');
    let client: UnytAppClient;
    try {
      client = await this.#connect(ms);
    } catch (e) {
      const admin = this.#config.adminUrl === undefined ? '' : `, admin ${this.#config.adminUrl}`;
      throw new CallFailure('not_sent', `cannot reach the Unyt conductor (app ${this.#config.appUrl}${admin}): ${errorText(e)}`);
    }
    try {
      return await deadline(
        client.callZome({ role_name: this.#config.roleName, zome_name: this.#config.zomeName, fn_name: fn, payload }, ms),
        ms,
        `${where} timed out after ${ms} ms`,
      );
    } catch (e) {
      if (e instanceof CallFailure) {
        this.#dropConnection(client);
        throw e;
      }
      const refused = e instanceof Error && CONDUCTOR_ERROR_NAMES.has(e.name);
      if (!refused) this.#dropConnection(client);
      throw new CallFailure(refused ? 'refused' : 'unknown', `${where} failed: ${errorText(e)}`);
    }
  }

  #connect(ms: number): Promise<UnytAppClient> {
    if (this.#client === undefined) {
      const opening = this.#connectFactory();
      this.#client = opening;
      opening.catch(() => {
        if (this.#client === opening) this.#client = undefined;
      });
    }
    const pending = this.#client;
    return deadline(pending, ms, `connecting timed out after ${ms} ms`).catch((e: unknown) => {
      if (this.#client === pending) this.#client = undefined;
      // A connection that opens after its deadline is closed, not leaked.
      pending.then((c) => c.close()).catch(() => undefined);
      throw e;
    });
  }

  #dropConnection(client: UnytAppClient): void {
    const current = this.#client;
    this.#client = undefined;
    this.#globalDefinition = undefined;
    current?.then((c) => (c === client ? c.close() : undefined)).catch(() => undefined);
  }

  async #serial<T>(id: string, run: () => Promise<T>): Promise<T> {
    const before = this.#locks.get(id) ?? Promise.resolve();
    const result = before.then(run, run);
    const tail = result.catch(() => undefined);
    this.#locks.set(id, tail);
    try {
      return await result;
    } finally {
      if (this.#locks.get(id) === tail) this.#locks.delete(id);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------------------------

function checkCharge(op: string, key: string, amountMicros: bigint, unit: string): void {
  if (typeof key !== 'string' || key.length === 0) throw new LedgerRejectedError(op, 'the idempotency key must be a non-empty string');
  if (typeof amountMicros !== 'bigint' || amountMicros <= 0n) throw new LedgerRejectedError(op, `amountMicros must be a positive bigint, got ${String(amountMicros)}`);
  if (typeof unit !== 'string' || unit.length === 0) throw new LedgerRejectedError(op, 'unit must be a non-empty string');
}

function checkAgentArg(op: string, field: string, value: string): void {
  try {
    decodeAgentPubKey(value);
  } catch (e) {
    throw new LedgerRejectedError(op, `${field}: ${(e as Error).message}`);
  }
}

function sameCharge(op: string, journaled: JournalRecord, now: { party: string; amount: string; unit: string }): void {
  if (journaled.party !== now.party || journaled.amount !== now.amount || journaled.unit !== now.unit) {
    throw new LedgerRejectedError(
      op,
      `key ${journaled.key} was used for ${journaled.amount} ${journaled.unit} (${journaled.party}), now for ${now.amount} ${now.unit} (${now.party}); an idempotency key names one charge`,
    );
  }
}

/**
 * An amount the ledger sent: a non-negative decimal string. Places beyond hypha's six are
 * dropped (rounded down), so funds are never overstated.
 */
function readLedgerAmount(field: string, value: unknown): bigint {
  const m = typeof value === 'string' ? /^([0-9]{1,30})(?:\.([0-9]+))?$/.exec(value) : null;
  if (m === null) throw new MalformedAnswer(UNYT_ZOME_FUNCTIONS.getParkedLinksByEa, `${field} is ${describe(value)}, expected a decimal string`);
  const whole = BigInt(m[1] as string).toString();
  const frac = (m[2] ?? '').slice(0, 6);
  return parseAmount(field, frac === '' ? whole : `${whole}.${frac}`);
}

/** The HoloHash prefix of an ActionHash ("uhCkk"). */
const ACTION_PREFIX = [0x84, 0x29, 0x24] as const;
/** The HoloHash prefix of an AgentPubKey ("uhCAk"). */
const AGENT_PREFIX = [0x84, 0x20, 0x24] as const;
const HOLO_HASH_BYTES = 39;

function hashBytesOf(text: unknown, prefix: readonly number[]): Uint8Array | undefined {
  if (typeof text !== 'string' || !text.startsWith('u')) return undefined;
  let raw: Uint8Array;
  try {
    raw = fromBase64('hash', text.slice(1));
  } catch {
    return undefined;
  }
  if (raw.length !== HOLO_HASH_BYTES || prefix.some((b, i) => raw[i] !== b)) return undefined;
  return raw;
}

/** The 39 raw bytes of an agreement/action hash string, or undefined. */
function actionHashBytes(text: string): Uint8Array | undefined {
  return hashBytesOf(text, ACTION_PREFIX);
}

/** The raw 39-byte AgentPubKey Holochain's client sends (prefix, key, location), after full validation. */
function rawAgentBytes(agent: string): Uint8Array {
  decodeAgentPubKey(agent);
  return hashBytesOf(agent, AGENT_PREFIX) as Uint8Array;
}

function agentHashBytes(field: string, text: unknown): Uint8Array {
  try {
    return rawAgentBytes(text as string);
  } catch (e) {
    throw new Error(`${field}: ${(e as Error).message}`);
  }
}

/** A HoloHash as the conductor may send it (39 bytes, or its "u…" string) -> its "u…" string. */
function holoHashText(value: unknown): string | undefined {
  if (value instanceof Uint8Array) return value.length === HOLO_HASH_BYTES ? `u${toBase64Url(value)}` : undefined;
  if (typeof value === 'string' && /^u[A-Za-z0-9_-]{52}$/.test(value)) return value;
  return undefined;
}

function holoHashBytes(value: unknown): Uint8Array | undefined {
  if (value instanceof Uint8Array) return value.length === HOLO_HASH_BYTES ? value : undefined;
  const text = holoHashText(value);
  return text === undefined ? undefined : fromBase64('hash', text.slice(1));
}

/** Plain JSON-like data for the wire; bigint becomes its decimal string (lossless), the rest is refused. */
function toWire(field: string, value: unknown): WireValue {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new LedgerRejectedError('postBillingEvent', `${field} holds ${value}, which JSON cannot carry`);
    return value;
  }
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map((v, i) => toWire(`${field}[${i}]`, v));
  if (isRecord(value)) {
    const out: Record<string, WireValue> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toWire(`${field}.${k}`, v);
    return out;
  }
  throw new LedgerRejectedError('postBillingEvent', `${field} holds a ${typeof value}, which cannot go on the ledger`);
}

function deadline<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CallFailure('unknown', message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'number') return `the number ${value}`;
  return typeof value === 'object' ? 'an object' : typeof value;
}

function errorText(e: unknown): string {
  if (e instanceof Error) return e.name && e.name !== 'Error' && e.name !== 'CallFailure' ? `${e.name}: ${e.message}` : e.message;
  return String(e);
}

/**
 * Closes an app connection. @holochain/client 0.21 types `AppWebsocket.client` as a transport that
 * may be Tauri IPC (no close); over a websocket it is a `WsClient`, which closes.
 */
async function closeTransport(hc: typeof import('@holochain/client'), transport: unknown): Promise<void> {
  if (transport instanceof hc.WsClient) await transport.close();
}
