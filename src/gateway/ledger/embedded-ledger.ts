// EmbeddedLedger: Unyt smart-agreement semantics on disk — funded agreements, all-or-nothing billing events, idempotent keys, payouts.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { blake2b } from '@noble/hashes/blake2.js';
import { toHex, utf8 } from '../../identity/index.js';
import { UNIT } from '../../protocol/money.js';
import { AppendLog } from '../store/append-log.js';
import type { LoadedLog, RecordLog } from '../store/record-log.js';
import { BILLING_EVENTS_PER_CALL, LedgerRejectedError, LedgerUnavailableError, type Balance, type BatchPostResult, type BillingEvent, type Ledger, type Payout, type PostResult } from './ledger.js';

/** One journal entry. Amounts are micro-unit integers written as strings (never floats). */
export type LedgerEntry =
  | { readonly type: 'fund'; readonly key: string; readonly customer: string; readonly amountMicros: string; readonly unit: string; readonly atMs: number; readonly entryId: string }
  | {
      readonly type: 'charge';
      readonly key: string;
      readonly customer: string;
      readonly farmer: string;
      readonly amountMicros: string;
      readonly unit: string;
      readonly receiptIds: readonly string[];
      readonly invoice: Readonly<Record<string, unknown>>;
      readonly atMs: number;
      readonly entryId: string;
    }
  | { readonly type: 'refused'; readonly key: string; readonly customer: string; readonly amountMicros: string; readonly availableMicros: string; readonly atMs: number }
  | { readonly type: 'payout'; readonly key: string; readonly farmer: string; readonly amountMicros: string; readonly unit: string; readonly receiptIds: readonly string[]; readonly atMs: number; readonly entryId: string };

/** Totals for inspection. */
export interface LedgerSummary {
  readonly unit: string;
  readonly entries: number;
  readonly charges: number;
  readonly refusals: number;
  readonly payouts: number;
  readonly collectedMicros: bigint;
  readonly paidOutMicros: bigint;
  readonly balances: ReadonlyMap<string, bigint>;
  readonly farmers: ReadonlyMap<string, bigint>;
}

/**
 * A customer's agreement holds what they funded minus what was charged. A billing event the
 * funding cannot cover is refused whole and changes no balance (Unyt: no partial payment);
 * the refusal is journaled but does not bind its key, so the same event can be posted again
 * once funds arrive. An applied key answers the same forever. Every entry is kept, fsynced,
 * in a hash-chained journal; balances are rebuilt from it on open.
 */
export class EmbeddedLedger implements Ledger {
  readonly kind = 'embedded' as const;
  private readonly balances = new Map<string, bigint>();
  private readonly farmers = new Map<string, bigint>();
  private readonly applied = new Map<string, LedgerEntry>();
  private counts = { entries: 0, charges: 0, refusals: 0, payouts: 0 };
  private collected = 0n;
  private paidOut = 0n;
  /** Set when the journal could not be written: memory may be ahead of disk, so stop. */
  private broken: Error | null = null;

  private constructor(private readonly journal: RecordLog<LedgerEntry>, private readonly nowMs: () => number) {}

  /** Opens (or creates) the journal in `dir`. */
  static open(dir: string, nowMs: () => number = Date.now): EmbeddedLedger {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const { log, records } = AppendLog.open<LedgerEntry>(join(dir, 'journal.log'));
    return EmbeddedLedger.load({ log, records }, nowMs);
  }

  /** Rebuilds balances from a journal's entries (a file or a database table), oldest first. */
  static load(loaded: LoadedLog<LedgerEntry>, nowMs: () => number = Date.now): EmbeddedLedger {
    const ledger = new EmbeddedLedger(loaded.log, nowMs);
    for (const e of loaded.records) ledger.apply(e);
    return ledger;
  }

  /** Reads a journal without opening it for writing (safe while a server appends to it). */
  static readEntries(dir: string): LedgerEntry[] {
    return AppendLog.read<LedgerEntry>(join(dir, 'journal.log'));
  }

