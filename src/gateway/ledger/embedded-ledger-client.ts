// The gateway's adapter to an embedded ledger served by `hypha ledger serve` (the lab runs it as its own actor).
import { errorMessage } from '../../identity/error-message.js';
import { formatAmount, parseAmount } from '../../protocol/money.js';
import { LedgerRejectedError, LedgerUnavailableError, type Balance, type BatchPostResult, type BillingEvent, type Ledger, type Payout, type PostResult } from './ledger.js';

/**
 * Talks HTTP/JSON to the ledger server. A refused connection, a timeout, a 5xx or an answer
 * it cannot read is LedgerUnavailableError (retry later, never "out of funds"); a 4xx is
 * LedgerRejectedError.
 */
export class EmbeddedLedgerClient implements Ledger {
  readonly kind = 'embedded' as const;

  constructor(private readonly baseUrl: string, private readonly timeoutMs: number) {}

  async balance(customer: string): Promise<Balance> {
    const body = await this.call('balance', 'GET', `/v1/balance/${encodeURIComponent(customer)}`);
    return { unit: String(body.unit), availableMicros: this.amount('balance', body.available) };
  }

  async postBillingEvent(event: BillingEvent): Promise<PostResult> {
    const body = await this.call('postBillingEvent', 'POST', '/v1/events', eventBody(event));
    if (body.status === 'paid' && typeof body.entryId === 'string') return { status: 'paid', entryId: body.entryId };
    if (body.status === 'insufficient_funds') return { status: 'insufficient_funds', availableMicros: this.amount('postBillingEvent', body.available) };
    throw new LedgerUnavailableError('postBillingEvent', `unexpected answer ${JSON.stringify(body).slice(0, 200)}`);
  }

  async postBillingEvents(customer: string, events: readonly BillingEvent[]): Promise<BatchPostResult> {
    const op = 'postBillingEvents';
    const body = await this.call(op, 'POST', '/v1/events/batch', { customer, events: events.map(eventBody) });
    if (body.status === 'paid' && Array.isArray(body.entryIds) && body.entryIds.length === events.length && body.entryIds.every((id) => typeof id === 'string')) {
      return { status: 'paid', entryIds: body.entryIds };
    }
    if (body.status === 'insufficient_funds') return { status: 'insufficient_funds', availableMicros: this.amount(op, body.available) };
    throw new LedgerUnavailableError(op, `unexpected answer ${JSON.stringify(body).slice(0, 200)}`);
  }

  async payFarmer(payout: Payout): Promise<{ status: 'paid'; entryId: string }> {
    const body = await this.call('payFarmer', 'POST', '/v1/payouts', { key: payout.key, farmer: payout.farmer, amount: formatAmount(payout.amountMicros), unit: payout.unit, receiptIds: payout.receiptIds });
    if (body.status === 'paid' && typeof body.entryId === 'string') return { status: 'paid', entryId: body.entryId };
    throw new LedgerUnavailableError('payFarmer', `unexpected answer ${JSON.stringify(body).slice(0, 200)}`);
  }

  async fund(customer: string, amountMicros: bigint, key: string): Promise<Balance> {
    const body = await this.call('fund', 'POST', '/v1/fund', { customer, amount: formatAmount(amountMicros), key });
    return { unit: String(body.unit), availableMicros: this.amount('fund', body.available) };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private amount(operation: string, value: unknown): bigint {
    try {
      return parseAmount('available', value);
    } catch (err) {
      throw new LedgerUnavailableError(operation, err);
    }
  }

  private async call(operation: string, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method,
        signal: AbortSignal.timeout(this.timeoutMs),
        ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new LedgerUnavailableError(operation, (err as Error & { cause?: Error }).cause ?? err);
    }
    let parsed: unknown;
    try {
      parsed = await res.json();
    } catch (err) {
      throw new LedgerUnavailableError(operation, `HTTP ${res.status} with an unreadable body: ${errorMessage(err)}`);
    }
    if (res.status >= 500) throw new LedgerUnavailableError(operation, `HTTP ${res.status}: ${JSON.stringify(parsed).slice(0, 200)}`);
    if (res.status >= 400) throw new LedgerRejectedError(operation, `HTTP ${res.status}: ${JSON.stringify(parsed).slice(0, 200)}`);
    if (parsed === null || typeof parsed !== 'object') throw new LedgerUnavailableError(operation, 'the answer is not a JSON object');
    return parsed as Record<string, unknown>;
  }
}

/** A billing event as the ledger server reads it (amounts as decimal text). */
function eventBody(event: BillingEvent): Record<string, unknown> {
  return { key: event.key, customer: event.customer, farmer: event.farmer, amount: formatAmount(event.amountMicros), unit: event.unit, receiptIds: event.receiptIds, invoice: event.invoice };
}
