// A lab customer's wallet parks a spend on their agreement: create_parked_spend from their own cell, signed with their wallet's key.
import { readFileSync } from 'node:fs';
import { readSigningCredentials, readTokenFile } from '../../gateway/ledger/unyt/connection.js';
import { DEFAULT_ROLE_NAME, DEFAULT_ZOME_NAME } from '../../gateway/ledger/unyt/zome-api.js';
import { actionHashBytes } from '../../gateway/ledger/unyt/holo-hash.js';
import { formatAmount } from '../../protocol/money.js';
import { CUSTOMER_ROLE, LAB_UNIT } from './lab-conductor.js';
import { labConductorInfoPath, type LabConductorInfo } from './lab-conductor-info.js';

/** What a park did: which agreement now holds `amount` more, and the new link's hash. */
export interface Parked {
  readonly agent: string;
  readonly agreement: string;
  readonly amount: string;
  readonly link: string;
}

/**
 * Parks `amountMicros` on `customer`'s agreement through the lab conductor's app interface, the
 * way a Unyt wallet does (wind-tunnel unyt_agent.rs create_parked_spend, role "alliance", zome
 * "transactor"; CreateParkedSpendInput fields as the adapter's tests send them). Must run in a
 * namespace that reaches the ledger actor's address (`hypha lab fund` runs it in the customer's).
 */
export async function parkFunds(ledgerDir: string, customer: string, amountMicros: bigint): Promise<Parked> {
  const info = JSON.parse(readFileSync(labConductorInfoPath(ledgerDir), 'utf8')) as LabConductorInfo;
  const wallet = info.wallets[customer];
  if (wallet === undefined) throw new Error(`${customer} has no Unyt wallet in this lab (wallets: ${Object.keys(info.wallets).join(', ')})`);
  const hc = await import('@holochain/client');
  const app = await hc.AppWebsocket.connect({ url: new URL(info.appUrl), token: readTokenFile(wallet.tokenFile), wsClientOptions: { origin: 'hypha-lab-wallet' }, defaultTimeout: 10_000 });
  try {
    const cellId = app.getCellIdFromRoleName(DEFAULT_ROLE_NAME, await app.appInfo());
    hc.setSigningCredentials(cellId, readSigningCredentials(wallet.signingCredentialsFile));
    const amount = formatAmount(amountMicros);
    const link = await app.callZome<string>({
      role_name: DEFAULT_ROLE_NAME,
      zome_name: DEFAULT_ZOME_NAME,
      fn_name: 'create_parked_spend',
      payload: { ea_id: actionHashBytes(wallet.agreement), executor: null, ct_role_id: CUSTOMER_ROLE, amount: { [String(LAB_UNIT.unit_index)]: amount }, spender_payload: null, lane_definitions: [] },
    });
    return { agent: wallet.agent, agreement: wallet.agreement, amount, link };
  } finally {
    if (app.client instanceof hc.WsClient) await app.client.close().catch(() => undefined);
  }
}
