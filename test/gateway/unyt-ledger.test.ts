// UnytLedger against FakeConductor over @holochain/client 0.21's own websocket: the whole billing cycle, refusals, outages, idempotency, config.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppWebsocket, WsClient, setSigningCredentials } from '@holochain/client';
import { ledgerCommand } from '../../src/cli/ledger-command.js';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { LedgerRejectedError, LedgerUnavailableError, type BillingEvent } from '../../src/gateway/ledger/ledger.js';
import { UnytLedger, UnytStartError, type UnytLedgerConfig } from '../../src/gateway/ledger/unyt/index.js';
import { readSigningCredentials } from '../../src/gateway/ledger/unyt/connection.js';
import { invoiceParkedData, parkedTagBytes } from '../../src/gateway/ledger/unyt/parked-tag.js';
import { GATEWAY_FUNCTIONS } from '../../src/gateway/ledger/unyt/zome-api.js';
import { formatAmount, parseAmount } from '../../src/protocol/money.js';
import { ValidationError } from '../../src/protocol/validate.js';
import { StoreError } from '../../src/gateway/store/store.js';
import { FakeConductor, type FakeApp } from '../../src/lab/unyt-conductor/fake-conductor.js';
import { FakeTransactor } from '../../src/lab/unyt-conductor/fake-transactor.js';
import { scratchDir } from '../helpers/paths.js';
import { ReceiptLog, type MoneyRecord } from '../../src/gateway/billing/receipt-log.js';
import { receiptHash } from '../../src/protocol/receipt.js';
import { computeCharge } from '../../src/protocol/charge.js';
import { testBilling } from '../helpers/billing-service.js';
import { headOver, HOUR, T0, v2Body } from '../helpers/receipts.js';

const SPORE = '1';
const micros = (text: string): bigint => parseAmount('test', text);

interface World {
  conductor: FakeConductor;
  tx: FakeTransactor;
  gateway: FakeApp;
  alice: FakeApp;
  farmer: FakeApp;
  ea: string;
  dir: string;
  config: (extra?: Record<string, unknown>) => UnytLedgerConfig;
  open: (extra?: Record<string, unknown>) => Promise<UnytLedger>;
  /** Calls a zome function as one of the apps, through its own AppWebsocket. */
  as: (app: FakeApp, fn: string, payload: unknown) => Promise<unknown>;
}

/** A conductor with the gateway's app (granted only hypha's functions), a customer and a farmer; alice's agreement pays the farmer 80%. */
async function world(t: TestContext): Promise<World> {
  const tx = new FakeTransactor([
    { unit_index: 0, name: 'UNYT', symbol: 'U' },
    { unit_index: 1, name: 'SPORE', symbol: 'SPR' },
  ]);
  const conductor = new FakeConductor(tx);
  await conductor.start();
  const gateway = conductor.install('gateway', GATEWAY_FUNCTIONS);
  const alice = conductor.install('alice');
  const farmer = conductor.install('farmer');
  const ea = tx.createAgreement({ customer: alice.agent, invoicer: gateway.agent, farmerShareBps: 8000n, customerRole: 'hypha_customer', invoicerRole: 'hypha_invoicer' });
  const scratch = scratchDir('hypha-unyt-');
  const tokenFile = join(scratch.dir, 'token.json');
  const credsFile = join(scratch.dir, 'signing.json');
  writeFileSync(tokenFile, JSON.stringify(gateway.token), { mode: 0o600 });
  writeFileSync(credsFile, JSON.stringify(gateway.credentials), { mode: 0o600 });
  const ledgers: UnytLedger[] = [];
  const sockets: AppWebsocket[] = [];
  t.after(async () => {
    for (const l of ledgers) await l.close();
    for (const s of sockets) if (s.client instanceof WsClient && s.client.socket.readyState === s.client.socket.OPEN) await s.client.close();
    await conductor.stop();
    scratch.remove();
  });
  const config = (extra: Record<string, unknown> = {}): UnytLedgerConfig => {
    const parsed = parseGatewayConfig(
      {
        dataDir: scratch.dir,
        billing: { farmerSharePercent: 80 },
        ledger: { kind: 'unyt', appUrl: conductor.url, installedAppId: 'gateway', appTokenFile: tokenFile, signingCredentialsFile: credsFile, agreements: { [alice.agent]: ea }, callTimeoutSeconds: 1, ...extra },
      },
      scratch.dir,
    );
    assert.equal(parsed.ledger.kind, 'unyt');
    return parsed.ledger;
  };
  const open = async (extra?: Record<string, unknown>): Promise<UnytLedger> => {
    const ledger = await UnytLedger.open(config(extra), { farmerShareBps: 8000 });
    ledgers.push(ledger);
    return ledger;
  };
  const connections = new Map<string, AppWebsocket>();
  const as = async (app: FakeApp, fn: string, payload: unknown): Promise<unknown> => {
    let ws = connections.get(app.installedAppId);
    if (ws === undefined) {
      ws = await AppWebsocket.connect({ url: new URL(conductor.url), token: app.token, wsClientOptions: { origin: 'hypha-test' } });
      sockets.push(ws);
      const cellId = ws.getCellIdFromRoleName('alliance', await ws.appInfo());
      const creds = readCredentialsOf(scratch.dir, app);
      setSigningCredentials(cellId, creds);
      connections.set(app.installedAppId, ws);
    }
    return ws.callZome({ role_name: 'alliance', zome_name: 'transactor', fn_name: fn, payload });
  };
  return { conductor, tx, gateway, alice, farmer, ea, dir: scratch.dir, config, open, as };
}

