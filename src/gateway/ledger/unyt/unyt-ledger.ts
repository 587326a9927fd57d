// UnytLedger: the Ledger port on a Unyt alliance, through the transactor zome of a Holochain 0.7 conductor.
//
// How hypha maps onto Unyt (shapes and sources in zome-api.ts; the agreement in unyt/hypha-agreement):
// - each customer has a smart agreement (an "EA", ActionHash "uhCkk…") made from hypha's template;
//   the customer funds it by parking spends (ParkedSpend, role `customerRole`): base units leave
//   the customer's balance (plus Unyt's transaction fee) and wait on the agreement;
// - a billing event parks the invoice as content (create_parked_link, ParkedData, role
//   `invoicerRole`): a small tag with the idempotency key, the invoice hash and the farmer; it
//   moves no money. The gateway's agent then executes the agreement (execute_rave) over the
//   invoice and the customer's funding: the agreement allocates the farmer's share to the farmer,
//   the rest of the charge (hypha's fee) to the executor, and the remainder back to the customer,
//   or throws when the funding does not cover the invoice (no partial payment);
// - each receiver collects its allocation (get_incoming_raves, create_collect_from_rave): the
//   gateway collects its fee here; the farmer's agent collects its share on its own conductor.
//   So a payout moves no money of its own: payFarmer checks that the RAVE that charged the
//   receipt allocated exactly the farmer's share to that farmer, and records it.
import { errorMessage } from '../../../identity/error-message.js';
import { CanonicalJsonError } from '../../../identity/canonical-json.js';
import { decodeAgentPubKey } from '../../../identity/agent-pub-key.js';
import { kindOf } from '../../../identity/kind-of.js';
import { formatAmount, parseAmount } from '../../../protocol/money.js';
import { withTimeout } from '../../../protocol/with-timeout.js';
import {
  BILLING_EVENTS_PER_CALL,
  LedgerRejectedError,
  LedgerUnavailableError,
  type Balance,
  type BatchPostResult,
  type BillingEvent,
  type Ledger,
  type Payout,
  type PostResult,
} from '../ledger.js';
import type { UnytLedgerConfig } from './config.js';
import { holochainAppClientFactory, type UnytAppClient, type UnytAppClientFactory } from './connection.js';
import { actionHashBytes, agentBytes, holoHashText } from './holo-hash.js';
import { UnytJournal, type BillPaid, type JournalRecord } from './journal.js';
import { checkTagSize, invoiceParkedData, TagTooLargeError } from './parked-tag.js';
import { CONDUCTOR_ERROR_NAMES, UNYT_FN, type CreateParkedLinkInput, type RaveExecuteInputs } from './zome-api.js';

/** What the gateway (or a test) can swap. */
export interface UnytLedgerDeps {
  /** Default: connect with @holochain/client, imported on first use. */
  readonly connect?: UnytAppClientFactory;
  /** Finds a customer's agreement ("uhCkk…"); default and fallback: config.agreements. */
  readonly agreementFor?: (customer: string) => Promise<string | undefined>;
}

/** The gateway's split, which the customer's agreement must fix to the same value (its farmer_share_bps input). */
export interface UnytBillingTerms {
  /** billing.farmerSharePercent × 100: the farmer's share of each charge in basis points. */
  readonly farmerShareBps: number;
}

/** The adapter could not start: the message says what to fix. */
export class UnytStartError extends Error {
  constructor(message: string) {
    super(`unyt ledger: ${message}`);
    this.name = 'UnytStartError';
  }
}

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

/** One parked link of an agreement, as far as hypha reads it. */
interface ParkedLink {
  /** The Transaction exactly as the conductor sent it; execute_rave gets it back unchanged. */
  readonly raw: unknown;
  readonly id: string;
  readonly creator: string | undefined;
  /** "Parked" (content) or "ParkedSpend" (funds): the TransactionDetails variant. */
  readonly variant: string | undefined;
  readonly role: string | undefined;
  readonly payload: unknown;
  readonly amount: unknown;
  /** When it was parked (Transaction.timestamp, microseconds); 0 when the conductor sent none. */
  readonly timestamp: number;
}

/** One event of a batch as it is worked on: what the journal says of its key, its parked invoice, and its entry once paid. */
interface BatchBill {
  readonly event: BillingEvent;
  readonly fingerprint: { readonly customer: string; readonly farmer: string; readonly amount: string; readonly unit: string };
  parkedId: string | undefined;
  invoice: ParkedLink | undefined;
  entryId: string | undefined;
}

