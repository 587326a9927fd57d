// A real EmbeddedLedger seen through a tap: the billing tests' one wrapper that records each call made of the ledger and lets a test kill the gateway or lose an answer around any call.
import type { EmbeddedLedger } from '../../src/gateway/ledger/embedded-ledger.js';
import type { BatchPostResult, BillingEvent, Ledger, Payout, PostResult } from '../../src/gateway/ledger/ledger.js';

/** The ledger operations a tap sees (balance and close pass straight through). */
export type TappedOp = 'postBillingEvent' | 'postBillingEvents' | 'payFarmer';

/** One call made of the ledger: which operation, its number among that operation's calls (1-based), and the idempotency keys and receipt ids it carried. */
export interface TappedCall {
  readonly op: TappedOp;
  readonly n: number;
  readonly keys: readonly string[];
  readonly receiptIds: readonly string[];
}

/** What a test hooks in; every hook is optional. */
export interface LedgerTap {
  /**
   * Offer `postBillingEvents` (the embedded ledger's batch post). Without it the ledger looks like one
   * that posts one by one, and billing posts each event alone (src/gateway/billing/customer-settler.ts).
   */
  readonly batches?: boolean;
  /** Runs before the call reaches the ledger: a throw here is a call that never left the gateway (nothing charged or paid). */
  readonly before?: (call: TappedCall) => void;
  /** Runs after the ledger answered: a throw here is an answer lost after the ledger did the work (a timeout, or the gateway killed). */
  readonly after?: (call: TappedCall) => void;
}

/** The Ledger port over a real EmbeddedLedger, with every posting and payout call recorded in `calls` and hooked by `tap`. */
export type TappedLedger = Ledger & { readonly calls: readonly TappedCall[] };

/**
 * Wraps `inner` (a real EmbeddedLedger, which the test opens and closes) so a test can count what
 * billing asked of it, and crash or lose an answer at one chosen call. Not a fake: every call that
 * the hooks let through is the real ledger's, journal and all.
 */
export function tappedLedger(inner: EmbeddedLedger, tap: LedgerTap = {}): TappedLedger {
  const calls: TappedCall[] = [];
  const counts: Record<TappedOp, number> = { postBillingEvent: 0, postBillingEvents: 0, payFarmer: 0 };
  const around = async <T>(op: TappedOp, keys: readonly string[], receiptIds: readonly string[], run: () => Promise<T>): Promise<T> => {
    const call: TappedCall = { op, n: ++counts[op], keys, receiptIds };
    calls.push(call);
    tap.before?.(call);
    const result = await run();
    tap.after?.(call);
    return result;
  };
  const ledger: TappedLedger = {
    kind: 'embedded',
    calls,
    balance: (customer) => inner.balance(customer),
    postBillingEvent: (e: BillingEvent): Promise<PostResult> => around('postBillingEvent', [e.key], e.receiptIds, () => inner.postBillingEvent(e)),
    payFarmer: (p: Payout) => around('payFarmer', [p.key], p.receiptIds, () => inner.payFarmer(p)),
    close: () => Promise.resolve(),
  };
  if (tap.batches === true) {
    ledger.postBillingEvents = (customer: string, events: readonly BillingEvent[]): Promise<BatchPostResult> =>
      around(
        'postBillingEvents',
        events.map((e) => e.key),
        events.flatMap((e) => e.receiptIds),
        () => inner.postBillingEvents(customer, events),
      );
  }
  return ledger;
}

/** The keys of each call of `op`, in call order. */
export function keysOf(ledger: TappedLedger, op: TappedOp): string[][] {
  return ledger.calls.filter((c) => c.op === op).map((c) => [...c.keys]);
}
