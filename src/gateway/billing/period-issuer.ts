// Issues a period's receipts: their bodies, the signed head of their tree, and their records in the receipt log.
import { toHex } from '../../identity/index.js';
import { leafHashesOfItems, merkleRootOfLeafHashes } from '../../protocol/merkle.js';
import type { ReceiptBodyV2 } from '../../protocol/receipt.js';
import { signTreeHead, TREE_HEAD_PURPOSE, type SignedTreeHead } from '../../protocol/tree-head.js';
import type { BillingDeps } from './billing-deps.js';
import { IssuedBodies } from './issued-bodies.js';
import { ReceiptRecordBytes } from './money-record-text.js';
import { ReceiptBodyText } from './receipt-body-text.js';
import { receiptBodyFor } from './receipt-body.js';
import type { MoneyRecord } from './receipt-log.js';

/** Receipt records appended per fsync while closing (the tree head, appended last, commits them all). */
const CLOSE_BATCH = 16_384;

/** What issuing a period needs of the gateway. */
export type PeriodIssuerDeps = Pick<BillingDeps, 'clock' | 'gateway' | 'receipts' | 'deployments' | 'uptime' | 'disputes' | 'agents' | 'events' | 'policy'>;

/** A receipt issued in a close: its body, ledger key and hash, not yet stored. */
export interface IssuedReceipt {
  readonly receipt: ReceiptBodyV2;
  readonly key: string;
  readonly hash: string;
}

/** The buffers a close writes its bodies and record texts into (handed back to the issuer after it, to be reused). */
interface CloseBuffers {
  readonly bodies: IssuedBodies;
  readonly texts: ReceiptRecordBytes;
}

/** A close's receipts, issued and not yet stored: receipt i's canonical JSON (what its hash is over) is `bodies.body(i)`. */
export interface IssuedClose extends CloseBuffers {
  readonly receipts: IssuedReceipt[];
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

  constructor(private readonly deps: PeriodIssuerDeps) {}

  /** The receipt bodies of a period, hashed, not yet stored. */
  issue(startMs: number, endMs: number): IssuedClose {
    const out: IssuedReceipt[] = [];
    const { bodies, texts } = this.spare ?? { bodies: new IssuedBodies(0), texts: new ReceiptRecordBytes(0) };
    this.spare = null;
    bodies.reset(this.deps.deployments.size());
    const issuedAt = new Date(this.deps.clock.nowMs()).toISOString();
    const periodIso = new Date(startMs).toISOString();
    for (const d of this.deps.deployments.values()) {
      if (this.deps.receipts.has(d.id, startMs)) continue;
      const body = receiptBodyFor(d, startMs, endMs, {
        upSeconds: (fromMs, toMs) => this.deps.uptime.upSeconds(`vm:${d.id}`, fromMs, toMs),
        gatewayUpSeconds: (fromMs, toMs) => this.deps.uptime.upSeconds(`probe:${d.id}`, fromMs, toMs),
        disputed: (fromMs, toMs) => this.deps.disputes?.disputed(d.id, fromMs, toMs) ?? false,
        prev: this.deps.receipts.lastHash(d.id),
        agentHead: d.farmer ? this.deps.agents.agentHead(d.farmer, startMs) : null,
        gateway: this.deps.gateway.agent,
        issuedAt,
        farmerShareBps: this.deps.policy.farmerShareBps,
      });
      if (!body) continue;
      // The canonical JSON of the body itself (a bare body, so receiptSigningBytes' stripping copy is not needed), from pieces kept per deployment; kept as bytes only.
      const hash = bodies.add(this.bodyText.text(d, body));
      out.push({ receipt: body, key: `hypha:${d.id}:${periodIso}`, hash });
    }
    return { receipts: out, bodies, texts };
  }

  /** Hands a close's buffers back once it is stored (or failed), for the next close to reuse. */
  giveBack(close: IssuedClose): void {
    this.spare = { bodies: close.bodies, texts: close.texts };
  }

  /**
   * The signed head of a tree over the issued receipts, in issue order, chained to the previous
   * head. Leaves (receiptLeafHash of each receipt's hash) and the root are worked out over flat
   * buffers of hashes (bench/billing: an array of leaf buffers and a kept tree were ~5% of a close).
   */
  buildTreeHead(close: IssuedClose, startMs: number, endMs: number): SignedTreeHead {
    const root = merkleRootOfLeafHashes(leafHashesOfItems(close.bodies.hashBytes(), 32));
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

  /** Appends a close: its beginning, its receipts in batches (one fsync each), then its tree head. */
  async store(close: IssuedClose, head: SignedTreeHead, startMs: number): Promise<void> {
    const issued = close.receipts;
    await this.deps.receipts.append([{ t: 'close_begin', periodStartMs: startMs }]);
    for (let from = 0; from < issued.length; from += CLOSE_BATCH) {
      const to = Math.min(issued.length, from + CLOSE_BATCH);
      const batch: MoneyRecord[] = [];
      // Each record's text is written around its body's canonical JSON bytes, copied as they are.
      const texts = close.texts;
      texts.reset();
      for (let i = from; i < to; i++) {
        const x = issued[i] as IssuedReceipt;
        batch.push({ t: 'receipt', receipt: x.receipt, periodStartMs: startMs, key: x.key, hash: x.hash, index: i });
        texts.add(close.bodies.body(i), startMs, x.key, x.hash, i);
      }
      await this.deps.receipts.append(batch, texts.records());
    }
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