/** At most this many incoming RAVEs are collected per billing event (the rest wait for the next). */
const COLLECT_PER_CALL = 20;

/**
 * The Ledger port on Unyt. Outages, timeouts, conductor errors and unreadable answers surface
 * as LedgerUnavailableError; only funding read from the agreement that does not cover a charge
 * answers `insufficient_funds`; an idempotency key charges once, across restarts (the journal).
 */
export class UnytLedger implements Ledger {
  readonly kind = 'unyt' as const;
  readonly #config: UnytLedgerConfig;
  readonly #terms: UnytBillingTerms;
  /** Set once, by open(). */
  #unitIndex: string;
  readonly #connectFactory: UnytAppClientFactory;
  readonly #agreementFor: ((customer: string) => Promise<string | undefined>) | undefined;
  readonly #journal: UnytJournal;
  readonly #locks = new Map<string, Promise<unknown>>();
  #client: Promise<UnytAppClient> | undefined;
  #globalDefinition: Uint8Array | undefined;
  #closed = false;

  private constructor(config: UnytLedgerConfig, terms: UnytBillingTerms, unitIndex: string, journal: UnytJournal, deps: UnytLedgerDeps) {
    this.#config = config;
    this.#terms = terms;
    this.#unitIndex = unitIndex;
    this.#journal = journal;
    this.#connectFactory = deps.connect ?? holochainAppClientFactory(config);
    this.#agreementFor = deps.agreementFor;
  }

  /**
   * Opens the journal and finds the billed unit's index (config.unitIndex, or by name through
   * get_global_units_details). Refuses to start when the unit is unknown to the alliance or the
   * conductor cannot say; closes what it opened when it fails.
   */
  static async open(config: UnytLedgerConfig, terms: UnytBillingTerms, deps: UnytLedgerDeps = {}): Promise<UnytLedger> {
    if (!Number.isInteger(terms.farmerShareBps) || terms.farmerShareBps < 0 || terms.farmerShareBps > 10_000) {
      throw new UnytStartError(`farmerShareBps must be an integer from 0 to 10000, got ${terms.farmerShareBps}`);
    }
    const ledger = new UnytLedger(config, terms, config.unitIndex ?? '', UnytJournal.open(config.journalPath), deps);
    if (config.unitIndex !== undefined) return ledger;
    try {
      ledger.#unitIndex = await ledger.#resolveUnitIndex();
      return ledger;
    } catch (e) {
      await ledger.close();
      if (e instanceof UnytStartError) throw e;
      throw new UnytStartError(`cannot read the alliance's units (${namedErrorText(e)}); start the conductor, or set ledger.unitIndex`);
    }
  }

  /** The unit index amounts are keyed by ("0", "1", …). */
  get unitIndex(): string {
    return this.#unitIndex;
  }