/** An app's credentials through the adapter's own 0600 reader (the same format the gateway uses). */
function readCredentialsOf(dir: string, app: FakeApp): ReturnType<typeof readSigningCredentials> {
  const path = join(dir, `${app.installedAppId}-signing.json`);
  writeFileSync(path, JSON.stringify(app.credentials), { mode: 0o600 });
  return readSigningCredentials(path);
}

/** The customer funds the agreement: a ParkedSpend under the customer role, from her own cell. */
async function park(w: World, amount: string): Promise<void> {
  await w.as(w.alice, 'create_parked_spend', {
    ea_id: rawHash(w.ea),
    executor: null,
    ct_role_id: 'hypha_customer',
    amount: { [SPORE]: amount },
    spender_payload: null,
    lane_definitions: [],
  });
}

function rawHash(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.slice(1), 'base64url'));
}

function event(w: World, key: string, amount: string, extra: Partial<BillingEvent> = {}): BillingEvent {
  return {
    key,
    customer: w.alice.agent,
    farmer: w.farmer.agent,
    amountMicros: micros(amount),
    unit: 'SPORE',
    receiptIds: [`r-${key}`],
    invoice: { receipt: `r-${key}`, periodStart: 0, upSeconds: 3600, pricePerHour: amount },
    ...extra,
  };
}

const callsOf = (w: World, fn: string): number => w.conductor.calls.filter((c) => c.fn === fn).length;

test('start: the unit name resolves to its index through get_global_units_details; an unknown unit refuses to start; unitIndex skips the call', async (t) => {
  const w = await world(t);
  const ledger = await w.open();
  assert.equal(ledger.unitIndex, '1');
  assert.equal(callsOf(w, 'get_global_units_details'), 1);
  await assert.rejects(w.open({ unit: 'MOON' }), (e: unknown) => e instanceof UnytStartError && /no unit named "MOON".*UNYT, SPORE/.test(e.message));
  const pinned = await w.open({ unitIndex: '1', journalPath: join(w.dir, 'other.journal') });
  assert.equal(pinned.unitIndex, '1');
  assert.equal(callsOf(w, 'get_global_units_details'), 2, 'a configured index needs no call');
});

test('billing cycle: invoice parked as content, the RAVE pays farmer share + fee, the remainder goes back, every receiver collects', async (t) => {
  const w = await world(t);
  w.tx.mint(w.alice.agent, SPORE, micros('10'));
  await park(w, '5');
  // The parked spend left alice's balance, and Unyt's 1% fee is owed on it.
  assert.equal(w.tx.balanceOf(w.alice.agent, SPORE), micros('5'));
  assert.equal(w.tx.feesOwedBy(w.alice.agent, SPORE), micros('0.05'));
  const ledger = await w.open();
  assert.deepEqual(await ledger.balance(w.alice.agent), { unit: 'SPORE', availableMicros: micros('5') });

  const result = await ledger.postBillingEvent(event(w, 'dep1:0', '1.5'));
  assert.equal(result.status, 'paid');
  // What went on the ledger: the unit by index, and only the key, the invoice hash and the farmer.
  const parked = w.conductor.calls.find((c) => c.fn === 'create_parked_link')?.payload as { parked_link_type: { ParkedData: [{ amount: unknown; payload: Record<string, unknown> }, boolean] } };
  const [data, flag] = parked.parked_link_type.ParkedData;
  assert.equal(flag, true);
  assert.deepEqual(data.amount, { [SPORE]: formatAmount(micros('1.5')) });
  assert.deepEqual(Object.keys(data.payload).sort(), ['farmer', 'idempotency_key', 'invoice_hash']);
  assert.equal(w.gateway.agent !== w.alice.agent, true);
  assert.equal(w.conductor.calls.some((c) => c.fn === 'create_parked_spend' && c.app === 'gateway'), false, 'the gateway never spends to bill');
  // Everything the RAVE was given is consumed; the gateway collected its fee (20% of 1.5).
  assert.equal(w.tx.liveLinks(w.ea), 0);
  assert.equal(w.tx.balanceOf(w.gateway.agent, SPORE), micros('0.3'));
  // The farmer's agent finds its share and collects it on its own cell.
  const incoming = (await w.as(w.farmer, 'get_incoming_raves', null)) as unknown[];
  assert.equal(incoming.length, 1);
  await w.as(w.farmer, 'create_collect_from_rave', incoming[0]);
  assert.equal(w.tx.balanceOf(w.farmer.agent, SPORE), micros('1.2'));
  // The remainder went back to alice (hypha's template has no carry-forward): she collects and parks it again.
  assert.deepEqual(await ledger.balance(w.alice.agent), { unit: 'SPORE', availableMicros: 0n });
  const back = (await w.as(w.alice, 'get_incoming_raves', null)) as unknown[];
  await w.as(w.alice, 'create_collect_from_rave', back[0]);
  assert.equal(w.tx.balanceOf(w.alice.agent, SPORE), micros('8.5'));

  // The payout names the same RAVE and moves nothing more.
  const before = w.conductor.calls.length;
  const payout = await ledger.payFarmer({ key: 'payout:r-dep1:0', farmer: w.farmer.agent, amountMicros: micros('1.2'), unit: 'SPORE', receiptIds: ['r-dep1:0'] });
  assert.deepEqual(payout, { status: 'paid', entryId: (result as { entryId: string }).entryId });
  assert.equal(w.conductor.calls.length, before);

  // Idempotent re-run: same answers, no second invoice, no second RAVE.
  assert.deepEqual(await ledger.postBillingEvent(event(w, 'dep1:0', '1.5')), result);
  assert.deepEqual(await ledger.payFarmer({ key: 'payout:r-dep1:0', farmer: w.farmer.agent, amountMicros: micros('1.2'), unit: 'SPORE', receiptIds: ['r-dep1:0'] }), payout);
  assert.equal(callsOf(w, 'create_parked_link'), 1);
  assert.equal(w.tx.raveCount, 1);
  await assert.rejects(ledger.postBillingEvent(event(w, 'dep1:0', '2')), (e: unknown) => e instanceof LedgerRejectedError && /names one charge/.test(e.message));
});

