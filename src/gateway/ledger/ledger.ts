// The Ledger port: what hypha needs of Unyt (balances, billing events, farmer payouts, and funding in the lab).
import { errorMessage } from '../../identity/error-message.js';

/** A customer's agreement balance. */
export interface Balance {
  readonly unit: string;
  /** Funds parked in the customer's agreement and not yet spent. */
  readonly availableMicros: bigint;
}

/**
 * One billing event: a usage receipt (or several) charged to a customer's agreement.
 * `key` is the idempotency key (deployment + period start): posting the same key twice
 * charges once and answers the same.
 */
export interface BillingEvent {
  readonly key: string;
  readonly customer: string;
  readonly farmer: string;
  readonly amountMicros: bigint;
  readonly unit: string;
  readonly receiptIds: readonly string[];
  /**
   * The invoice (receipt hashes, period, deployment). The embedded ledger stores it; Unyt gets
   * only its hash in the invoice's link tag (tags are capped), the receipt log keeps the rest.
   */
  readonly invoice: Readonly<Record<string, unknown>>;
}

/** The outcome of posting a billing event. No partial payment: either all of it or nothing. */
export type PostResult =
  | { readonly status: 'paid'; readonly entryId: string }
  | { readonly status: 'insufficient_funds'; readonly availableMicros: bigint };

/**
 * The outcome of posting several billing events of one customer together: every one paid (its
 * entry id at its index), or `insufficient_funds` when the agreement cannot cover them all, and then
 * this call charged none of them (post them one by one to pay what the funds cover).
 */
export type BatchPostResult =
  | { readonly status: 'paid'; readonly entryIds: readonly string[] }
  | { readonly status: 'insufficient_funds'; readonly availableMicros: bigint };

/**
 * Billing events one `postBillingEvents` call takes at most: a RAVE's inputs grow with it, and the
 * ledger server reads request bodies of at most 64 KiB (an event is ~700 bytes of JSON).
 */
export const BILLING_EVENTS_PER_CALL = 64;

/**
 * A SPORE payout to a farmer for receipts that were paid. `key` makes it idempotent. On Unyt the
 * RAVE that charged the receipts already allocated the share to the farmer; the payout records it.
 */
export interface Payout {
  readonly key: string;
  readonly farmer: string;
  readonly amountMicros: bigint;
  readonly unit: string;
  readonly receiptIds: readonly string[];
}

/** The ledger could not be reached or answered garbage: retry later; this is NOT "out of funds". */
export class LedgerUnavailableError extends Error {
  constructor(operation: string, cause: unknown) {
    super(`ledger.${operation}: ${errorMessage(cause)}`);
    this.name = 'LedgerUnavailableError';
  }
}

/** A request the ledger refused as invalid (a bug or bad data, not an outage). */
export class LedgerRejectedError extends Error {
  constructor(operation: string, message: string) {
    super(`ledger.${operation}: ${message}`);
    this.name = 'LedgerRejectedError';
  }
}

/** The Unyt side, behind one interface. Every method may throw LedgerUnavailableError. */
export interface Ledger {
  /** "embedded" ledgers can be funded through the admin API (the lab's stand-in for paying on Unyt). */
  readonly kind: 'embedded' | 'unyt';
  balance(customer: string): Promise<Balance>;
  postBillingEvent(event: BillingEvent): Promise<PostResult>;
  /**
   * Posts up to BILLING_EVENTS_PER_CALL events, all of `customer`, as one charge where the ledger
   * allows it (Unyt: one RAVE over all their invoices, each split on its own). Each event keeps its
   * own key: posting one again, alone or in another batch, charges nothing twice. Absent: post one by one.
   */
  postBillingEvents?(customer: string, events: readonly BillingEvent[]): Promise<BatchPostResult>;
  payFarmer(payout: Payout): Promise<{ readonly status: 'paid'; readonly entryId: string }>;
  /** Credits a customer's agreement; only embedded ledgers have it. */
  fund?(customer: string, amountMicros: bigint, key: string): Promise<Balance>;
  close(): Promise<void>;
}
