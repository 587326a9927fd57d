// FakeTransactor: the Unyt "transactor" zome functions hypha uses, keeping balances the way Unyt does, for FakeConductor.
//
// Shaped from (read, not copied; the Unyt zome is not public):
// - holochain/wind-tunnel scenarios_common/unyt_scenario/src/unyt_agent.rs: function names and
//   argument types; behaviour/smart_agreements.rs: spendable = balance - fees_owed + credit limit,
//   a RAVE's receivers collect it (get_incoming_raves, create_collect_from_rave);
//   behaviour/initiate_network.rs: the transaction fee, fee_percentage 1.
// - unytco/raindex-orders bridge-orchestrator/src/orchestrator.rs: create_parked_link with
//   ParkedLinkType::ParkedData((ParkedData, bool)) -> (ActionHashB64, AgentPubKey); a parked spend
//   "takes the balance the ledger holds and applies this spend and its fee, adds that fee to what
//   is owed"; get_parked_links_by_ea answers live links as Transactions (fixtures parked_tx,
//   parked_spend_tx); a RAVE consumes the links it was given; execute_rave -> (RAVE, ActionHash).
// - Holochain MAX_TAG_SIZE = 1000 bytes on a link tag (raindex config.rs LINK_TAG_BYTES_CEILING).
// - unytco/smart_agreement_library holo_hosting_proof_of_service: the agreement throws when the
//   funding does not cover the invoices; its output allocates to receivers, the rest back to the
//   spender. The agreement logic here is hypha's own (unyt/hypha-agreement/execution_code.rhai).
import { encode } from '@msgpack/msgpack';
import { createHash } from 'node:crypto';
import { formatAmount, parseAmount } from '../../protocol/money.js';
import { actionHashBytes, actionHashOf, agentText, holoHashText } from '../../gateway/ledger/unyt/holo-hash.js';

/** Holochain's MAX_TAG_SIZE. */
export const MAX_TAG_BYTES = 1000;
/** wind-tunnel initiate_network.rs: fee_percentage 1, i.e. 100 basis points of each spend. */
export const FEE_BPS = 100n;

/** A zome call that the zome refused: FakeConductor answers it as a `ribosome_error`. */
export class ZomeError extends Error {}

/** One unit of the alliance (get_global_units_details). */
export interface FakeUnit {
  readonly unit_index: number;
  readonly name: string;
  readonly symbol: string;
}

/** An agreement made from hypha's template: who may play each role, and its fixed farmer share. */
export interface FakeAgreement {
  readonly customer: string;
  readonly invoicer: string;
  readonly farmerShareBps: bigint;
  readonly customerRole: string;
  readonly invoicerRole: string;
}

interface Link {
  readonly id: string;
  readonly ea: string;
  readonly variant: 'Parked' | 'ParkedSpend';
  readonly creator: string;
  readonly role: string;
  readonly amount: Map<string, bigint>;
  readonly payload: unknown;
  readonly timestamp: number;
}

interface Allocation {
  readonly receiver: string;
  readonly unit: string;
  readonly micros: bigint;
  collected: boolean;
}

interface Rave {
  readonly id: string;
  readonly ea: string;
  readonly executor: string;
  readonly allocations: Allocation[];
  readonly timestamp: number;
}

/** FakeTransactor.snapshot(): amounts are decimal strings keyed by agent (or agreement), then unit index. */
export interface LedgerSnapshot {
  readonly balances: Record<string, Record<string, string>>;
  readonly feesOwed: Record<string, Record<string, string>>;
  /** Live ParkedSpend funding per agreement. */
  readonly parked: Record<string, Record<string, string>>;
  /** Every RAVE allocation per receiver, collected or not. */
  readonly allocated: Record<string, Record<string, string>>;
  readonly raves: number;
}

/** The zome state: balances, fees owed, agreements, live parked links, RAVEs. */
export class FakeTransactor {
  readonly units: FakeUnit[];
  readonly globalDefinition = actionHashOf(new Uint8Array(32).fill(0x6d));
  readonly #balances = new Map<string, Map<string, bigint>>();
  readonly #fees = new Map<string, Map<string, bigint>>();
  readonly #agreements = new Map<string, FakeAgreement>();
  readonly #links = new Map<string, Link>();
  readonly #raves = new Map<string, Rave>();
  #seq = 0;

  constructor(units: FakeUnit[]) {
    this.units = units;
  }