  /** The customer's funding parked on their agreement and not yet consumed by a RAVE. */
  balance(customer: string): Promise<Balance> {
    return this.#guard('balance', async () => {
      const agreement = await this.#agreement('balance', customer);
      const links = await this.#parkedLinks(agreement);
      return { unit: this.#config.unit, availableMicros: this.#funding(links, customer).micros };
    });
  }

  /**
   * Parks the invoice (once per key) and executes the agreement over it and the customer's
   * funding. One customer's charges run one at a time: two RAVEs must not be given the same
   * funding links.
   */
  postBillingEvent(event: BillingEvent): Promise<PostResult> {
    return this.#serial(`customer:${String(event.customer)}`, () => this.#guard('postBillingEvent', () => this.#postBillingEvent(event)));
  }

  /**
   * Posts a customer's billing events as one RAVE: each invoice is parked on its own (its own key,
   * tag and farmer, journaled `parked` as postBillingEvent does), then one execute_rave runs over all
   * of them and the funding that covers their sum; the agreement splits each invoice on its own
   * (unyt/hypha-agreement/execution_code.rhai), so each farmer gets the sum of its receipts' shares.
   * Funding that cannot cover them all answers `insufficient_funds` before anything is parked.
   * After a crash each invoice is found again by its key (parked: executed now; consumed: paid).
   */
  postBillingEvents(customer: string, events: readonly BillingEvent[]): Promise<BatchPostResult> {
    return this.#serial(`customer:${String(customer)}`, () => this.#guard('postBillingEvents', () => this.#postBillingEvents(customer, events)));
  }

  /**
   * Records a farmer's payout. The RAVE that charged the receipt already allocated the share to
   * the farmer (who collects it); this checks that it was exactly this share to this farmer.
   */
  payFarmer(payout: Payout): Promise<{ readonly status: 'paid'; readonly entryId: string }> {
    return this.#serial(`pay:${payout.key}`, () => this.#payFarmer(payout));
  }

  /**
   * Collects what RAVEs allocated to the gateway's agent (hypha's fee), at most
   * COLLECT_PER_CALL at a time; answers how many were collected.
   */
  collectIncoming(): Promise<number> {
    return this.#guard('collectIncoming', async () => {
      const incoming = await this.#call(UNYT_FN.getIncomingRaves, null);
      if (!Array.isArray(incoming)) throw new MalformedAnswer(UNYT_FN.getIncomingRaves, `answered ${describe(incoming)}, expected a list of transactions`);
      let collected = 0;
      for (const tx of incoming.slice(0, COLLECT_PER_CALL)) {
        await this.#call(UNYT_FN.createCollectFromRave, tx);
        collected++;
      }
      return collected;
    });
  }

  /** Closes the connection and the journal. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#dropClient();
    this.#journal.close();
  }

  async #postBillingEvent(event: BillingEvent): Promise<PostResult> {
    const op = 'postBillingEvent';
    checkCharge(op, event.key, event.amountMicros);
    this.#checkUnit(op, event.unit);
    checkAgentArg(op, 'event.customer', event.customer);
    checkAgentArg(op, 'event.farmer', event.farmer);
    const fingerprint = { customer: event.customer, farmer: event.farmer, amount: formatAmount(event.amountMicros), unit: event.unit };
    const journaled = this.#journal.get('bill', event.key);
    if (journaled !== undefined && journaled.kind === 'bill') sameCharge(op, event.key, journaled, fingerprint);
    if (journaled?.kind === 'bill' && journaled.state === 'paid') return { status: 'paid', entryId: journaled.entryId };
    const farmerMicros = (event.amountMicros * BigInt(this.#terms.farmerShareBps)) / 10_000n;
    const paid = (entryId: string): BillPaid => ({
      kind: 'bill', state: 'paid', key: event.key, ...fingerprint, entryId, farmerAmount: formatAmount(farmerMicros), receiptIds: [...event.receiptIds],
    });

    const agreement = await this.#agreement(op, event.customer);
    let links = await this.#parkedLinks(agreement);
    let invoice = links.find((l) => this.#isInvoiceFor(l, event.key));
    if (invoice === undefined && journaled?.kind === 'bill' && journaled.state === 'parked') {
      // The invoice this key parked is gone from the agreement: only a RAVE consumes a parked
      // link, so it was paid before the gateway could record it.
      await this.#journal.put(paid(journaled.linkId));
      await this.#collectQuietly();
      return { status: 'paid', entryId: journaled.linkId };
    }
    if (invoice !== undefined) {
      if (this.#amountOf(invoice) !== event.amountMicros) {
        throw new LedgerRejectedError(op, `key ${event.key} already parked invoice ${invoice.id} for a different amount; an idempotency key names one charge`);
      }
      if (journaled === undefined) {
        // Parked before a crash lost the journal line: record it before a RAVE can consume it.
        await this.#journal.put({ kind: 'bill', state: 'parked', key: event.key, ...fingerprint, linkId: invoice.id });
      }
    }
    const funding = this.#funding(links, event.customer);
    if (funding.micros < event.amountMicros) return { status: 'insufficient_funds', availableMicros: funding.micros };

    if (invoice === undefined) {
      const linkId = await this.#parkInvoice(op, agreement, event);
      await this.#journal.put({ kind: 'bill', state: 'parked', key: event.key, ...fingerprint, linkId });
      links = await this.#parkedLinks(agreement);
      invoice = links.find((l) => l.id === linkId);
      if (invoice === undefined) throw new CallFailure('unknown', `the parked invoice ${linkId} is not among the agreement's links yet; the next attempt executes it`);
    }

    const inputs: RaveExecuteInputs = {
      ea_id: actionHashBytes(agreement) as Uint8Array,
      executor_inputs: null,
      links: [invoice.raw, ...this.#coveringFunding(links, event.customer, event.amountMicros).map((l) => l.raw)],
      global_definition: await this.#currentGlobalDefinition(),
      lane_definitions: [],
      strategy: this.#config.strategy,
    };
    const invoiceId = invoice.id;
    let answer: unknown;
    try {
      answer = await this.#call(UNYT_FN.executeRave, inputs);
    } catch (e) {
      if (e instanceof CallFailure && e.outcome === 'refused') {
        this.#globalDefinition = undefined; // a new global definition is one reason to refuse; read it again next time
        // The agreement refused to run. Why is read from the agreement's links, never from the
        // error text. An invoice gone from them was consumed by a RAVE: an earlier attempt's, whose
        // answer was lost and which the conductor ran after this attempt read the links (so this
        // RAVE was given links already consumed). That charge is paid; reading it as "insufficient
        // funds" would put a paid charge in arrears and the deployment in grace.
        const links = await this.#parkedLinks(agreement);
        if (!links.some((l) => l.id === invoiceId)) {
          await this.#journal.put(paid(invoiceId));
          await this.#collectQuietly();
          return { status: 'paid', entryId: invoiceId };
        }
        const after = this.#funding(links, event.customer);
        if (after.micros < event.amountMicros) return { status: 'insufficient_funds', availableMicros: after.micros };
      }
      throw e;
    }
    const entryId = readRaveHash(answer);
    await this.#journal.put(paid(entryId));
    await this.#collectQuietly();
    return { status: 'paid', entryId };
  }

  async #postBillingEvents(customer: string, events: readonly BillingEvent[]): Promise<BatchPostResult> {
    const op = 'postBillingEvents';
    if (events.length > BILLING_EVENTS_PER_CALL) throw new LedgerRejectedError(op, `at most ${BILLING_EVENTS_PER_CALL} events per call, got ${events.length}`);
    checkAgentArg(op, 'customer', customer);
    const bills: BatchBill[] = [];
    const keys = new Set<string>();
    for (const event of events) {
      checkCharge(op, event.key, event.amountMicros);
      this.#checkUnit(op, event.unit);
      checkAgentArg(op, 'event.farmer', event.farmer);
      if (event.customer !== customer) throw new LedgerRejectedError(op, `event ${event.key} is of customer ${event.customer}, not ${customer}`);
      if (keys.has(event.key)) throw new LedgerRejectedError(op, `key ${event.key} is twice in one batch`);
      keys.add(event.key);
      const fingerprint = { customer: event.customer, farmer: event.farmer, amount: formatAmount(event.amountMicros), unit: event.unit };
      const journaled = this.#journal.get('bill', event.key);
      if (journaled?.kind === 'bill') sameCharge(op, event.key, journaled, fingerprint);
      bills.push({
        event,
        fingerprint,
        parkedId: journaled?.kind === 'bill' && journaled.state === 'parked' ? journaled.linkId : undefined,
        entryId: journaled?.kind === 'bill' && journaled.state === 'paid' ? journaled.entryId : undefined,
        invoice: undefined,
      });
    }
    const open = (): BatchBill[] => bills.filter((b) => b.entryId === undefined);
    const answer = (): BatchPostResult => ({ status: 'paid', entryIds: bills.map((b) => b.entryId as string) });
    if (open().length === 0) return answer();

    const agreement = await this.#agreement(op, customer);
    let links = await this.#parkedLinks(agreement);
    const recorded: JournalRecord[] = [];
    for (const b of open()) {
      b.invoice = links.find((l) => this.#isInvoiceFor(l, b.event.key));
      if (b.invoice === undefined && b.parkedId !== undefined) {
        // Parked by an earlier attempt and gone from the agreement: a RAVE consumed it before the answer was recorded.
        b.entryId = b.parkedId;
        recorded.push(this.#paidBill(b, b.parkedId));
        continue;
      }
      if (b.invoice === undefined) continue;
      if (this.#amountOf(b.invoice) !== b.event.amountMicros) {
        throw new LedgerRejectedError(op, `key ${b.event.key} already parked invoice ${b.invoice.id} for a different amount; an idempotency key names one charge`);
      }
      // Parked before a crash lost the journal line: recorded before a RAVE can consume it.
      if (b.parkedId === undefined) recorded.push({ kind: 'bill', state: 'parked', key: b.event.key, ...b.fingerprint, linkId: b.invoice.id });
    }
    await this.#journal.putAll(recorded);
    if (open().length === 0) {
      await this.#collectQuietly();
      return answer();
    }
    const owed = (): bigint => open().reduce((sum, b) => sum + b.event.amountMicros, 0n);
    const funding = this.#funding(links, customer);
    if (funding.micros < owed()) return { status: 'insufficient_funds', availableMicros: funding.micros };

    const toPark = open().filter((b) => b.invoice === undefined);
    if (toPark.length > 0) {
      // Journaled together once all are parked: one parked before a crash is found again by its key.
      const parked: JournalRecord[] = [];
      try {
        for (const b of toPark) {
          b.parkedId = await this.#parkInvoice(op, agreement, b.event);
          parked.push({ kind: 'bill', state: 'parked', key: b.event.key, ...b.fingerprint, linkId: b.parkedId });
        }
      } finally {
        await this.#journal.putAll(parked);
      }
      links = await this.#parkedLinks(agreement);
      for (const b of toPark) {
        b.invoice = links.find((l) => l.id === b.parkedId);
        if (b.invoice === undefined) throw new CallFailure('unknown', `the parked invoice ${String(b.parkedId)} is not among the agreement's links yet; the next attempt executes it`);
      }
    }

    const running = open();
    const inputs: RaveExecuteInputs = {
      ea_id: actionHashBytes(agreement) as Uint8Array,
      executor_inputs: null,
      links: [...running.map((b) => (b.invoice as ParkedLink).raw), ...this.#coveringFunding(links, customer, owed()).map((l) => l.raw)],
      global_definition: await this.#currentGlobalDefinition(),
      lane_definitions: [],
      strategy: this.#config.strategy,
    };
    let rave: unknown;
    try {
      rave = await this.#call(UNYT_FN.executeRave, inputs);
    } catch (e) {
      if (!(e instanceof CallFailure) || e.outcome !== 'refused') throw e;
      this.#globalDefinition = undefined;
      // As in postBillingEvent: why the agreement refused is read from its links, never from the error text.
      const after = await this.#parkedLinks(agreement);
      const gone = running.filter((b) => !after.some((l) => l.id === (b.invoice as ParkedLink).id));
      for (const b of gone) b.entryId = (b.invoice as ParkedLink).id;
      await this.#journal.putAll(gone.map((b) => this.#paidBill(b, b.entryId as string)));
      if (gone.length > 0) await this.#collectQuietly();
      if (open().length === 0) return answer();
      const left = this.#funding(after, customer);
      if (left.micros < owed()) return { status: 'insufficient_funds', availableMicros: left.micros };
      throw e;
    }
    const entryId = readRaveHash(rave);
    for (const b of running) b.entryId = entryId;
    await this.#journal.putAll(running.map((b) => this.#paidBill(b, entryId)));
    await this.#collectQuietly();
    return answer();
  }

  /** The journal line of a batch's bill paid by `entryId` (its RAVE, or its invoice when that RAVE's hash was lost). */
  #paidBill(b: BatchBill, entryId: string): BillPaid {
    const farmerMicros = (b.event.amountMicros * BigInt(this.#terms.farmerShareBps)) / 10_000n;
    return { kind: 'bill', state: 'paid', key: b.event.key, ...b.fingerprint, entryId, farmerAmount: formatAmount(farmerMicros), receiptIds: [...b.event.receiptIds] };
  }

  async #parkInvoice(op: string, agreement: string, event: BillingEvent): Promise<string> {
    let data;
    try {
      data = invoiceParkedData(this.#config.invoicerRole, this.#unitIndex, event);
      checkTagSize(data);
    } catch (e) {
      if (e instanceof TagTooLargeError || e instanceof CanonicalJsonError) throw new LedgerRejectedError(op, e.message);
      throw e;
    }
    const client = await this.#connect();
    const input: CreateParkedLinkInput = {
      ea_id: actionHashBytes(agreement) as Uint8Array,
      executor: agentBytes(client.agent),
      parked_link_type: { ParkedData: [data, true] },
    };
    const answer = await this.#call(UNYT_FN.createParkedLink, input);
    const linkId = Array.isArray(answer) && answer.length === 2 ? holoHashText(answer[0]) : undefined;
    if (linkId === undefined) throw new MalformedAnswer(UNYT_FN.createParkedLink, `answered ${describe(answer)}, expected [ActionHash, AgentPubKey]`);
    return linkId;
  }

  async #payFarmer(payout: Payout): Promise<{ readonly status: 'paid'; readonly entryId: string }> {
    const op = 'payFarmer';
    checkCharge(op, payout.key, payout.amountMicros);
    this.#checkUnit(op, payout.unit);
    checkAgentArg(op, 'payout.farmer', payout.farmer);
    const amount = formatAmount(payout.amountMicros);
    const journaled = this.#journal.get('pay', payout.key);
    if (journaled?.kind === 'pay') {
      if (journaled.farmer !== payout.farmer || journaled.amount !== amount || journaled.unit !== payout.unit) {
        throw new LedgerRejectedError(op, `key ${payout.key} was used for ${journaled.amount} ${journaled.unit} to ${journaled.farmer}; an idempotency key names one payout`);
      }
      return { status: 'paid', entryId: journaled.entryId };
    }
    if (payout.receiptIds.length === 0) throw new LedgerRejectedError(op, 'a payout names the receipts it pays for');
    const bills = new Map<string, BillPaid>();
    for (const id of payout.receiptIds) {
      const bill = this.#journal.billOfReceipt(id);
      if (bill === undefined) throw new LedgerRejectedError(op, `receipt ${id} was not charged through this Unyt ledger, so no RAVE allocated its farmer share`);
      if (bill.farmer !== payout.farmer) throw new LedgerRejectedError(op, `receipt ${id} was charged for farmer ${bill.farmer}, not ${payout.farmer}`);
      bills.set(bill.key, bill);
    }
    const allocated = [...bills.values()].reduce((sum, b) => sum + parseAmount('farmerAmount', b.farmerAmount), 0n);
    if (allocated !== payout.amountMicros) {
      throw new LedgerRejectedError(
        op,
        `the agreement allocated ${formatAmount(allocated)} ${payout.unit} to the farmer for these receipts, billing asks for ${amount}; ` +
          'billing.farmerSharePercent must equal the farmer_share_bps the agreements were made with',
      );
    }
    // Receipts charged in one batch share their RAVE: it is named once.
    const entryId = [...new Set([...bills.values()].map((b) => b.entryId))].join(',');
    const record: JournalRecord = { kind: 'pay', state: 'paid', key: payout.key, farmer: payout.farmer, amount, unit: payout.unit, entryId };
    await this.#journal.put(record);
    return { status: 'paid', entryId };
  }

  async #collectQuietly(): Promise<void> {
    // The fee waits on the gateway's agent until collected; a failure here leaves it for the next bill.
    await this.collectIncoming().catch(() => 0);
  }

  async #resolveUnitIndex(): Promise<string> {
    const fn = UNYT_FN.getGlobalUnitsDetails;
    const units = await this.#call(fn, null);
    if (!Array.isArray(units)) throw new MalformedAnswer(fn, `answered ${describe(units)}, expected a list of unit definitions`);
    const unit = this.#config.unit;
    const found = new Set<string>();
    for (const u of units) {
      if (!isRecord(u) || (u.name !== unit && u.symbol !== unit)) continue;
      const index = typeof u.unit_index === 'number' ? String(u.unit_index) : u.unit_index;
      if (typeof index !== 'string' || !/^(?:0|[1-9][0-9]{0,2})$/.test(index)) throw new MalformedAnswer(fn, `unit ${unit} has index ${describe(u.unit_index)}`);
      found.add(index);
    }
    if (found.size === 0) {
      const known = units.filter(isRecord).map((u) => String(u.name ?? u.symbol)).join(', ');
      throw new UnytStartError(`the alliance has no unit named ${JSON.stringify(unit)} (it has: ${known || 'none'}); set ledger.unit to one of them`);
    }
    if (found.size > 1) throw new UnytStartError(`more than one unit is named ${JSON.stringify(unit)}; set ledger.unitIndex`);
    return [...found][0] as string;
  }

  #isInvoiceFor(link: ParkedLink, key: string): boolean {
    return link.variant === 'Parked' && link.role === this.#config.invoicerRole && isRecord(link.payload) && link.payload.idempotency_key === key;
  }

  #amountOf(link: ParkedLink): bigint {
    if (!isRecord(link.amount)) throw new MalformedAnswer(UNYT_FN.getParkedLinksByEa, `link ${link.id} has amount ${describe(link.amount)}, expected a unit map`);
    const value = link.amount[this.#unitIndex];
    return value === undefined ? 0n : readLedgerAmount(`link ${link.id} amount[${this.#unitIndex}]`, value);
  }

  /** The customer's funding links (their ParkedSpends under the customer role) and their total. */
  #funding(links: readonly ParkedLink[], customer: string): { micros: bigint; links: ParkedLink[] } {
    const mine = links.filter((l) => l.variant === 'ParkedSpend' && l.role === this.#config.customerRole && l.creator === customer);
    return { micros: mine.reduce((sum, l) => sum + this.#amountOf(l), 0n), links: mine };
  }

  /**
   * The oldest funding links that together cover `micros`. The RAVE consumes every link it is
   * given and sends back what the invoice did not use (the template has no carry-forward), so
   * funding it does not need stays parked on the agreement for the next bill.
   */
  #coveringFunding(links: readonly ParkedLink[], customer: string, micros: bigint): ParkedLink[] {
    const chosen: ParkedLink[] = [];
    let total = 0n;
    for (const link of [...this.#funding(links, customer).links].sort((a, b) => a.timestamp - b.timestamp)) {
      if (total >= micros) break;
      chosen.push(link);
      total += this.#amountOf(link);
    }
    return chosen;
  }

  #checkUnit(op: string, unit: string): void {
    if (unit !== this.#config.unit) {
      throw new LedgerRejectedError(op, `unit ${JSON.stringify(unit)} is not the unit this ledger bills in (${JSON.stringify(this.#config.unit)}, index ${this.#unitIndex})`);
    }
  }

  async #agreement(op: string, customer: string): Promise<string> {
    checkAgentArg(op, 'customer', customer);
    const found = (await this.#agreementFor?.(customer)) ?? this.#config.agreements[customer];
    if (found === undefined) throw new LedgerRejectedError(op, `customer ${customer} has no Unyt agreement; add it to ledger.agreements ("${customer}": "uhCkk…")`);
    if (actionHashBytes(found) === undefined) throw new LedgerRejectedError(op, `the agreement of ${customer}, ${JSON.stringify(found)}, is not an ActionHash ("uhCkk…")`);
    return found;
  }

  async #parkedLinks(agreement: string): Promise<ParkedLink[]> {
    return readParkedLinks(await this.#call(UNYT_FN.getParkedLinksByEa, actionHashBytes(agreement)));
  }

  async #currentGlobalDefinition(): Promise<Uint8Array> {
    if (this.#globalDefinition === undefined) {
      const answer = await this.#call(UNYT_FN.getCurrentGlobalDefinition, null);
      const id = isRecord(answer) ? holoHashText(answer.id) : undefined;
      if (id === undefined) throw new MalformedAnswer(UNYT_FN.getCurrentGlobalDefinition, `answered ${describe(answer)}, expected a global definition with an id`);
      this.#globalDefinition = actionHashBytes(id) ?? rawHash(id);
    }
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
    const client = await this.#connect();
    try {
      return await withTimeout(client.callZome(fn, payload, ms), ms, () => new CallFailure('unknown', `${where} timed out after ${ms} ms`));
    } catch (e) {
      if (e instanceof CallFailure) {
        this.#dropConnection(client);
        throw e;
      }
      const refused = e instanceof Error && CONDUCTOR_ERROR_NAMES.has(e.name);
      if (!refused) this.#dropConnection(client);
      throw new CallFailure(refused ? 'refused' : 'unknown', `${where} failed: ${namedErrorText(e)}`);
    }
  }

  async #connect(): Promise<UnytAppClient> {
    if (this.#closed) throw new CallFailure('not_sent', 'the Unyt ledger is closed');
    const ms = this.#config.callTimeoutMs;
    if (this.#client === undefined) {
      const opening = this.#connectFactory();
      this.#client = opening;
      opening.catch(() => {
        if (this.#client === opening) this.#client = undefined;
      });
    }
    const pending = this.#client;
    try {
      return await withTimeout(pending, ms, () => new CallFailure('unknown', `connecting timed out after ${ms} ms`));
    } catch (e) {
      if (this.#client === pending) this.#client = undefined;
      // A connection that opens after its deadline is closed, not leaked.
      pending.then((c) => c.close()).catch(() => undefined);
      const admin = this.#config.adminUrl === undefined ? '' : `, admin ${this.#config.adminUrl}`;
      throw new CallFailure('not_sent', `cannot reach the Unyt conductor (app ${this.#config.appUrl}${admin}): ${namedErrorText(e)}`);
    }
  }

  #dropConnection(client: UnytAppClient): void {
    const current = this.#client;
    this.#client = undefined;
    this.#globalDefinition = undefined;
    current?.then((c) => (c === client ? c.close() : undefined)).catch(() => undefined);
  }

  async #dropClient(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    await client?.then((c) => c.close()).catch(() => undefined);
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

function readParkedLinks(answer: unknown): ParkedLink[] {
  const fn = UNYT_FN.getParkedLinksByEa;
  if (!Array.isArray(answer)) throw new MalformedAnswer(fn, `answered ${describe(answer)}, expected a list of transactions`);
  return answer.map((item: unknown, i): ParkedLink => {
    if (!isRecord(item)) throw new MalformedAnswer(fn, `item ${i} is ${describe(item)}, expected a transaction`);
    const id = holoHashText(item.id);
    if (id === undefined) throw new MalformedAnswer(fn, `item ${i} has no readable id (got ${describe(item.id)})`);
    const details = isRecord(item.details) ? item.details : {};
    const variant = Object.keys(details)[0];
    const inner = variant === undefined ? undefined : details[variant];
    const body = isRecord(inner) ? inner : {};
    return {
      raw: item,
      id,
      creator: holoHashText(item.creator),
      variant,
      role: typeof body.ct_role_id === 'string' ? body.ct_role_id : undefined,
      payload: body.attached_payload,
      amount: item.amount,
      timestamp: typeof item.timestamp === 'number' ? item.timestamp : 0,
    };
  });
}

function readRaveHash(answer: unknown): string {
  const hash = Array.isArray(answer) && answer.length === 2 ? holoHashText(answer[1]) : undefined;
  if (hash === undefined) throw new MalformedAnswer(UNYT_FN.executeRave, `answered ${describe(answer)}, expected [RAVE, ActionHash]`);
  return hash;
}

function rawHash(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.slice(1), 'base64url'));
}

