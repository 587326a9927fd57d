// OrderArchive: expired and failed orders, moved out of db.json into an append-only log, still readable as each customer's order history.
import { AppendLog } from '../store/append-log.js';
import { ResumableLog, readResume, verifiedTip } from '../store/log-resume.js';
import type { LoadedLog, RecordLog } from '../store/record-log.js';
import type { OrderRecord } from '../store/records.js';

/** What the order service needs of the archive (a narrow port; OrderArchive implements it). */
export interface OrderHistory {
  /** Stores a finished order durably; resolves once it is on disk. */
  add(order: OrderRecord): Promise<void>;
  /** An archived order kept in memory, by id. */
  get(id: string): OrderRecord | undefined;
  /** A customer's archived orders kept in memory, oldest first. */
  of(customer: string): readonly OrderRecord[];
  /** Archived orders placed from a /64 kept in memory, oldest first (whichever identity was linked there). */
  fromSubnet(subnet: string): readonly OrderRecord[];
}

/** Fewest archived orders between two tips of orders-archive.log.resume. */
const MIN_TIP_SPACING = 1000;

/**
 * Orders that can no longer change (expired, failed) cost db.json a rewrite on every write
 * while they stay in it, and anyone linked can make them. They go here instead: one fsynced
 * line each. In memory each customer keeps its newest `keepPerCustomer` (by creation time) for
 * its order history and the admin views; every one stays on disk.
 */
export class OrderArchive implements OrderHistory {
  private readonly byCustomer = new Map<string, OrderRecord[]>();
  private readonly bySubnet = new Map<string, OrderRecord[]>();
  private readonly byId = new Map<string, OrderRecord>();
  /** When each order held (in a customer's or a /64's list) was remembered: the snapshot replays them in that order. */
  private readonly seqOf = new Map<string, number>();
  private seq = 0;

  private constructor(private readonly log: RecordLog<OrderRecord>, private readonly keepPerCustomer: number) {}

  /**
   * Opens (or creates) the archive at `path`; a damaged file stops the open (StoreError). It starts
   * from `orders-archive.log.resume` (the kept orders at a tip of the log) and reads only the log
   * after that tip; without a usable one it reads the whole log.
   */
  static open(path: string, keepPerCustomer: number): { archive: OrderArchive; tornBytes: number } {
    const found = readResume(path);
    const tip = found?.tips.at(-1);
    // Kept under another orders.historyPerCustomer, the state is not what a whole read would keep now.
    const stored = found?.state as { keepPerCustomer?: unknown; orders?: unknown } | undefined;
    const usable = stored?.keepPerCustomer === keepPerCustomer && Array.isArray(stored.orders);
    const from = tip && usable ? verifiedTip(path, tip) : null;
    const kept = from ? (stored?.orders as OrderRecord[]) : [];
    const { log, records, tornBytes } = AppendLog.open<OrderRecord>(path, from ? { from } : {});
    const holder: { archive?: OrderArchive } = {};
    // A tip rewrites every kept order: spaced so that costs O(1) per order archived, and a start reads at most that many after it.
    const resumable = new ResumableLog(log, { every: () => Math.max(MIN_TIP_SPACING, holder.archive?.heldCount ?? 0), keepTips: 1, tips: from && tip ? [tip] : [], state: () => ({ keepPerCustomer, orders: holder.archive?.snapshot() ?? [] }) });
    holder.archive = OrderArchive.load({ log: resumable, records: kept.length > 0 ? [...kept, ...records] : records }, keepPerCustomer);
    return { archive: holder.archive, tornBytes };
  }

  /** Indexes a log's orders, oldest first (a database reads only each customer's and /64's newest). */
  static load(loaded: LoadedLog<OrderRecord>, keepPerCustomer: number): OrderArchive {
    const archive = new OrderArchive(loaded.log, keepPerCustomer);
    for (const o of loaded.records) archive.remember(o);
    return archive;
  }

  async add(order: OrderRecord): Promise<void> {
    await this.log.append(order);
    this.remember(order);
  }

  get(id: string): OrderRecord | undefined {
    return this.byId.get(id);
  }

  of(customer: string): readonly OrderRecord[] {
    return this.byCustomer.get(customer) ?? [];
  }

  fromSubnet(subnet: string): readonly OrderRecord[] {
    return this.bySubnet.get(subnet) ?? [];
  }

  /** Every archived order kept in memory (for the admin views). */
  values(): OrderRecord[] {
    return [...this.byId.values()];
  }

  /** Orders written to the archive file, ever. */
  get count(): number {
    return this.log.count;
  }

  close(): void {
    this.log.close();
  }

  /** Orders held in memory (in a customer's or a /64's list). */
  get heldCount(): number {
    return this.seqOf.size;
  }

  /** Every order held, in the order they were remembered: remembering them again, in this order, rebuilds every list as it is. */
  snapshot(): OrderRecord[] {
    const held = new Map<string, OrderRecord>();
    for (const list of this.bySubnet.values()) for (const o of list) held.set(o.id, o);
    // A customer's list holds the later copy of an order archived twice.
    for (const [id, o] of this.byId) held.set(id, o);
    return [...held.values()].sort((a, b) => (this.seqOf.get(a.id) ?? 0) - (this.seqOf.get(b.id) ?? 0));
  }

  private remember(order: OrderRecord): void {
    this.byId.set(order.id, order);
    this.seqOf.set(order.id, ++this.seq);
    for (const dropped of keepNewest(this.byCustomer, order.customer, order, this.keepPerCustomer)) {
      this.byId.delete(dropped.id);
      if (!this.inSubnetList(dropped)) this.seqOf.delete(dropped.id);
    }
    // The /64 lists only count orders for the caps; get() answers for what the customer lists hold.
    if (order.subnet === undefined) return;
    for (const dropped of keepNewest(this.bySubnet, order.subnet, order, this.keepPerCustomer)) if (!this.byId.has(dropped.id)) this.seqOf.delete(dropped.id);
  }

  private inSubnetList(order: OrderRecord): boolean {
    return order.subnet !== undefined && (this.bySubnet.get(order.subnet)?.some((o) => o.id === order.id) ?? false);
  }
}

/**
 * Puts `order` in `key`'s list in creation order (replacing an earlier copy: a crash between
 * archiving and deleting from db.json archives an order again, and the later copy wins), keeps
 * the newest `keep`, and returns the ones dropped.
 */
function keepNewest(lists: Map<string, OrderRecord[]>, key: string, order: OrderRecord, keep: number): OrderRecord[] {
  const list = (lists.get(key) ?? []).filter((o) => o.id !== order.id);
  let at = list.length;
  while (at > 0 && (list[at - 1] as OrderRecord).createdAtMs > order.createdAtMs) at--;
  list.splice(at, 0, order);
  lists.set(key, list);
  return list.length > keep ? list.splice(0, list.length - keep) : [];
}
