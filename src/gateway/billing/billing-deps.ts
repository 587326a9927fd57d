// What billing needs of the rest of the gateway, and its policy: the one declaration every billing part narrows with Pick.
import type { Logger } from 'pino';
import type { Clock } from '../../protocol/clock.js';
import type { Receipt, ReceiptAgentHead, ReceiptBodyV2 } from '../../protocol/receipt.js';
import type { SignedTreeHead } from '../../protocol/tree-head.js';
import type { EventSink } from '../events/event-log.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Table } from '../store/store.js';
import type { DeploymentRecord, EndReason } from '../store/records.js';
import type { UptimeBook } from '../uptime/uptime-book.js';
import type { DisputeSource } from '../uptime/probe-service.js';
import type { ReceiptLog } from './receipt-log.js';

/** Billing policy (clock ms). */
export interface BillingPolicy {
  readonly farmerShareBps: number;
  readonly graceMs: number;
  readonly pauseInGrace: boolean;
  readonly periodMs: number;
}

/** What billing needs of the rest of the gateway. */
export interface BillingDeps {
  readonly clock: Clock;
  readonly gateway: { readonly agent: string; sign(message: Uint8Array): Uint8Array };
  readonly receipts: ReceiptLog;
  readonly deployments: Table<DeploymentRecord>;
  readonly uptime: UptimeBook;
  /** The gateway's probes: whether a VM's up-time was disputed (absent when probes are off). */
  readonly disputes?: DisputeSource;
  readonly ledger: Ledger;
  readonly lifecycle: {
    setPaused(d: DeploymentRecord, paused: boolean, why: string): Promise<boolean>;
    end(d: DeploymentRecord, reason: EndReason, detail: string): Promise<DeploymentRecord>;
  };
  readonly agents: {
    agentHead(agent: string, periodStartMs: number): ReceiptAgentHead | null;
    /** Asks a farmer to countersign a v1 receipt (issued before v2; re-asked after a restart). */
    requestCountersign(receipt: Receipt): void;
    verifyCountersignature(receipt: Receipt, signature: string): boolean;
    /** Asks a farmer for one countersignature over its receipts in a period's tree (now, or when it reconnects). */
    requestBatchCountersign(farmer: string, head: SignedTreeHead, receipts: readonly ReceiptBodyV2[]): void;
  };
  readonly events: EventSink;
  readonly log: Logger;
  readonly policy: BillingPolicy;
  /** Access escrow: releases or returns held charges whose deployment's access is settled, before anything is posted. */
  readonly escrow?: { settleHeld(): Promise<void> };
  /** Receipt records appended per fsync while closing (PeriodIssuer's CLOSE_BATCH unless a test makes batches small). */
  readonly closeBatchReceipts?: number;
  /** Called after each settle with its outcome, for metrics. */
  onRun?(run: { durationMs: number; receipts: number; error: string | null }): void;
}