  balance(customer: string): Promise<Balance> {
    const failed = this.failure('balance');
    if (failed) return Promise.reject(failed);
    return Promise.resolve({ unit: UNIT, availableMicros: this.balances.get(customer) ?? 0n });
  }

  async fund(customer: string, amountMicros: bigint, key: string): Promise<Balance> {
    this.check('fund');
    if (amountMicros <= 0n) throw new LedgerRejectedError('fund', 'the amount must be more than zero');
    const seen = this.applied.get(key);
    if (seen) {
      if (seen.type !== 'fund' || seen.customer !== customer || seen.amountMicros !== amountMicros.toString()) throw new LedgerRejectedError('fund', `key ${key} was used for another entry`);
      return this.balance(customer);
    }
    const entry: LedgerEntry = { type: 'fund', key, customer, amountMicros: amountMicros.toString(), unit: UNIT, atMs: this.nowMs(), entryId: entryId(key) };
    this.apply(entry);
    await this.write(entry);
    return this.balance(customer);
  }

  async postBillingEvent(event: BillingEvent): Promise<PostResult> {
    this.check('postBillingEvent');
    const seen = this.chargedBefore('postBillingEvent', event);
    if (seen) return { status: 'paid', entryId: seen.entryId };
    const available = this.balances.get(event.customer) ?? 0n;
    if (available < event.amountMicros) {
      const refused: LedgerEntry = { type: 'refused', key: event.key, customer: event.customer, amountMicros: event.amountMicros.toString(), availableMicros: available.toString(), atMs: this.nowMs() };
      this.apply(refused);
      await this.write(refused);
      return { status: 'insufficient_funds', availableMicros: available };
    }
    const entry = this.chargeOf(event);
    this.apply(entry);
    await this.write(entry);
    return { status: 'paid', entryId: entry.entryId };
  }

  /**
   * Charges all of a customer's events in one journal append (one `charge` entry each), or none:
   * when the balance does not cover those not yet charged it answers `insufficient_funds` and
   * journals nothing (the caller posts them one by one, and each refusal is journaled then).
   */
  async postBillingEvents(customer: string, events: readonly BillingEvent[]): Promise<BatchPostResult> {
    const op = 'postBillingEvents';
    this.check(op);
    if (events.length > BILLING_EVENTS_PER_CALL) throw new LedgerRejectedError(op, `at most ${BILLING_EVENTS_PER_CALL} events per call, got ${events.length}`);
    const keys = new Set<string>();
    const entryIds: string[] = [];
    const fresh: Array<LedgerEntry & { type: 'charge' }> = [];
    let owed = 0n;
    for (const event of events) {
      if (event.customer !== customer) throw new LedgerRejectedError(op, `event ${event.key} is of customer ${event.customer}, not ${customer}`);
      if (keys.has(event.key)) throw new LedgerRejectedError(op, `key ${event.key} is twice in one batch`);
      keys.add(event.key);
      const seen = this.chargedBefore(op, event);
      if (seen) {
        entryIds.push(seen.entryId);
        continue;
      }
      const entry = this.chargeOf(event);
      fresh.push(entry);
      entryIds.push(entry.entryId);
      owed += event.amountMicros;
    }
    const available = this.balances.get(customer) ?? 0n;
    if (available < owed) return { status: 'insufficient_funds', availableMicros: available };
    if (fresh.length > 0) {
      for (const entry of fresh) this.apply(entry);
      await this.write(...fresh);
    }
    return { status: 'paid', entryIds };
  }

  /** Checks an event's amount and unit; answers the charge its key already made (the same charge, or LedgerRejectedError). */
  private chargedBefore(op: string, event: BillingEvent): (LedgerEntry & { type: 'charge' }) | undefined {
    if (event.amountMicros < 0n) throw new LedgerRejectedError(op, 'the amount must not be negative');
    if (event.unit !== UNIT) throw new LedgerRejectedError(op, `unit ${event.unit} is not ${UNIT}`);
    const seen = this.applied.get(event.key);
    if (!seen) return undefined;
    if (seen.type !== 'charge' || seen.customer !== event.customer || seen.amountMicros !== event.amountMicros.toString()) {
      throw new LedgerRejectedError(op, `key ${event.key} was used for another entry`);
    }
    return seen;
  }