test('two charges of one customer at once are run one after the other: each RAVE gets its own funding', async (t) => {
  const w = await world(t);
  w.tx.mint(w.alice.agent, SPORE, micros('10'));
  await park(w, '1');
  await park(w, '1');
  const ledger = await w.open();
  const [a, b] = await Promise.all([ledger.postBillingEvent(event(w, 'dep1:0', '1')), ledger.postBillingEvent(event(w, 'dep2:0', '1'))]);
  assert.equal(a.status, 'paid');
  assert.equal(b.status, 'paid');
  assert.equal(w.tx.raveCount, 2);
  assert.equal(w.tx.liveLinks(w.ea), 0);
});

test('refusal for funds: nothing is parked while the funding does not cover the charge; after a top-up the same key pays', async (t) => {
  const w = await world(t);
  w.tx.mint(w.alice.agent, SPORE, micros('10'));
  await park(w, '0.5');
  const ledger = await w.open();
  assert.deepEqual(await ledger.postBillingEvent(event(w, 'dep1:0', '1')), { status: 'insufficient_funds', availableMicros: micros('0.5') });
  assert.equal(callsOf(w, 'create_parked_link'), 0);
  assert.equal(w.tx.raveCount, 0);
  await park(w, '1');
  const paid = await ledger.postBillingEvent(event(w, 'dep1:0', '1'));
  assert.equal(paid.status, 'paid');
  // Both funding links were consumed: 0.8 to the farmer, 0.2 fee, 0.5 back to alice.
  const back = (await w.as(w.alice, 'get_incoming_raves', null)) as { amount: Record<string, string> }[];
  assert.deepEqual(back[0]?.amount, { [SPORE]: formatAmount(micros('0.5')) });
});

test('funding the charge does not need stays parked: the oldest links that cover it are given to the RAVE', async (t) => {
  const w = await world(t);
  w.tx.mint(w.alice.agent, SPORE, micros('10'));
  for (let i = 0; i < 3; i++) await park(w, '1');
  const ledger = await w.open();
  assert.equal((await ledger.postBillingEvent(event(w, 'dep1:0', '1.5'))).status, 'paid');
  assert.deepEqual(await ledger.balance(w.alice.agent), { unit: 'SPORE', availableMicros: micros('1') });
  const back = (await w.as(w.alice, 'get_incoming_raves', null)) as { amount: Record<string, string> }[];
  assert.deepEqual(back[0]?.amount, { [SPORE]: formatAmount(micros('0.5')) });
  assert.equal((await ledger.postBillingEvent(event(w, 'dep1:1', '1'))).status, 'paid');
  assert.deepEqual(await ledger.balance(w.alice.agent), { unit: 'SPORE', availableMicros: 0n });
});

test('a conductor refusal that is not for want of funds (the grant does not cover execute_rave) is an outage, not insufficient_funds', async (t) => {
  const w = await world(t);
  w.tx.mint(w.alice.agent, SPORE, micros('10'));
  await park(w, '2');
  // A gateway app whose grant does not cover execute_rave: the conductor refuses the call.
  const narrow = w.conductor.install('narrow', GATEWAY_FUNCTIONS.filter((f) => f !== 'execute_rave'));
  writeFileSync(join(w.dir, 'narrow-token.json'), JSON.stringify(narrow.token), { mode: 0o600 });
  writeFileSync(join(w.dir, 'narrow-signing.json'), JSON.stringify(narrow.credentials), { mode: 0o600 });
  const ea = w.tx.createAgreement({ customer: w.alice.agent, invoicer: narrow.agent, farmerShareBps: 8000n, customerRole: 'hypha_customer', invoicerRole: 'hypha_invoicer' });
  await w.as(w.alice, 'create_parked_spend', { ea_id: rawHash(ea), executor: null, ct_role_id: 'hypha_customer', amount: { [SPORE]: '2' }, spender_payload: null, lane_definitions: [] });
  const ledger = await w.open({
    installedAppId: 'narrow', appTokenFile: join(w.dir, 'narrow-token.json'), signingCredentialsFile: join(w.dir, 'narrow-signing.json'),
    agreements: { [w.alice.agent]: ea }, journalPath: join(w.dir, 'narrow.journal'),
  });
  await assert.rejects(ledger.postBillingEvent(event(w, 'k', '1')), (e: unknown) => e instanceof LedgerUnavailableError && /zome_call_unauthorized/.test(e.message));
});

