// Issues a period's receipts: their bodies, the signed head of their tree, and their records in the receipt log.
import { toHex } from '../../identity/index.js';
import type { ReceiptBodyV2 } from '../../protocol/receipt.js';
import { signTreeHead, TREE_HEAD_PURPOSE, type SignedTreeHead } from '../../protocol/tree-head.js';
import type { BillingDeps } from './billing-deps.js';
import { sharedCloseHasher, type CloseHasher, type CloseHashRun } from './close-hasher.js';
import { IssuedBodies, sharedBuffer } from './issued-bodies.js';
import { ReceiptRecordBytes } from './money-record-text.js';
import { ReceiptBodyText } from './receipt-body-text.js';
import { receiptBodyFor } from './receipt-body.js';
import type { MoneyRecord } from './receipt-log.js';
import type { DeploymentRecord } from '../store/records.js';

/** Receipt records appended per fsync while closing (the tree head, appended last, commits them all). */
const CLOSE_BATCH = 16_384;
/** Bodies handed to the close's hashing at a time while issuing. */
const HASH_STEP = 2048;

/** What issuing a period needs of the gateway. */
export type PeriodIssuerDeps = Pick<BillingDeps, 'clock' | 'gateway' | 'receipts' | 'deployments' | 'uptime' | 'disputes' | 'agents' | 'events' | 'policy' | 'closeBatchReceipts'>;

/** A receipt issued in a close: its body and ledger key, not yet stored (its hash: the close's bodies.hashHex at its index, once hashed). */
export interface IssuedReceipt {
  readonly receipt: ReceiptBodyV2;
  readonly key: string;
}

/** The buffers a close writes its bodies and record texts into (handed back to the issuer after it, to be reused). */
interface CloseBuffers {
  readonly bodies: IssuedBodies;
  /** Two, used in turn: a batch's texts are written while the one before is still being stored. */
  readonly texts: readonly [ReceiptRecordBytes, ReceiptRecordBytes];
}

/** A close's receipts, issued and not yet stored: receipt i's canonical JSON (what its hash is over) is `bodies.body(i)`. */
export interface IssuedClose extends CloseBuffers {
  readonly receipts: IssuedReceipt[];
  /** The bodies' hashing and tree, as they are issued (in a worker for a big close). */
  readonly hashing: CloseHashRun;
}

/** A period's close while it is issued chunk by chunk: the receipts so far, and the deployments (as they were when it began) still to look at. */
export interface CloseRun extends IssuedClose {
  readonly startMs: number;
  readonly endMs: number;
  readonly deployments: readonly DeploymentRecord[];
  /** The next deployment to look at. */
  next: number;
  readonly issuedAt: string;
  readonly periodIso: string;
}

/**
 * Issues, hashes, signs the tree head of and stores one period's receipts. It talks to no ledger:
 * a close is written whole before billing posts anything (BillingService.closePeriod).
 */
export class PeriodIssuer {
  private readonly bodyText = new ReceiptBodyText();
  /**
   * A close's body bytes and a batch's record texts, kept from close to close (IssuedBodies.reset
   * says why); taken by a close while it runs, so two closes at once never share them.
   */
  private spare: CloseBuffers | null = null;

  private readonly closeBatch: number;

  /** `hasher`: the process's close hasher unless a test gives its own. */
  constructor(
    private readonly deps: PeriodIssuerDeps,
    private readonly hasher: CloseHasher = sharedCloseHasher(),
  ) {
    this.closeBatch = deps.closeBatchReceipts ?? CLOSE_BATCH;
  }

  /** Begins a close: its buffers, and the deployments to issue to (none issued yet: issueMore). */
  begin(startMs: number, endMs: number): CloseRun {
    const { bodies, texts } = this.spare ?? { bodies: new IssuedBodies(0, sharedBuffer), texts: [new ReceiptRecordBytes(0), new ReceiptRecordBytes(0)] as const };
    this.spare = null;
    const deployments = this.deps.deployments.values();
    bodies.reset(deployments.length);
    const hashing = this.hasher.begin(deployments.length, (first, hashes) => bodies.setHashes(first, hashes));
    return { startMs, endMs, deployments, next: 0, issuedAt: new Date(this.deps.clock.nowMs()).toISOString(), periodIso: new Date(startMs).toISOString(), receipts: [], bodies, texts, hashing };
  }