  private chargeOf(event: BillingEvent): LedgerEntry & { type: 'charge' } {
    return {
      type: 'charge',
      key: event.key,
      customer: event.customer,
      farmer: event.farmer,
      amountMicros: event.amountMicros.toString(),
      unit: event.unit,
      receiptIds: [...event.receiptIds],
      invoice: event.invoice,
      atMs: this.nowMs(),
      entryId: entryId(event.key),
    };
  }

  async payFarmer(payout: Payout): Promise<{ status: 'paid'; entryId: string }> {
    this.check('payFarmer');
    if (payout.amountMicros < 0n) throw new LedgerRejectedError('payFarmer', 'the amount must not be negative');
    const seen = this.applied.get(payout.key);
    if (seen) {
      if (seen.type !== 'payout' || seen.farmer !== payout.farmer || seen.amountMicros !== payout.amountMicros.toString()) throw new LedgerRejectedError('payFarmer', `key ${payout.key} was used for another entry`);
      return { status: 'paid', entryId: seen.entryId };
    }
    if (payout.amountMicros > this.collected - this.paidOut) {
      throw new LedgerRejectedError('payFarmer', 'the payout is more than the marketplace has collected and not yet paid out');
    }
    const entry: LedgerEntry = { type: 'payout', key: payout.key, farmer: payout.farmer, amountMicros: payout.amountMicros.toString(), unit: payout.unit, receiptIds: [...payout.receiptIds], atMs: this.nowMs(), entryId: entryId(payout.key) };
    this.apply(entry);
    await this.write(entry);
    return { status: 'paid', entryId: entry.entryId };
  }

  /** Appends to the journal; on failure the ledger stops (fail-stop), since memory is then ahead of disk. */
  private async write(...entries: LedgerEntry[]): Promise<void> {
    try {
      await this.journal.append(...entries);
    } catch (err) {
      this.broken = err as Error;
      throw new LedgerUnavailableError('journal', err);
    }
  }

  private failure(operation: string): LedgerUnavailableError | null {
    return this.broken ? new LedgerUnavailableError(operation, `the journal failed earlier (${this.broken.message}); restart the ledger`) : null;
  }

  private check(operation: string): void {
    const failed = this.failure(operation);
    if (failed) throw failed;
  }

  /** Totals and balances. */
  summary(): LedgerSummary {
    return { unit: UNIT, ...this.counts, collectedMicros: this.collected, paidOutMicros: this.paidOut, balances: new Map(this.balances), farmers: new Map(this.farmers) };
  }

  close(): Promise<void> {
    this.journal.close();
    return Promise.resolve();
  }

  private apply(e: LedgerEntry): void {
    this.counts.entries++;
    const amount = BigInt(e.amountMicros);
    switch (e.type) {
      case 'fund':
        this.balances.set(e.customer, (this.balances.get(e.customer) ?? 0n) + amount);
        this.applied.set(e.key, e);
        return;
      case 'charge':
        this.balances.set(e.customer, (this.balances.get(e.customer) ?? 0n) - amount);
        this.collected += amount;
        this.counts.charges++;
        this.applied.set(e.key, e);
        return;
      case 'refused':
        this.counts.refusals++;
        return;
      case 'payout':
        this.paidOut += amount;
        this.farmers.set(e.farmer, (this.farmers.get(e.farmer) ?? 0n) + amount);
        this.counts.payouts++;
        this.applied.set(e.key, e);
    }
  }
}

function entryId(key: string): string {
  return 'le_' + toHex(blake2b(utf8(key), { dkLen: 12 }));
}