test('signed zome calls: a signature by the wrong key is refused by the conductor (zome_call_authentication_failed)', async (t) => {
  const w = await world(t);
  const other = w.conductor.install('other');
  const forged = { ...w.gateway.credentials, privateKey: other.credentials.privateKey, publicKey: other.credentials.publicKey };
  writeFileSync(join(w.dir, 'forged.json'), JSON.stringify(forged), { mode: 0o600 });
  await assert.rejects(w.open({ signingCredentialsFile: join(w.dir, 'forged.json') }), (e: unknown) => e instanceof UnytStartError && /zome_call_authentication_failed/.test(e.message));
});

test('credential files readable by others are refused before any connection', async (t) => {
  const w = await world(t);
  const loose = join(w.dir, 'loose.json');
  writeFileSync(loose, JSON.stringify(w.gateway.token), { mode: 0o600 });
  chmodSync(loose, 0o644);
  await assert.rejects(w.open({ appTokenFile: loose }), (e: unknown) => e instanceof UnytStartError && /chmod 600/.test(e.message));
});

test('retry after an outage: the conductor down is LedgerUnavailableError, and the retry charges once', async (t) => {
  const w = await world(t);
  w.tx.mint(w.alice.agent, SPORE, micros('10'));
  await park(w, '3');
  const ledger = await w.open();
  await w.conductor.stop();
  await assert.rejects(ledger.balance(w.alice.agent), LedgerUnavailableError);
  await assert.rejects(ledger.postBillingEvent(event(w, 'dep1:0', '1')), LedgerUnavailableError);
  await w.conductor.start();
  const paid = await ledger.postBillingEvent(event(w, 'dep1:0', '1'));
  assert.equal(paid.status, 'paid');
  assert.equal(w.tx.raveCount, 1);
  assert.equal(callsOf(w, 'create_parked_link'), 1);
});

test('a RAVE that never answers: the parked invoice is found again and executed once; a restarted adapter answers from its journal', async (t) => {
  const w = await world(t);
  w.tx.mint(w.alice.agent, SPORE, micros('10'));
  await park(w, '3');
  const ledger = await w.open();
  w.conductor.hang.add('execute_rave');
  await assert.rejects(ledger.postBillingEvent(event(w, 'dep1:0', '1')), (e: unknown) => e instanceof LedgerUnavailableError && /timed out/.test(e.message));
  assert.equal(w.tx.liveLinks(w.ea), 2, 'the invoice and the funding wait on the agreement');
  w.conductor.hang.clear();
  const paid = await ledger.postBillingEvent(event(w, 'dep1:0', '1'));
  assert.equal(paid.status, 'paid');
  assert.equal(callsOf(w, 'create_parked_link'), 1, 'the invoice was parked once');
  assert.equal(w.tx.raveCount, 1);
  await ledger.close();
  const again = await w.open({ unitIndex: '1' });
  const before = w.conductor.calls.length;
  assert.deepEqual(await again.postBillingEvent(event(w, 'dep1:0', '1')), paid);
  assert.equal(w.conductor.calls.length, before, 'answered from the journal');
});

test('a RAVE that ran before a crash lost its answer: the consumed invoice reads as paid, not charged again', async (t) => {
  const w = await world(t);
  w.tx.mint(w.alice.agent, SPORE, micros('10'));
  await park(w, '3');
  const ledger = await w.open();
  // Park and execute by hand through the gateway's own cell, as the adapter would have before crashing.
  w.conductor.hang.add('execute_rave');
  await assert.rejects(ledger.postBillingEvent(event(w, 'dep1:0', '1')), LedgerUnavailableError);
  w.conductor.hang.clear();
  const links = (await w.as(w.gateway, 'get_parked_links_by_ea', rawHash(w.ea))) as unknown[];
  const gd = (await w.as(w.gateway, 'get_current_global_definition', null)) as { id: Uint8Array };
  await w.as(w.gateway, 'execute_rave', { ea_id: rawHash(w.ea), executor_inputs: null, links, global_definition: gd.id, lane_definitions: [], strategy: 'Network' });
  assert.equal(w.tx.raveCount, 1);
  const result = await ledger.postBillingEvent(event(w, 'dep1:0', '1'));
  assert.equal(result.status, 'paid');
  assert.equal(w.tx.raveCount, 1, 'no second RAVE');
});