  /** Issues (and hashes) up to `max` more of a close's receipts, in deployment order; answers how many (0: none left). */
  issueMore(run: CloseRun, max: number): number {
    const { startMs, endMs, bodies, deployments, receipts: out } = run;
    const before = out.length;
    while (run.next < deployments.length && out.length - before < max) {
      const d = deployments[run.next++] as DeploymentRecord;
      if (this.deps.receipts.has(d.id, startMs)) continue;
      const body = receiptBodyFor(d, startMs, endMs, {
        upSeconds: (fromMs, toMs) => this.deps.uptime.upSeconds(`vm:${d.id}`, fromMs, toMs),
        gatewayUpSeconds: (fromMs, toMs) => this.deps.uptime.upSeconds(`probe:${d.id}`, fromMs, toMs),
        disputed: (fromMs, toMs) => this.deps.disputes?.disputed(d.id, fromMs, toMs) ?? false,
        prev: this.deps.receipts.lastHash(d.id),
        agentHead: d.farmer ? this.deps.agents.agentHead(d.farmer, startMs) : null,
        gateway: this.deps.gateway.agent,
        issuedAt: run.issuedAt,
        farmerShareBps: this.deps.policy.farmerShareBps,
      });
      if (!body) continue;
      // The canonical JSON of the body itself (a bare body, so receiptSigningBytes' stripping copy is not needed), from pieces kept per deployment, written as bytes straight into the close's buffer.
      bodies.addWritten(this.bodyText, d, body);
      out.push({ receipt: body, key: `hypha:${d.id}:${run.periodIso}` });
      // Handed to the hashing every so often, so the worker hashes them while the next ones are issued.
      if (bodies.count % HASH_STEP === 0) bodies.post(run.hashing);
    }
    bodies.post(run.hashing);
    return out.length - before;
  }

  /** Hands a close's buffers back once it is stored (or failed), for the next close to reuse. */
  giveBack(close: IssuedClose): void {
    // A failed close's hashing must not write into these buffers once the next close has them (after a root it has ended: nothing to drop).
    close.hashing.drop();
    this.spare = { bodies: close.bodies, texts: close.texts };
  }

  /**
   * The signed head of a tree over the issued receipts, in issue order, chained to the previous
   * head. The tree (leaves: receiptLeafHash of each receipt's hash) was built by the close's hashing
   * as the receipts were issued, keeping only its full subtrees' roots (MerkleFrontier).
   */
  private async buildTreeHead(close: IssuedClose, startMs: number, endMs: number): Promise<SignedTreeHead> {
    const root = await close.hashing.root();
    return signTreeHead(
      {
        v: 1,
        purpose: TREE_HEAD_PURPOSE,
        gateway: this.deps.gateway.agent,
        periodStart: new Date(startMs).toISOString(),
        periodEnd: new Date(endMs).toISOString(),
        size: close.receipts.length,
        root: toHex(root),
        issuedAt: new Date(this.deps.clock.nowMs()).toISOString(),
        prev: this.deps.receipts.lastTreeHeadHash(),
      },
      (m) => this.deps.gateway.sign(m),
    );
  }

