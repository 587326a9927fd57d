// An insertion-ordered list of live receipt entries whose membership the entries' own fields decide: adding is a push, leaving costs nothing but a count, and stale slots are dropped in bulk.
import type { ReceiptEntry } from './receipt-types.js';

/** Stale slots tolerated beyond the members before a list is compacted (so small lists never compact). */
export const SLACK = 1024;

/**
 * MoneyState's receipts by state (and those owed a payout), in the order they joined. bench/billing at
 * 100k: a Set per state cost a hash insert and delete on a 100k–200k-entry table for every receipt
 * committed, paid and settled. An entry joins each list at most once (a receipt never returns to a state
 * it left), so the list keeps it until it is compacted, and `isMember` (a test of the entry's fields)
 * skips it once it has left. The owner calls `left` each time a member stops being one, after changing
 * the fields that say so: the list then holds at most members + SLACK stale slots, and compacting is paid
 * for by the leaves before it.
 */
export class EntryList implements Iterable<ReceiptEntry> {
  private items: ReceiptEntry[] = [];
  private members = 0;

  /** `isMember`: whether an entry that joined is still a member (it must stay false once it turned false). */
  constructor(private readonly isMember: (e: ReceiptEntry) => boolean) {}

  /** Members now. */
  get size(): number {
    return this.members;
  }

  /** Slots held, stale ones included (the bound: at most 2 × size + SLACK after any `left`). */
  get slots(): number {
    return this.items.length;
  }

  /** Adds a member at the end (one that is not in the list already). */
  add(e: ReceiptEntry): void {
    this.items.push(e);
    this.members++;
  }

  /** One member has left (its fields say so already). */
  left(): void {
    this.members--;
    if (this.items.length - this.members > this.members + SLACK) this.items = this.items.filter(this.isMember);
  }

  /** Whether the entry's fields make it a member (true only of entries that joined and are live). */
  has(e: ReceiptEntry): boolean {
    return this.isMember(e);
  }

  *[Symbol.iterator](): Iterator<ReceiptEntry> {
    for (const e of this.items) if (this.isMember(e)) yield e;
  }
}