for (const restart of [false, true]) {
  test(`a RAVE run late, after the retry${restart ? ' of a restarted adapter' : ''} read the links: its refusal for consumed links reads as paid, never as insufficient funds`, async (t) => {
    const w = await world(t);
    w.tx.mint(w.alice.agent, SPORE, micros('10'));
    await park(w, '1.5');
    let ledger = await w.open();
    // The conductor holds the RAVE past the adapter's deadline and runs it only when the retry's RAVE arrives.
    w.conductor.late.add('execute_rave');
    await assert.rejects(ledger.postBillingEvent(event(w, 'dep1:0', '1')), (e: unknown) => e instanceof LedgerUnavailableError && /timed out/.test(e.message));
    w.conductor.late.clear();
    assert.equal(w.tx.raveCount, 0, 'the first RAVE has not run yet');
    if (restart) {
      await ledger.close();
      ledger = await w.open({ unitIndex: '1' });
    }
    // The retry sees the invoice and 1.5 parked, so it executes; the late RAVE consumes both first and
    // sends the 0.5 left back to alice, so the retry's RAVE is refused and 0 is parked: a charge that
    // ran must not be read as "insufficient funds" (arrears and grace for a paid charge).
    const retry = await ledger.postBillingEvent(event(w, 'dep1:0', '1'));
    assert.equal(retry.status, 'paid', `the charge ran once and is paid, got ${JSON.stringify(retry, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`);
    assert.equal(w.tx.raveCount, 1, 'one RAVE charged the invoice');
    const snap = w.tx.snapshot();
    assert.equal(snap.allocated[w.farmer.agent]?.[SPORE], '0.800000', 'the farmer was allocated its share once');
    assert.equal(snap.allocated[w.alice.agent]?.[SPORE], '0.500000', 'the rest went back to alice once');
    const before = w.conductor.calls.length;
    assert.deepEqual(await ledger.postBillingEvent(event(w, 'dep1:0', '1')), retry, 'the same key answers from the journal');
    assert.equal(w.conductor.calls.length, before);
    assert.equal((await ledger.payFarmer({ key: 'payout:r-dep1:0', farmer: w.farmer.agent, amountMicros: micros('0.8'), unit: 'SPORE', receiptIds: ['r-dep1:0'] })).status, 'paid', 'the paid bill is journaled for its payout');
  });
}

test('the invoice tag is measured before the call: over 900 bytes of msgpack is refused with a clear error and nothing is sent', async (t) => {
  const w = await world(t);
  w.tx.mint(w.alice.agent, SPORE, micros('10'));
  await park(w, '3');
  const ledger = await w.open();
  const long = event(w, 'k'.repeat(800), '1');
  assert.ok(parkedTagBytes(invoiceParkedData('hypha_invoicer', SPORE, long)) > 900);
  await assert.rejects(ledger.postBillingEvent(long), (e: unknown) => e instanceof LedgerRejectedError && /over the 900-byte cap/.test(e.message));
  assert.equal(callsOf(w, 'create_parked_link'), 0);
  // A realistic invoice is far below the cap, however large the invoice object is: only its hash goes on the ledger.
  const big = event(w, 'dep1:0', '1', { invoice: { notes: 'x'.repeat(10_000) } });
  assert.ok(parkedTagBytes(invoiceParkedData('hypha_invoicer', SPORE, big)) < 300);
});

test('payouts: only for receipts this ledger charged, to their farmer, for exactly the share the agreement allocated', async (t) => {
  const w = await world(t);
  w.tx.mint(w.alice.agent, SPORE, micros('10'));
  await park(w, '3');
  const ledger = await w.open();
  await ledger.postBillingEvent(event(w, 'dep1:0', '1'));
  const base = { key: 'payout:r-dep1:0', farmer: w.farmer.agent, unit: 'SPORE', receiptIds: ['r-dep1:0'] };
  await assert.rejects(ledger.payFarmer({ ...base, amountMicros: micros('0.9') }), (e: unknown) => e instanceof LedgerRejectedError && /farmerSharePercent/.test(e.message));
  await assert.rejects(ledger.payFarmer({ ...base, receiptIds: ['r-unknown'], amountMicros: micros('0.8') }), (e: unknown) => e instanceof LedgerRejectedError && /not charged/.test(e.message));
  await assert.rejects(ledger.payFarmer({ ...base, farmer: w.alice.agent, amountMicros: micros('0.8') }), (e: unknown) => e instanceof LedgerRejectedError && /charged for farmer/.test(e.message));
  assert.equal((await ledger.payFarmer({ ...base, amountMicros: micros('0.8') })).status, 'paid');
  await assert.rejects(ledger.postBillingEvent(event(w, 'x', '1', { unit: 'UNYT' })), (e: unknown) => e instanceof LedgerRejectedError && /not the unit/.test(e.message));
  assert.equal(w.tx.balanceOf(w.gateway.agent, SPORE), micros('0.2'));
});