  /** Gives an agent base units (in Unyt: a credit limit, a bridge, a purchase agreement). */
  mint(agent: string, unit: string, micros: bigint): void {
    add(this.#balances, agent, unit, micros);
  }

  /** Creates an agreement from hypha's template; answers its id ("uhCkk…"). */
  createAgreement(agreement: FakeAgreement): string {
    const id = this.#nextHash();
    this.#agreements.set(id, agreement);
    return id;
  }

  balanceOf(agent: string, unit: string): bigint {
    return this.#balances.get(agent)?.get(unit) ?? 0n;
  }

  feesOwedBy(agent: string, unit: string): bigint {
    return this.#fees.get(agent)?.get(unit) ?? 0n;
  }

  /** Live parked links of an agreement (for assertions). */
  liveLinks(ea: string): number {
    return [...this.#links.values()].filter((l) => l.ea === ea).length;
  }

  /**
   * Everything an observer of the lab's ledger checks, as decimal strings per unit index:
   * balances, fees owed, the funds parked on each agreement, what every RAVE allocated to each
   * receiver (collected or not), and how many RAVEs ran.
   */
  snapshot(): LedgerSnapshot {
    const table = (t: Map<string, Map<string, bigint>>): Record<string, Record<string, string>> => Object.fromEntries([...t].map(([a, m]) => [a, unitMap(m)]));
    const parked = new Map<string, Map<string, bigint>>();
    for (const l of this.#links.values()) if (l.variant === 'ParkedSpend') for (const [u, v] of l.amount) add(parked, l.ea, u, v);
    const allocated = new Map<string, Map<string, bigint>>();
    for (const r of this.#raves.values()) for (const a of r.allocations) add(allocated, a.receiver, a.unit, a.micros);
    return { balances: table(this.#balances), feesOwed: table(this.#fees), parked: table(parked), allocated: table(allocated), raves: this.#raves.size };
  }

  /** RAVEs executed so far (for assertions). */
  get raveCount(): number {
    return this.#raves.size;
  }

  /** Runs one zome function as `author` (the cell's agent). Throws ZomeError for a refusal. */
  call(author: string, fn: string, payload: unknown): unknown {
    switch (fn) {
      case 'get_global_units_details':
        return this.units;
      case 'get_current_global_definition':
        return { id: actionHashBytes(this.globalDefinition), units: this.units.map((u) => u.name) };
      case 'get_ledger':
        return { balance: unitMap(this.#balances.get(author)), fees_owed: unitMap(this.#fees.get(author)) };
      case 'get_parked_links_by_ea':
        return this.#liveLinksOf(this.#ea(payload)).map((l) => this.#linkTransaction(l));
      case 'create_parked_spend':
        return this.#createParkedSpend(author, record(payload, 'CreateParkedSpendInput'));
      case 'create_parked_link':
        return this.#createParkedLink(author, record(payload, 'CreateParkedLinkInput'));
      case 'execute_rave':
        return this.#executeRave(author, record(payload, 'RAVEExecuteInputs'));
      case 'get_incoming_raves':
        return [...this.#raves.values()].filter((r) => r.allocations.some((a) => a.receiver === author && !a.collected)).map((r) => this.#raveTransaction(r, author));
      case 'create_collect_from_rave':
        return this.#collect(author, record(payload, 'Transaction'));
      default:
        throw new ZomeError(`no function ${fn} in zome transactor`);
    }
  }

  #createParkedSpend(author: string, input: Record<string, unknown>): string {
    const ea = this.#ea(input.ea_id);
    const agreement = this.#agreements.get(ea) as FakeAgreement;
    const role = String(input.ct_role_id);
    if (role !== agreement.customerRole || author !== agreement.customer) throw new ZomeError(`agent ${author} may not park a spend under role ${role} on ${ea}`);
    const amount = readUnitMap(input.amount);
    for (const [unit, micros] of amount) {
      if (micros <= 0n) throw new ZomeError('a parked spend moves a positive amount');
      const fee = (micros * FEE_BPS) / 10_000n;
      const spendable = this.balanceOf(author, unit) - this.feesOwedBy(author, unit);
      if (spendable < micros + fee) throw new ZomeError(`insufficient balance: spendable ${formatAmount(spendable)}, spend ${formatAmount(micros)} + fee ${formatAmount(fee)}`);
    }
    for (const [unit, micros] of amount) {
      add(this.#balances, author, unit, -micros);
      add(this.#fees, author, unit, (micros * FEE_BPS) / 10_000n);
    }
    const link: Link = { id: this.#nextHash(), ea, variant: 'ParkedSpend', creator: author, role, amount, payload: input.spender_payload ?? null, timestamp: this.#now() };
    this.#links.set(link.id, link);
    return link.id;
  }

  #createParkedLink(author: string, input: Record<string, unknown>): [string, Uint8Array] {
    const ea = this.#ea(input.ea_id);
    const agreement = this.#agreements.get(ea) as FakeAgreement;
    const type = record(input.parked_link_type, 'ParkedLinkType');
    const tuple = type.ParkedData;
    if (!Array.isArray(tuple) || tuple.length !== 2 || typeof tuple[1] !== 'boolean') throw new ZomeError('parked_link_type must be {ParkedData: [ParkedData, bool]}');
    const data = record(tuple[0], 'ParkedData');
    const tagBytes = encode(tuple).length;
    if (tagBytes > MAX_TAG_BYTES) throw new ZomeError(`link tag of ${tagBytes} bytes is over MAX_TAG_SIZE ${MAX_TAG_BYTES}`);
    const role = String(data.ct_role_id);
    if (role !== agreement.invoicerRole || author !== agreement.invoicer) throw new ZomeError(`agent ${author} may not park content under role ${role} on ${ea}`);
    const link: Link = {
      id: this.#nextHash(), ea, variant: 'Parked', creator: author, role,
      amount: data.amount === null || data.amount === undefined ? new Map<string, bigint>() : readUnitMap(data.amount), payload: data.payload, timestamp: this.#now(),
    };
    this.#links.set(link.id, link);
    return [link.id, rawAgent(author)];
  }

  /** hypha's agreement (unyt/hypha-agreement/execution_code.rhai), evaluated here in TypeScript. */
  #executeRave(author: string, input: Record<string, unknown>): [unknown, Uint8Array] {
    const ea = this.#ea(input.ea_id);
    const agreement = this.#agreements.get(ea) as FakeAgreement;
    if (holoHashText(input.global_definition) !== this.globalDefinition) throw new ZomeError('global_definition is not the current global definition');
    if (input.strategy !== 'Network' && input.strategy !== 'Local') throw new ZomeError('strategy must be Network or Local');
    if (author !== agreement.invoicer) throw new ZomeError(`agent ${author} is not an authorized executor of ${ea}`);
    if (!Array.isArray(input.links) || input.links.length === 0) throw new ZomeError('no links to execute over');
    const links = input.links.map((t) => {
      const id = holoHashText(record(t, 'Transaction').id);
      const link = id === undefined ? undefined : this.#links.get(id);
      if (link === undefined || link.ea !== ea) throw new ZomeError(`link ${String(id)} is not a live parked link of ${ea}`);
      return link;
    });
    const invoices = links.filter((l) => l.variant === 'Parked' && l.role === agreement.invoicerRole);
    const funding = links.filter((l) => l.variant === 'ParkedSpend' && l.role === agreement.customerRole);
    const allocations: Allocation[] = [];
    const units = new Set([...links.flatMap((l) => [...l.amount.keys()])]);
    for (const unit of units) {
      const available = funding.reduce((s, l) => s + (l.amount.get(unit) ?? 0n), 0n);
      let owed = 0n;
      for (const invoice of invoices) {
        const micros = invoice.amount.get(unit) ?? 0n;
        if (micros === 0n) continue;
        const farmer = record(invoice.payload, 'invoice payload').farmer;
        if (typeof farmer !== 'string' || agentText(rawAgentOrEmpty(farmer)) !== farmer) throw new ZomeError('invoice names no valid farmer');
        const share = (micros * agreement.farmerShareBps) / 10_000n;
        allocations.push({ receiver: farmer, unit, micros: share, collected: false }, { receiver: author, unit, micros: micros - share, collected: false });
        owed += micros;
      }
      if (owed > available) throw new ZomeError(`For execution to succeed, ${formatAmount(owed)} must be parked on this agreement to settle outstanding invoices; ${formatAmount(available)} is`);
      if (available > owed) allocations.push({ receiver: agreement.customer, unit, micros: available - owed, collected: false });
    }
    for (const l of links) this.#links.delete(l.id);
    const rave: Rave = { id: this.#nextHash(), ea, executor: author, allocations: allocations.filter((a) => a.micros > 0n), timestamp: this.#now() };
    this.#raves.set(rave.id, rave);
    const output = { unyt_allocation: rave.allocations.map((a) => ({ receiver: a.receiver, amounts: { [a.unit]: formatAmount(a.micros) } })) };
    return [{ ea_id: actionHashBytes(ea), executor: rawAgent(author), output }, actionHashBytes(rave.id) as Uint8Array];
  }

  #collect(author: string, tx: Record<string, unknown>): string {
    const id = holoHashText(tx.id);
    const rave = id === undefined ? undefined : this.#raves.get(id);
    if (rave === undefined) throw new ZomeError(`no RAVE ${String(id)}`);
    const mine = rave.allocations.filter((a) => a.receiver === author && !a.collected);
    if (mine.length === 0) throw new ZomeError(`nothing to collect for ${author} from RAVE ${rave.id}`);
    for (const a of mine) {
      a.collected = true;
      add(this.#balances, author, a.unit, a.micros);
    }
    return this.#nextHash();
  }

  #liveLinksOf(ea: string): Link[] {
    return [...this.#links.values()].filter((l) => l.ea === ea);
  }

  #linkTransaction(l: Link): unknown {
    const common = { ea_id: actionHashBytes(l.ea), executor: null, ct_role_id: l.role, role_display_name: l.role, smart_agreement_title: 'hypha', attached_payload: l.payload };
    return {
      id: actionHashBytes(l.id),
      tx_type: l.variant,
      amount: unitMap(l.amount),
      counterparty: [],
      history: [],
      timestamp: l.timestamp,
      creator: rawAgent(l.creator),
      details: l.variant === 'Parked' ? { Parked: { ...common, consumed_link: false } } : { ParkedSpend: { ...common, spender: rawAgent(l.creator), is_parked_spend_credit: false } },
    };
  }

  #raveTransaction(r: Rave, receiver: string): unknown {
    const amounts = new Map<string, bigint>();
    for (const a of r.allocations) if (a.receiver === receiver && !a.collected) amounts.set(a.unit, (amounts.get(a.unit) ?? 0n) + a.micros);
    return { id: actionHashBytes(r.id), tx_type: 'RAVE', amount: unitMap(amounts), creator: rawAgent(r.executor), timestamp: r.timestamp, details: { RAVE: { ea_id: actionHashBytes(r.ea) } } };
  }

  #ea(value: unknown): string {
    const ea = holoHashText(value);
    if (ea === undefined || !this.#agreements.has(ea)) throw new ZomeError(`no smart agreement ${String(ea)}`);
    return ea;
  }

  /** Holochain Timestamp: microseconds since the epoch, strictly increasing here. */
  #now(): number {
    this.#seq++;
    return Date.now() * 1000 + this.#seq;
  }

  #nextHash(): string {
    this.#seq++;
    return actionHashOf(createHash('sha256').update(`fake-action-${this.#seq}`).digest());
  }
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) throw new ZomeError(`Deserialize: expected ${what}`);
  return value as Record<string, unknown>;
}

/** A UnitMap from the wire: decimal strings keyed by unit index digits (never by name). */
function readUnitMap(value: unknown): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const [k, v] of Object.entries(record(value, 'UnitMap'))) {
    if (!/^(?:0|[1-9][0-9]{0,2})$/.test(k)) throw new ZomeError(`UnitMap key ${JSON.stringify(k)} is not a unit index`);
    try {
      out.set(k, parseAmount(`amount[${k}]`, v));
    } catch {
      throw new ZomeError(`UnitMap amount ${JSON.stringify(v)} is not a decimal`);
    }
  }
  return out;
}

function unitMap(m: Map<string, bigint> | undefined): Record<string, string> {
  return Object.fromEntries([...(m ?? new Map<string, bigint>())].map(([k, v]) => [k, formatAmount(v)]));
}

function add(table: Map<string, Map<string, bigint>>, agent: string, unit: string, micros: bigint): void {
  const row = table.get(agent) ?? new Map<string, bigint>();
  row.set(unit, (row.get(unit) ?? 0n) + micros);
  table.set(agent, row);
}

function rawAgent(agent: string): Uint8Array {
  return Uint8Array.from(Buffer.from(agent.slice(1), 'base64url'));
}

function rawAgentOrEmpty(agent: string): Uint8Array {
  try {
    return rawAgent(agent);
  } catch {
    return new Uint8Array();
  }
}
