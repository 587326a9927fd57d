// Where the lab's Unyt conductor stand-in describes itself (unyt-lab.json) and keeps its ledger's snapshot; no heavy imports, so every lab command can read it.
import { join } from 'node:path';

/** unyt-lab.json: what lab up and `lab fund` need to know about the conductor. */
export interface LabConductorInfo {
  readonly appUrl: string;
  readonly adminUrl: string;
  readonly gatewayAppId: string;
  /** The gateway app's agent: the agreements' invoicer and executor, who receives hypha's fee. */
  readonly gatewayAgent: string;
  /** customer AgentPubKey -> agreement ActionHash (the gateway's ledger.agreements). */
  readonly agreements: Record<string, string>;
  /** Per lab customer: the app its wallet uses and its 0600 token and signing-credentials files. */
  readonly wallets: Record<string, { readonly agent: string; readonly agreement: string; readonly appId: string; readonly tokenFile: string; readonly signingCredentialsFile: string }>;
}

/** Where the conductor describes itself. */
export function labConductorInfoPath(dir: string): string {
  return join(dir, 'unyt-lab.json');
}

/** The conductor's ledger snapshot (FakeTransactor.snapshot), rewritten after every zome call. */
export function labLedgerSnapshotPath(dir: string): string {
  return join(dir, 'unyt-ledger.json');
}