test('adminUrl: the adapter issues its own token and a signing grant listing only the functions it calls, then bills', async (t) => {
  const w = await world(t);
  await w.conductor.startAdmin();
  t.after(() => w.conductor.stopAll());
  w.tx.mint(w.alice.agent, SPORE, micros('10'));
  await park(w, '2');
  const ledger = await w.open({ adminUrl: w.conductor.adminUrl, appTokenFile: undefined, signingCredentialsFile: undefined });
  assert.equal((await ledger.postBillingEvent(event(w, 'dep1:0', '1'))).status, 'paid');
  // An outage and a reconnect: the token and the grant are reused, not issued again.
  await w.conductor.stop();
  await assert.rejects(ledger.balance(w.alice.agent), LedgerUnavailableError);
  await w.conductor.start();
  assert.deepEqual(await ledger.balance(w.alice.agent), { unit: 'SPORE', availableMicros: 0n });
  const grants = w.conductor.grantsOf('gateway');
  assert.equal(grants.length, 2, 'the install grant and the one the adapter asked for');
  assert.deepEqual(grants[1], [...GATEWAY_FUNCTIONS].sort());
});

test('the journal is the hash-chained append log: a line changed on disk stops the start instead of charging twice', async (t) => {
  const w = await world(t);
  w.tx.mint(w.alice.agent, SPORE, micros('10'));
  await park(w, '3');
  const ledger = await w.open({ unitIndex: '1' });
  await ledger.postBillingEvent(event(w, 'dep1:0', '1'));
  await ledger.close();
  const path = join(w.dir, 'unyt-ledger.journal');
  const text = readFileSync(path, 'utf8');
  assert.match(text, /"state":"paid"/);
  writeFileSync(path, text.replace('"state":"paid"', '"state":"parked"'), { mode: 0o600 });
  await assert.rejects(w.open({ unitIndex: '1' }), (e: unknown) => e instanceof StoreError && /hash chain/.test(e.message));
});

test('hypha ledger unyt-credentials: issues 0600 token and signing files the adapter then bills with', async (t) => {
  const w = await world(t);
  await w.conductor.startAdmin();
  t.after(() => w.conductor.stopAll());
  w.tx.mint(w.alice.agent, SPORE, micros('10'));
  await park(w, '2');
  const out: string[] = [];
  const dir = join(w.dir, 'issued');
  mkdirSync(dir, { mode: 0o700 });
  const code = await ledgerCommand(['unyt-credentials', '--admin-url', w.conductor.adminUrl, '--app-url', w.conductor.url, '--app-id', 'gateway', '--out', dir], (s) => out.push(s));
  assert.equal(code, 0);
  const issued = JSON.parse(out[0] as string) as { tokenFile: string; signingCredentialsFile: string; agent: string };
  assert.equal(issued.agent, w.gateway.agent);
  for (const f of [issued.tokenFile, issued.signingCredentialsFile]) assert.equal(statSync(f).mode & 0o777, 0o600);
  assert.deepEqual(w.conductor.grantsOf('gateway')[1], [...GATEWAY_FUNCTIONS].sort());
  const ledger = await w.open({ appTokenFile: issued.tokenFile, signingCredentialsFile: issued.signingCredentialsFile });
  assert.equal((await ledger.postBillingEvent(event(w, 'dep1:0', '1'))).status, 'paid');
  // Never overwritten: a second run refuses rather than replace live credentials.
  await assert.rejects(ledgerCommand(['unyt-credentials', '--admin-url', w.conductor.adminUrl, '--app-url', w.conductor.url, '--app-id', 'gateway', '--out', dir], () => undefined), /already exists/);
  assert.equal(w.conductor.grantsOf('gateway').length, 2, 'the refused run granted nothing');
});

test('config: the ledger block is checked when the gateway config loads, naming the field', () => {
  const base = { kind: 'unyt', appUrl: 'ws://127.0.0.1:1', installedAppId: 'unyt', adminUrl: 'ws://127.0.0.1:2' };
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ ...base, appUrl: 'http://x' }, 'config.ledger.appUrl'],
    [{ ...base, adminUrl: undefined }, 'config.ledger.adminUrl'],
    [{ ...base, unitKeys: { SPORE: 'SPORE' } }, 'config.ledger.unitKeys'],
    [{ ...base, unitIndex: '300' }, 'config.ledger.unitIndex'],
    [{ ...base, unitIndex: 'SPORE' }, 'config.ledger.unitIndex'],
    [{ ...base, strategy: 'Fast' }, 'config.ledger.strategy'],
    [{ ...base, agreements: { nope: 'uhCkk' } }, 'config.ledger.agreements key "nope"'],
    [{ ...base, callTimeoutSeconds: 0 }, 'config.ledger.callTimeoutSeconds'],
  ];
  for (const [ledger, field] of cases) {
    assert.throws(() => parseGatewayConfig({ ledger }, '/etc/hypha'), (e: unknown) => e instanceof ValidationError && e.field === field, field);
  }
  const ok = parseGatewayConfig({ ledger: { ...base, appTokenFile: 't.json' } }, '/etc/hypha').ledger as UnytLedgerConfig;
  assert.equal(ok.appTokenFile, '/etc/hypha/t.json');
  assert.equal(ok.journalPath, '/etc/hypha/data/unyt-ledger.journal');
  assert.equal(ok.roleName, 'alliance');
  assert.equal(ok.zomeName, 'transactor');
  assert.equal(ok.strategy, 'Network');
});

/** Zome calls the gateway's app made (the customer's and farmers' own calls left out). */
const gatewayCalls = (w: World): number => w.conductor.calls.filter((c) => c.app === 'gateway').length;

