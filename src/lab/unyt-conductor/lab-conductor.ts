// The lab's Unyt ledger actor: FakeConductor as a process, with an app per customer, their agreements, and their wallets.
//
// A stand-in for a Holochain conductor running the Unyt hApp (none is public): what the gateway
// sees is @holochain/client 0.21's real wire protocol (fake-conductor.ts cites it), the Unyt zome
// functions hypha calls and the agreement of unyt/hypha-agreement (fake-transactor.ts cites its
// sources). What is lab-only: every customer starts with LAB_CUSTOMER_MINT base units (in Unyt a
// credit limit or a bridge), and each customer's "wallet" collects what a RAVE sends back and
// parks it again at once (unyt notes, decision 4: a RAVE consumes the funding links it is given).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeSecureFile } from '../../identity/index.js';
import { actionHashBytes } from '../../gateway/ledger/unyt/holo-hash.js';
import { formatAmount, parseAmount } from '../../protocol/money.js';
import { FakeConductor } from './fake-conductor.js';
import { FakeTransactor } from './fake-transactor.js';
import { labConductorInfoPath, labLedgerSnapshotPath, type LabConductorInfo } from './lab-conductor-info.js';

/** The unit the lab bills in, and its index in the alliance's UnitMaps. */
export const LAB_UNIT = { unit_index: 0, name: 'SPORE', symbol: 'SPORE' } as const;
/** Base units each lab customer holds at start, from which `hypha lab fund` parks spends. */
export const LAB_CUSTOMER_MINT = 1_000_000_000n;
/** The ct_role_ids of hypha's agreement template (unyt/hypha-agreement). */
export const CUSTOMER_ROLE = 'hypha_customer';
export const INVOICER_ROLE = 'hypha_invoicer';
/** The gateway's installed app id on the lab conductor. */
export const GATEWAY_APP_ID = 'hypha-gateway';

/** What `hypha lab unyt-conductor` is told. */
export interface LabConductorOptions {
  /** The ledger actor's folder: unyt-lab.json, unyt-ledger.json and wallets/ go there. */
  readonly dir: string;
  /** App interface: the ledger actor's lab address (the gateway and customers reach it there). */
  readonly host: string;
  readonly port: number;
  /** Admin interface: loopback of the ledger's namespace only, like a real conductor's. */
  readonly adminPort: number;
  readonly customers: ReadonlyArray<{ readonly name: string; readonly agent: string }>;
  /** The agreements' farmer_share_bps (= billing.farmerSharePercent × 100). */
  readonly farmerShareBps: bigint;
}

/** Starts the conductor; answers it (stop with stopAll). Logs nothing secret. */
export async function startLabConductor(o: LabConductorOptions): Promise<FakeConductor> {
  mkdirSync(join(o.dir, 'wallets'), { recursive: true, mode: 0o700 });
  const transactor = new FakeTransactor([{ ...LAB_UNIT }]);
  const customers = new Map<string, string>();
  const unit = String(LAB_UNIT.unit_index);
  const snapshot = (): void => writeSecureFile(labLedgerSnapshotPath(o.dir), `${JSON.stringify(transactor.snapshot(), null, 2)}\n`);
  // The customers' wallets: collect each RAVE's remainder and park it again on the same agreement.
  const sweep = (): void => {
    for (const [agent, ea] of customers) {
      let back = 0n;
      for (const tx of transactor.call(agent, 'get_incoming_raves', null) as Array<{ amount: Record<string, string> }>) {
        transactor.call(agent, 'create_collect_from_rave', tx);
        back += parseAmount('amount', tx.amount[unit] ?? '0');
      }
      if (back > 0n) transactor.call(agent, 'create_parked_spend', { ea_id: actionHashBytes(ea), executor: null, ct_role_id: CUSTOMER_ROLE, amount: { [unit]: formatAmount(back) }, spender_payload: null, lane_definitions: [] });
    }
  };
  const conductor = new FakeConductor(transactor, {
    host: o.host,
    port: o.port,
    adminHost: '::1',
    adminPort: o.adminPort,
    afterCall: (_app, fn) => {
      if (fn === 'execute_rave') sweep();
      snapshot();
    },
  });
  const gateway = conductor.install(GATEWAY_APP_ID);
  const info: { agreements: Record<string, string>; wallets: Record<string, LabConductorInfo['wallets'][string]> } = { agreements: {}, wallets: {} };
  for (const c of o.customers) {
    const appId = `customer-${c.name}`;
    // The wallet's signing key may park spends and nothing else.
    const app = conductor.install(appId, ['create_parked_spend'], c.agent);
    transactor.mint(c.agent, unit, LAB_CUSTOMER_MINT);
    const agreement = transactor.createAgreement({ customer: c.agent, invoicer: gateway.agent, farmerShareBps: o.farmerShareBps, customerRole: CUSTOMER_ROLE, invoicerRole: INVOICER_ROLE });
    customers.set(c.agent, agreement);
    const tokenFile = join(o.dir, 'wallets', `${c.name}-token.json`);
    const signingCredentialsFile = join(o.dir, 'wallets', `${c.name}-signing.json`);
    writeSecureFile(tokenFile, `${JSON.stringify(app.token)}\n`);
    writeSecureFile(signingCredentialsFile, `${JSON.stringify(app.credentials)}\n`);
    info.agreements[c.agent] = agreement;
    info.wallets[c.name] = { agent: c.agent, agreement, appId, tokenFile, signingCredentialsFile };
  }
  await conductor.start();
  await conductor.startAdmin();
  const described: LabConductorInfo = { appUrl: conductor.url, adminUrl: conductor.adminUrl, gatewayAppId: GATEWAY_APP_ID, gatewayAgent: gateway.agent, ...info };
  writeSecureFile(labConductorInfoPath(o.dir), `${JSON.stringify(described, null, 2)}\n`);
  snapshot();
  return conductor;
}
