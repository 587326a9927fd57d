// The invoice hypha parks on an agreement: a small link tag (key, invoice hash, farmer), measured before it is sent.
import { encode } from '@msgpack/msgpack';
import { blake2b, canonicalJson, toHex, utf8 } from '../../../identity/index.js';
import { formatAmount } from '../../../protocol/money.js';
import type { BillingEvent } from '../ledger.js';
import type { InvoiceTagPayload, ParkedData, UnitMap } from './zome-api.js';

/**
 * The largest tag hypha writes. Holochain refuses a link tag over MAX_TAG_SIZE = 1000 bytes;
 * unytco/raindex-orders bridge-orchestrator/src/config.rs LINK_TAG_BYTES_CEILING = 900 keeps
 * 100 bytes for what the zome adds to the tag.
 */
export const LINK_TAG_CAP_BYTES = 900;

/** An invoice whose tag would be over the cap: the conductor would refuse it, so it is never sent. */
export class TagTooLargeError extends Error {
  constructor(readonly bytes: number) {
    super(
      `the invoice tag would be ${bytes} bytes of msgpack, over the ${LINK_TAG_CAP_BYTES}-byte cap on Unyt link tags; ` +
        'shorten the idempotency key (the invoice itself never goes on the ledger, only its hash)',
    );
    this.name = 'TagTooLargeError';
  }
}

/**
 * blake2b-256 (hex) of the canonical JSON of what the billing event charges for: its key,
 * parties, amount, unit, receipt ids and invoice. The receipt log keeps the invoice itself;
 * the ledger keeps this, so anyone holding the invoice can prove which charge it was.
 */
export function invoiceHash(event: BillingEvent): string {
  const doc = {
    key: event.key,
    customer: event.customer,
    farmer: event.farmer,
    amount: formatAmount(event.amountMicros),
    unit: event.unit,
    receiptIds: [...event.receiptIds],
    invoice: plain(event.invoice),
  };
  return toHex(blake2b(utf8(canonicalJson(doc)), 32));
}

/** The ParkedData of one invoice, in the unit index the alliance uses for the billed unit. */
export function invoiceParkedData(role: string, unitIndex: string, event: BillingEvent): ParkedData {
  const amount: UnitMap = { [unitIndex]: formatAmount(event.amountMicros) };
  const payload: InvoiceTagPayload = { idempotency_key: event.key, invoice_hash: invoiceHash(event), farmer: event.farmer };
  return { ct_role_id: role, amount, payload };
}

/**
 * The msgpack size of the tag `create_parked_link` writes: (ParkedData, true), measured with
 * named fields (maps), which is never smaller than the compact form raindex estimates.
 */
export function parkedTagBytes(data: ParkedData): number {
  return encode([data, true]).length;
}

/** Throws TagTooLargeError when the tag would be over LINK_TAG_CAP_BYTES. */
export function checkTagSize(data: ParkedData): void {
  const bytes = parkedTagBytes(data);
  if (bytes > LINK_TAG_CAP_BYTES) throw new TagTooLargeError(bytes);
}

/** Invoice fields as canonical JSON takes them: bigint becomes its decimal string. */
function plain(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}