test('a batch of one customer\'s charges is one RAVE over all their invoices; each farmer gets the sum of its receipts\' own shares; payouts check as before', async (t) => {
  const w = await world(t);
  const other = w.conductor.install('farmer2');
  w.tx.mint(w.alice.agent, SPORE, micros('20'));
  await park(w, '10');
  const ledger = await w.open({ unitIndex: '1' });
  // Amounts whose shares round: the agreement splits each invoice on its own, floor(a·80%) each.
  const amounts = ['0.333333', '0.333333', '0.333333', '1.000001', '0.5'];
  const events = amounts.map((a, i) => event(w, `dep${i}:0`, a, i === 3 ? { farmer: other.agent } : {}));
  const before = gatewayCalls(w);
  const result = await ledger.postBillingEvents(w.alice.agent, events);
  const batchCalls = gatewayCalls(w) - before;
  assert.equal(result.status, 'paid');
  assert.equal(w.tx.raveCount, 1, 'one RAVE for the whole batch');
  assert.equal(callsOf(w, 'execute_rave'), 1);
  assert.equal(callsOf(w, 'create_parked_link'), events.length, 'one invoice per receipt, each with its own key');
  const entryIds = (result as { entryIds: readonly string[] }).entryIds;
  assert.equal(new Set(entryIds).size, 1, 'every receipt names the batch\'s RAVE');
  const share = (a: string): bigint => (micros(a) * 8000n) / 10_000n;
  const mine = amounts.filter((_, i) => i !== 3).reduce((s, a) => s + share(a), 0n);
  assert.equal(mine, micros('1.199998'), 'the sum of the floors, not the floor of the sum (1.199999)');
  for (const [app, expected] of [[w.farmer, mine], [other, share('1.000001')]] as const) {
    for (const tx of (await w.as(app, 'get_incoming_raves', null)) as unknown[]) await w.as(app, 'create_collect_from_rave', tx);
    assert.equal(w.tx.balanceOf(app.agent, SPORE), expected);
  }
  const total = amounts.reduce((s, a) => s + micros(a), 0n);
  assert.equal(w.tx.balanceOf(w.gateway.agent, SPORE), total - mine - share('1.000001'), 'the gateway collected the fees, once');
  // A payout of the batch's receipts of one farmer checks against their bills: exactly the sum of their shares.
  const ids = events.filter((_, i) => i !== 3).map((e) => e.receiptIds[0] as string);
  await assert.rejects(ledger.payFarmer({ key: 'payout:b', farmer: w.farmer.agent, unit: 'SPORE', receiptIds: ids, amountMicros: mine + 1n }), LedgerRejectedError);
  assert.deepEqual(await ledger.payFarmer({ key: 'payout:b', farmer: w.farmer.agent, unit: 'SPORE', receiptIds: ids, amountMicros: mine }), { status: 'paid', entryId: entryIds[0] });
  // Posting the batch again (or one of it alone) answers from the journal.
  assert.deepEqual(await ledger.postBillingEvents(w.alice.agent, events), result);
  assert.deepEqual(await ledger.postBillingEvent(events[1] as BillingEvent), { status: 'paid', entryId: entryIds[1] });
  assert.equal(w.tx.raveCount, 1);

  // The same receipts one by one, for the calls a receipt costs either way.
  const w2 = await world(t);
  w2.tx.mint(w2.alice.agent, SPORE, micros('20'));
  // A RAVE consumes the funding links it is given (the remainder goes back to the customer): one link per charge.
  for (const _ of amounts) await park(w2, '2');
  const single = await w2.open({ unitIndex: '1' });
  const before2 = gatewayCalls(w2);
  for (const [i, a] of amounts.entries()) assert.equal((await single.postBillingEvent(event(w2, `dep${i}:0`, a))).status, 'paid');
  const singleCalls = gatewayCalls(w2) - before2;
  t.diagnostic(`zome calls for ${events.length} receipts: ${singleCalls} one by one (${(singleCalls / events.length).toFixed(1)} a receipt), ${batchCalls} as one batch (${(batchCalls / events.length).toFixed(1)} a receipt)`);
  // Per receipt its invoice; per batch two reads of the links, the RAVE, one incoming read and one collect (and the global definition, read once).
  assert.ok(batchCalls <= events.length + 6, `a batch costs one call per receipt and a few per batch, made ${batchCalls}`);
  assert.ok(singleCalls >= 4 * events.length, `one by one costs ~5 calls a receipt, made ${singleCalls}`);
});

test('a batch the funding cannot cover whole parks nothing and answers insufficient_funds (billing then posts it one by one)', async (t) => {
  const w = await world(t);
  w.tx.mint(w.alice.agent, SPORE, micros('10'));
  await park(w, '2.5');
  const ledger = await w.open({ unitIndex: '1' });
  const events = ['1', '1', '1'].map((a, i) => event(w, `dep${i}:0`, a));
  assert.deepEqual(await ledger.postBillingEvents(w.alice.agent, events), { status: 'insufficient_funds', availableMicros: micros('2.5') });
  assert.equal(callsOf(w, 'create_parked_link'), 0);
  assert.equal(w.tx.raveCount, 0);
  await assert.rejects(ledger.postBillingEvents(w.farmer.agent, events), (e: unknown) => e instanceof LedgerRejectedError && /not .*uhCAk/.test(e.message), 'every event must be of the customer named');
});