  /**
   * Issues a close's receipts and appends them: its beginning (once a first receipt is issued: a
   * close of none writes nothing and answers undefined), then its receipts in batches of CLOSE_BATCH,
   * one fsync each, then its signed tree head, which commits them all; answers the head. A batch is
   * synced (FileMoneyStore syncs aside) while the next one is issued, and the last one while the tree
   * head is built and signed, so they overlap on a machine with a core to spare; the head is appended
   * only once every receipt batch is acknowledged (synced), so it never stands ahead of a receipt.
   * `issue` issues the next chunk (BillingService.issue, which bench/billing times).
   */
  async issueAndStore(run: CloseRun, issue: (run: CloseRun, max: number) => number): Promise<SignedTreeHead | undefined> {
    issue(run, this.closeBatch);
    if (run.receipts.length === 0) return undefined;
    await this.deps.receipts.append([{ t: 'close_begin', periodStartMs: run.startMs }]);
    let stored = 0;
    // Batches appended and not yet acknowledged, oldest first: at most two, one for each texts buffer.
    const writing: Array<Promise<void>> = [];
    let batches = 0;
    while (stored < run.receipts.length) {
      // A texts buffer is refilled only once the batch written from it is acknowledged. With two in
      // flight, the next chunk is issued while one batch syncs and the other waits its turn (bench/billing:
      // with hashing in the worker, issuing a chunk took less than syncing one, and the main thread sat
      // idle ~0.1 s a batch).
      if (writing.length === 2) await writing.shift();
      const to = run.receipts.length;
      const batch = this.appendReceipts(run, stored, to, run.texts[batches++ % 2] as ReceiptRecordBytes);
      // Awaited below or at a later turn; a failure meanwhile is not an unhandled rejection.
      batch.catch(() => undefined);
      writing.push(batch);
      stored = to;
      if (run.next < run.deployments.length) {
        // Lets the log write this batch and start its sync before the next chunk is issued.
        await new Promise<void>((resolve) => setImmediate(resolve));
        issue(run, this.closeBatch);
      }
    }
    // The last batch is written and synced while the tree is built and signed (bench/billing: ~0.1–0.2 s of a 100k close spent waiting for that sync, then building the tree).
    await new Promise<void>((resolve) => setImmediate(resolve));
    const head = await this.buildTreeHead(run, run.startMs, run.endMs);
    for (const batch of writing) await batch;
    await this.storeHead(head, run.startMs);
    return head;
  }

  /** Appends a close's receipts [from, to) as one batch (one fsync), each record's text written around its body's canonical JSON bytes, copied as they are. */
  private async appendReceipts(run: CloseRun, from: number, to: number, texts: ReceiptRecordBytes): Promise<void> {
    // Their hashes first: the worker hashed most of them while they were issued.
    await run.hashing.hashed();
    const batch: MoneyRecord[] = [];
    texts.reset();
    for (let i = from; i < to; i++) {
      const x = run.receipts[i] as IssuedReceipt;
      const hash = run.bodies.hashHex(i);
      batch.push({ t: 'receipt', receipt: x.receipt, periodStartMs: run.startMs, key: x.key, hash, index: i });
      texts.add(run.bodies.body(i), run.startMs, x.key, hash, i);
    }
    await this.deps.receipts.append(batch, texts.records());
  }

  /** Appends a close's tree head, which commits its receipts (appended and acknowledged before it). */
  private async storeHead(head: SignedTreeHead, startMs: number): Promise<void> {
    await this.deps.receipts.append([{ t: 'tree_head', periodStartMs: startMs, head }]);
  }

  /** Tells admins and the farmer, on the timeline, of every receipt billed at the smaller of two disputed up-times. */
  async recordDisputes(issued: readonly IssuedReceipt[]): Promise<void> {
    for (const { receipt: r } of issued) {
      if (!r.dispute) continue;
      await this.deps.events.record({
        atMs: this.deps.clock.nowMs(),
        event: 'billing.uptime_disputed',
        detail: `${r.deployment} ${r.periodStart} to ${r.periodEnd}: the agent reported ${r.dispute.agentUpSeconds} s up, the gateway's probes found ${r.dispute.gatewayUpSeconds} s; billed ${r.upSeconds} s (the smaller)`,
        deployment: r.deployment,
        customer: r.customer,
        agent: r.farmer,
        node: r.node,
        data: { receipt: r.id, ...r.dispute, billedUpSeconds: r.upSeconds },
      });
    }
  }
}