function checkCharge(op: string, key: string, amountMicros: bigint): void {
  if (typeof key !== 'string' || key.length === 0) throw new LedgerRejectedError(op, 'the idempotency key must be a non-empty string');
  if (typeof amountMicros !== 'bigint' || amountMicros <= 0n) throw new LedgerRejectedError(op, `amountMicros must be a positive bigint, got ${String(amountMicros)}`);
}

function checkAgentArg(op: string, field: string, value: string): void {
  try {
    decodeAgentPubKey(value);
  } catch (e) {
    throw new LedgerRejectedError(op, `${field}: ${errorMessage(e)}`);
  }
}

function sameCharge(op: string, key: string, journaled: { customer: string; farmer: string; amount: string; unit: string }, now: { customer: string; farmer: string; amount: string; unit: string }): void {
  if (journaled.customer !== now.customer || journaled.farmer !== now.farmer || journaled.amount !== now.amount || journaled.unit !== now.unit) {
    throw new LedgerRejectedError(
      op,
      `key ${key} was used for ${journaled.amount} ${journaled.unit} (${journaled.customer} -> ${journaled.farmer}), now for ${now.amount} ${now.unit} (${now.customer} -> ${now.farmer}); an idempotency key names one charge`,
    );
  }
}

/**
 * An amount the ledger sent: a non-negative decimal string. Places beyond hypha's six are
 * dropped (rounded down), so funds are never overstated.
 */
function readLedgerAmount(field: string, value: unknown): bigint {
  const m = typeof value === 'string' ? /^([0-9]{1,30})(?:\.([0-9]+))?$/.exec(value) : null;
  if (m === null) throw new MalformedAnswer(UNYT_FN.getParkedLinksByEa, `${field} is ${describe(value)}, expected a decimal string`);
  const whole = BigInt(m[1] as string).toString();
  const frac = (m[2] ?? '').slice(0, 6);
  return parseAmount(field, frac === '' ? whole : `${whole}.${frac}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/** `value` for a message about a malformed answer: short strings and numbers shown, anything else by kind. */
function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'number') return `the number ${value}`;
  return kindOf(value);
}

/** `e`'s message, led by its class name when that says more than a plain Error (a client's "HolochainError: …"). */
function namedErrorText(e: unknown): string {
  const named = e instanceof Error && e.name !== '' && e.name !== 'Error' && e.name !== 'CallFailure';
  return named ? `${e.name}: ${errorMessage(e)}` : errorMessage(e);
}