for (const crash of ['between parking and the RAVE', 'between the RAVE and the journal'] as const) {
  test(`a batch cut short ${crash}, then a restarted adapter: each invoice is found by its key and every receipt is charged once`, async (t) => {
    const w = await world(t);
    w.tx.mint(w.alice.agent, SPORE, micros('10'));
    await park(w, '5');
    const ledger = await w.open({ unitIndex: '1' });
    const events = ['1', '0.5', '0.25'].map((a, i) => event(w, `dep${i}:0`, a));
    w.conductor.hang.add('execute_rave');
    await assert.rejects(ledger.postBillingEvents(w.alice.agent, events), LedgerUnavailableError);
    w.conductor.hang.clear();
    assert.equal(callsOf(w, 'create_parked_link'), 3);
    if (crash === 'between the RAVE and the journal') {
      // The RAVE ran, but its answer never reached the journal: run it by hand through the gateway's cell.
      const links = (await w.as(w.gateway, 'get_parked_links_by_ea', rawHash(w.ea))) as unknown[];
      const gd = (await w.as(w.gateway, 'get_current_global_definition', null)) as { id: Uint8Array };
      await w.as(w.gateway, 'execute_rave', { ea_id: rawHash(w.ea), executor_inputs: null, links, global_definition: gd.id, lane_definitions: [], strategy: 'Network' });
    }
    await ledger.close();
    const restarted = await w.open({ unitIndex: '1' });
    const result = await restarted.postBillingEvents(w.alice.agent, events);
    assert.equal(result.status, 'paid');
    assert.equal(callsOf(w, 'create_parked_link'), 3, 'no invoice parked twice');
    assert.equal(w.tx.raveCount, 1, 'one RAVE charged the batch');
    assert.equal(w.tx.liveLinks(w.ea), 0);
    for (const e of events) assert.equal((await restarted.postBillingEvent(e)).status, 'paid');
    assert.equal(w.tx.raveCount, 1);
    // The farmer's share of the batch is there once: 80% of 1.75.
    for (const tx of (await w.as(w.farmer, 'get_incoming_raves', null)) as unknown[]) await w.as(w.farmer, 'create_collect_from_rave', tx);
    assert.equal(w.tx.balanceOf(w.farmer.agent, SPORE), micros('1.4'));
  });
}

test('a settle through BillingService bills a customer\'s receipts of a period with one RAVE and pays each farmer out its receipts\' shares', async (t) => {
  const w = await world(t);
  w.tx.mint(w.alice.agent, SPORE, micros('20'));
  await park(w, '10');
  const ledger = await w.open({ unitIndex: '1' });
  // Split as the agreement splits (80%), as billing at farmerSharePercent 80 issues them.
  const bodies = ['a', 'b', 'c', 'd', 'e', 'f'].map((d) => {
    const body = v2Body({ deployment: `dep_${d}`, customer: w.alice.agent, farmer: { agent: w.farmer.agent }, upSeconds: 3000 + d.charCodeAt(0), withHead: false });
    const c = computeCharge(micros(body.pricePerHour), body.upSeconds, 8000);
    return { ...body, amount: formatAmount(c.amountMicros), farmerShare: formatAmount(c.farmerShareMicros), fee: formatAmount(c.feeMicros) };
  });
  const receipts = ReceiptLog.open(join(w.dir, 'receipts.log')).receipts;
  t.after(() => receipts.close());
  await receipts.append([
    { t: 'close_begin', periodStartMs: T0 },
    ...bodies.map((b, index): MoneyRecord => ({ t: 'receipt', receipt: b, periodStartMs: T0, key: `hypha:${b.deployment}:${b.periodStart}`, hash: receiptHash(b), index })),
    { t: 'tree_head', periodStartMs: T0, head: headOver(bodies, T0, null) },
  ]);
  const billing = testBilling({ receipts, ledger, nowMs: T0 + 2 * HOUR, policy: { farmerShareBps: 8000 } });
  await billing.settle();
  assert.equal(billing.status().lastRun?.error, null);
  assert.equal(w.tx.raveCount, 1, 'one RAVE for the customer\'s six receipts');
  assert.equal(callsOf(w, 'create_parked_link'), bodies.length);
  assert.equal(receipts.inState('issued').length, 0);
  assert.equal(receipts.arrearsOf(w.alice.agent), 0n, 'one funding link covers them all (one by one, the first RAVE would consume it)');
  assert.equal(receipts.unpaidOut().length, 0, 'every farmer share was paid out: payFarmer found the batch\'s bills');
  for (const tx of (await w.as(w.farmer, 'get_incoming_raves', null)) as unknown[]) await w.as(w.farmer, 'create_collect_from_rave', tx);
  const shares = bodies.reduce((s, b) => s + micros(b.farmerShare), 0n);
  assert.equal(w.tx.balanceOf(w.farmer.agent, SPORE), shares);
});
