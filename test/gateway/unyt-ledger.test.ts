// UnytLedger against FakeAppWebsocket: payload shapes, balances, no partial payment, idempotency, outages, bad answers.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { encodeAgentPubKey } from '../../src/identity/agent-pub-key.js';
import { fromBase64, toBase64Url } from '../../src/identity/bytes.js';
import { formatAmount, parseAmount } from '../../src/protocol/money.js';
import { LedgerRejectedError, LedgerUnavailableError, type BillingEvent, type Payout } from '../../src/gateway/ledger/ledger.js';
import {
  UnytJournalError,
  UnytLedger,
  UnytLedgerConfigError,
  parseUnytLedgerConfig,
  type UnytAppClient,
  type UnytLedgerConfig,
  type UnytZomeCall,
} from '../../src/gateway/ledger/unyt-ledger.js';
import { scratchDir } from '../helpers/paths.js';

const agent = (n: number): string => encodeAgentPubKey(new Uint8Array(32).fill(n));
const actionHashBytes = (n: number): Uint8Array => Uint8Array.of(0x84, 0x29, 0x24, ...new Uint8Array(32).fill(n), 0, 0, 0, 0);
const actionHash = (n: number): string => `u${toBase64Url(actionHashBytes(n))}`;
const hashText = (bytes: Uint8Array): string => `u${toBase64Url(bytes)}`;

const ALICE = agent(1);
const BOB = agent(2);
const FARMER = agent(3);
const EA_ALICE = actionHash(101);
const EA_BOB = actionHash(102);
const GLOBAL_DEFINITION = actionHash(200);

/** The error @holochain/client throws for a conductor error answer: `name` is the wire error type. */
class HolochainStyleError extends Error {
  constructor(type: string, message: string) {
    super(message);
    this.name = type;
  }
}

/** A Transaction as get_parked_links_by_ea answers it (unytco/raindex-orders orchestrator.rs parked_spend_tx). */
interface FakeLink {
  id: string;
  tx_type: 'ParkedSpend';
  creator: string;
  amount: Record<string, string>;
  timestamp: number;
  details: { ParkedSpend: { spender: string; ct_role_id: string; attached_payload: unknown; lane_definitions: unknown[] } };
}

/**
 * A fake app websocket that answers like the Unyt transactor zome would: parked links per
 * agreement, invoices paid by a RAVE only when the funding given to it covers them, the
 * customer's remainder re-parked, consumed links gone. It records every call.
 */
class FakeAppWebsocket implements UnytAppClient {
  readonly calls: UnytZomeCall[] = [];
  readonly links = new Map<string, FakeLink[]>();
  /** Functions that never answer. */
  readonly hang = new Set<string>();
  /** Functions that answer this (malformed) value instead. */
  readonly override = new Map<string, unknown>();
  /** Errors thrown by the next call of a function. */
  readonly failNext = new Map<string, Error>();
  /** execute_rave does its work, then never answers (the gateway times out not knowing). */
  raveThenHang = false;
  /** Before the next RAVE runs, the customer's funding is spent elsewhere. */
  drainFundingBeforeRave = false;
  closed = 0;
  #seq = 1000;

  fund(agreement: string, customer: string, amount: string, unitKey = 'SPORE'): FakeLink {
    return this.park(agreement, customer, 'customer_spender', { [unitKey]: amount }, { note: 'funding' });
  }

  park(agreement: string, creator: string, role: string, amount: Record<string, string>, payload: unknown): FakeLink {
    const link: FakeLink = {
      id: actionHash(this.#next()),
      tx_type: 'ParkedSpend',
      creator,
      amount,
      timestamp: 1_700_000_000_000_000 + this.#seq,
      details: { ParkedSpend: { spender: creator, ct_role_id: role, attached_payload: payload, lane_definitions: [] } },
    };
    this.links.set(agreement, [...(this.links.get(agreement) ?? []), link]);
    return link;
  }

  callsOf(fn: string): UnytZomeCall[] {
    return this.calls.filter((c) => c.fn_name === fn);
  }

  async callZome(request: UnytZomeCall): Promise<unknown> {
    this.calls.push(request);
    const fn = request.fn_name;
    const failure = this.failNext.get(fn);
    if (failure !== undefined) {
      this.failNext.delete(fn);
      throw failure;
    }
    if (this.hang.has(fn)) return new Promise(() => undefined);
    if (this.override.has(fn)) return this.override.get(fn);
    await Promise.resolve();
    const p = request.payload as Record<string, unknown>;
    switch (fn) {
      case 'get_parked_links_by_ea':
        return structuredClone(this.links.get(hashText(request.payload as Uint8Array)) ?? []);
      case 'get_current_global_definition':
        return { id: GLOBAL_DEFINITION, global_lane_definition: null };
      case 'create_parked_spend': {
        const agreement = hashText(p.ea_id as Uint8Array);
        return this.park(agreement, agent(9), p.ct_role_id as string, p.amount as Record<string, string>, p.spender_payload).id;
      }
      case 'execute_rave':
        return this.#rave(hashText(p.ea_id as Uint8Array), p.links as FakeLink[]);
      case 'create_spend':
        return { id: actionHash(this.#next()), creator: agent(9), amount: p.amount, details: { Spend: { note: p.note } } };
      default:
        throw new HolochainStyleError('ribosome_error', `no zome function ${fn}`);
    }
  }

  async close(): Promise<void> {
    this.closed++;
    await Promise.resolve();
  }

  #rave(agreement: string, given: FakeLink[]): unknown {
    let parked = this.links.get(agreement) ?? [];
    if (this.drainFundingBeforeRave) {
      this.drainFundingBeforeRave = false;
      parked = parked.filter((l) => l.details.ParkedSpend.ct_role_id !== 'customer_spender');
      this.links.set(agreement, parked);
    }
    const live = given.filter((g) => parked.some((l) => l.id === g.id));
    const sum = (role: string): bigint =>
      live
        .filter((l) => l.details.ParkedSpend.ct_role_id === role)
        .reduce((acc, l) => acc + Object.values(l.amount).reduce((a, v) => a + parseAmount('amount', v), 0n), 0n);
    const owed = sum('hypha_invoicer');
    const funded = sum('customer_spender');
    if (owed === 0n || funded < owed) {
      throw new HolochainStyleError(
        'ribosome_error',
        `Wasm runtime error while working with Ribosome: For execution to succeed, a payment of ${formatAmount(owed)} must be sent to this agreement`,
      );
    }
    const funder = live.find((l) => l.details.ParkedSpend.ct_role_id === 'customer_spender') as FakeLink;
    const unitKey = Object.keys(funder.amount)[0] as string;
    this.links.set(agreement, parked.filter((l) => !live.some((g) => g.id === l.id)));
    if (funded > owed) this.park(agreement, funder.creator, 'customer_spender', { [unitKey]: formatAmount(funded - owed) }, { note: 'carried forward' });
    const answer = [{ output: { unyt_allocation: [] } }, actionHashBytes(this.#next() % 256)];
    return this.raveThenHang ? new Promise(() => undefined) : answer;
  }

  #next(): number {
    this.#seq++;
    return this.#seq % 256;
  }
}

interface Setup {
  ledger: UnytLedger;
  fake: FakeAppWebsocket;
  journalPath: string;
  connects: { count: number };
  config: UnytLedgerConfig;
  reopen: () => UnytLedger;
}

function setup(t: TestContext, overrides: Partial<UnytLedgerConfig> = {}): Setup {
  const { dir, remove } = scratchDir('hypha-unyt-');
  const fake = new FakeAppWebsocket();
  const connects = { count: 0 };
  const config: UnytLedgerConfig = {
    kind: 'unyt',
    appUrl: 'ws://127.0.0.1:30000',
    installedAppId: 'unyt',
    adminUrl: 'ws://127.0.0.1:30001',
    agreements: { [ALICE]: EA_ALICE, [BOB]: EA_BOB },
    journalPath: join(dir, 'unyt.journal'),
    callTimeoutMs: 150,
    ...overrides,
  };
  const opened: UnytLedger[] = [];
  const reopen = (): UnytLedger => {
    const ledger = new UnytLedger(config, {
      connect: () => {
        connects.count++;
        return Promise.resolve(fake);
      },
    });
    opened.push(ledger);
    return ledger;
  };
  t.after(async () => {
    await Promise.all(opened.map((l) => l.close()));
    remove();
  });
  return { ledger: reopen(), fake, journalPath: config.journalPath, connects, config, reopen };
}

function billing(overrides: Partial<BillingEvent> = {}): BillingEvent {
  return {
    key: 'dep-1:1700000000000',
    customer: ALICE,
    farmer: FARMER,
    amountMicros: 1_500_000n,
    unit: 'SPORE',
    receiptIds: ['r-1', 'r-2'],
    invoice: { deployment: 'dep-1', periodStartMs: 1_700_000_000_000, upSeconds: 3600, chargeMicros: 1_500_000n },
    ...overrides,
  };
}

const isUnavailable = (pattern: RegExp) => (e: unknown) => e instanceof LedgerUnavailableError && pattern.test(e.message);
const isRejected = (pattern: RegExp) => (e: unknown) => e instanceof LedgerRejectedError && pattern.test(e.message);

test('balance sums the customer funding links in the unit, on role alliance / zome transactor', async (t) => {
  const { ledger, fake } = setup(t);
  fake.fund(EA_ALICE, ALICE, '2.5');
  fake.fund(EA_ALICE, ALICE, '0.2500009');
  fake.fund(EA_ALICE, BOB, '7.000000');
  fake.fund(EA_ALICE, ALICE, '4.000000', 'HOT');
  fake.park(EA_ALICE, agent(9), 'hypha_invoicer', { SPORE: '1.000000' }, { idempotency_key: 'other' });

  const balance = await ledger.balance(ALICE);

  assert.deepEqual(balance, { unit: 'SPORE', availableMicros: 2_750_000n });
  const [call] = fake.calls;
  assert.equal(call?.role_name, 'alliance');
  assert.equal(call?.zome_name, 'transactor');
  assert.equal(call?.fn_name, 'get_parked_links_by_ea');
  assert.deepEqual(call?.payload, actionHashBytes(101));
});

test('a covered billing event parks one invoice and executes the agreement over it and the funding', async (t) => {
  const { ledger, fake } = setup(t);
  const funding = fake.fund(EA_ALICE, ALICE, '5.000000');

  const result = await ledger.postBillingEvent(billing());

  const [park] = fake.callsOf('create_parked_spend');
  assert.ok(park);
  assert.deepEqual([park.role_name, park.zome_name], ['alliance', 'transactor']);
  const parked = park.payload as Record<string, unknown>;
  assert.deepEqual(parked.ea_id, actionHashBytes(101));
  assert.equal(parked.executor, null);
  assert.equal(parked.ct_role_id, 'hypha_invoicer');
  assert.deepEqual(parked.amount, { SPORE: '1.500000' });
  assert.deepEqual(parked.lane_definitions, []);
  assert.deepEqual(parked.spender_payload, {
    idempotency_key: 'dep-1:1700000000000',
    invoice_payloads: [
      {
        customer: ALICE,
        farmer: FARMER,
        amount: { SPORE: '1.500000' },
        receipt_ids: ['r-1', 'r-2'],
        invoice: { deployment: 'dep-1', periodStartMs: 1_700_000_000_000, upSeconds: 3600, chargeMicros: '1500000' },
      },
    ],
  });

  const [rave] = fake.callsOf('execute_rave');
  assert.ok(rave);
  const inputs = rave.payload as Record<string, unknown>;
  assert.deepEqual(inputs.ea_id, actionHashBytes(101));
  assert.deepEqual(inputs.executor_inputs, { idempotency_key: 'dep-1:1700000000000' });
  assert.deepEqual(inputs.global_definition, fromBase64('gd', GLOBAL_DEFINITION.slice(1)));
  assert.equal(inputs.strategy, 'Network');
  const links = inputs.links as FakeLink[];
  assert.equal(links.length, 2);
  assert.equal(links[0]?.details.ParkedSpend.ct_role_id, 'hypha_invoicer');
  assert.equal(links[1]?.id, funding.id);

  assert.equal(result.status, 'paid');
  assert.match(result.status === 'paid' ? result.entryId : '', /^uhCkk[A-Za-z0-9_-]{48}$/);
  assert.deepEqual(await ledger.balance(ALICE), { unit: 'SPORE', availableMicros: 3_500_000n });
});

test('unitKeys map the unit to its index in the global definition', async (t) => {
  const { ledger, fake } = setup(t, { unitKeys: { SPORE: '1' } });
  fake.fund(EA_ALICE, ALICE, '3.000000', '1');

  assert.deepEqual(await ledger.balance(ALICE), { unit: 'SPORE', availableMicros: 3_000_000n });
  const result = await ledger.postBillingEvent(billing());

  assert.equal(result.status, 'paid');
  assert.deepEqual((fake.callsOf('create_parked_spend')[0]?.payload as Record<string, unknown>).amount, { '1': '1.500000' });
});

test('funding that does not cover the invoice parks nothing and pays nothing', async (t) => {
  const { ledger, fake } = setup(t);
  fake.fund(EA_ALICE, ALICE, '1.000000');

  const result = await ledger.postBillingEvent(billing());

  assert.deepEqual(result, { status: 'insufficient_funds', availableMicros: 1_000_000n });
  assert.equal(fake.callsOf('create_parked_spend').length, 0);
  assert.equal(fake.callsOf('execute_rave').length, 0);
  assert.deepEqual(await ledger.balance(ALICE), { unit: 'SPORE', availableMicros: 1_000_000n });
});

test('a RAVE the conductor refuses because the funding went away maps to insufficient_funds, and a later retry reuses the invoice', async (t) => {
  const { ledger, fake } = setup(t);
  fake.fund(EA_ALICE, ALICE, '2.000000');
  fake.drainFundingBeforeRave = true;

  const first = await ledger.postBillingEvent(billing());

  assert.deepEqual(first, { status: 'insufficient_funds', availableMicros: 0n });
  assert.equal(fake.callsOf('execute_rave').length, 1);
  assert.equal(fake.links.get(EA_ALICE)?.filter((l) => l.details.ParkedSpend.ct_role_id === 'hypha_invoicer').length, 1);

  fake.fund(EA_ALICE, ALICE, '2.000000');
  const second = await ledger.postBillingEvent(billing());

  assert.equal(second.status, 'paid');
  assert.equal(fake.callsOf('create_parked_spend').length, 1);
  assert.deepEqual(await ledger.balance(ALICE), { unit: 'SPORE', availableMicros: 500_000n });
});

test('a conductor error while the funding covers the invoice is an outage, never insufficient_funds', async (t) => {
  const { ledger, fake } = setup(t);
  fake.fund(EA_ALICE, ALICE, '5.000000');
  fake.failNext.set('execute_rave', new HolochainStyleError('ribosome_error', 'Wasm runtime error: out of fuel'));

  await assert.rejects(ledger.postBillingEvent(billing()), isUnavailable(/^ledger\.postBillingEvent: execute_rave on alliance\/transactor failed: ribosome_error/));
});

test('the same key twice charges once and answers the same, also after a restart', async (t) => {
  const { ledger, fake, reopen } = setup(t);
  fake.fund(EA_ALICE, ALICE, '5.000000');

  const first = await ledger.postBillingEvent(billing());
  const second = await ledger.postBillingEvent(billing());
  const callsBefore = fake.calls.length;
  const afterRestart = await reopen().postBillingEvent(billing());

  assert.equal(first.status, 'paid');
  assert.deepEqual(second, first);
  assert.deepEqual(afterRestart, first);
  assert.equal(fake.callsOf('create_parked_spend').length, 1);
  assert.equal(fake.callsOf('execute_rave').length, 1);
  assert.equal(fake.calls.length, callsBefore);
  assert.deepEqual(await ledger.balance(ALICE), { unit: 'SPORE', availableMicros: 3_500_000n });
});

test('concurrent posts of one key park one invoice', async (t) => {
  const { ledger, fake } = setup(t);
  fake.fund(EA_ALICE, ALICE, '5.000000');

  const [a, b] = await Promise.all([ledger.postBillingEvent(billing()), ledger.postBillingEvent(billing())]);

  assert.deepEqual(a, b);
  assert.equal(fake.callsOf('create_parked_spend').length, 1);
});

test('an invoice parked under the key before a crash that lost the journal is reused, not parked again', async (t) => {
  const { ledger, fake } = setup(t);
  fake.fund(EA_ALICE, ALICE, '5.000000');
  const earlier = fake.park(EA_ALICE, agent(9), 'hypha_invoicer', { SPORE: '1.500000' }, { idempotency_key: 'dep-1:1700000000000' });

  const result = await ledger.postBillingEvent(billing());

  assert.equal(result.status, 'paid');
  assert.equal(fake.callsOf('create_parked_spend').length, 0);
  assert.equal((fake.callsOf('execute_rave')[0]?.payload as { links: FakeLink[] }).links[0]?.id, earlier.id);
});

test('a RAVE whose answer was lost is an outage even though the funding looks spent, and the next attempt finds it paid', async (t) => {
  const { ledger, fake } = setup(t);
  fake.fund(EA_ALICE, ALICE, '1.500000');
  fake.raveThenHang = true;

  await assert.rejects(ledger.postBillingEvent(billing()), isUnavailable(/execute_rave on alliance\/transactor timed out after 150 ms/));
  fake.raveThenHang = false;
  const retry = await ledger.postBillingEvent(billing());

  assert.equal(fake.callsOf('create_parked_spend').length, 1);
  assert.equal(fake.callsOf('execute_rave').length, 1);
  assert.equal(retry.status, 'paid');
  assert.deepEqual(await ledger.balance(ALICE), { unit: 'SPORE', availableMicros: 0n });
});

test('a key reused for a different amount is refused', async (t) => {
  const { ledger, fake } = setup(t);
  fake.fund(EA_ALICE, ALICE, '5.000000');
  await ledger.postBillingEvent(billing());

  await assert.rejects(ledger.postBillingEvent(billing({ amountMicros: 2_000_000n })), isRejected(/an idempotency key names one charge/));
  assert.equal(fake.callsOf('create_parked_spend').length, 1);
});

test('a refused connection is an outage, and the next call connects again', async (t) => {
  const { dir, remove } = scratchDir('hypha-unyt-');
  t.after(remove);
  const fake = new FakeAppWebsocket();
  fake.fund(EA_ALICE, ALICE, '5.000000');
  let attempts = 0;
  const ledger = new UnytLedger(
    { kind: 'unyt', appUrl: 'ws://127.0.0.1:30000', installedAppId: 'unyt', adminUrl: 'ws://127.0.0.1:30001', agreements: { [ALICE]: EA_ALICE }, journalPath: join(dir, 'j') },
    {
      connect: () => {
        attempts++;
        if (attempts === 1) return Promise.reject(new HolochainStyleError('ConnectionError', 'could not connect to Holochain Conductor API at ws://127.0.0.1:30000/ - ECONNREFUSED'));
        return Promise.resolve(fake);
      },
    },
  );
  t.after(() => ledger.close());

  await assert.rejects(ledger.postBillingEvent(billing()), isUnavailable(/cannot reach the Unyt conductor \(app ws:\/\/127\.0\.0\.1:30000, admin ws:\/\/127\.0\.0\.1:30001\): ConnectionError/));
  assert.equal(fake.calls.length, 0);
  assert.deepEqual(await ledger.balance(ALICE), { unit: 'SPORE', availableMicros: 5_000_000n });
  assert.equal(attempts, 2);
});

test('the default factory loads @holochain/client and reports a closed admin port as an outage', async (t) => {
  const { dir, remove } = scratchDir('hypha-unyt-');
  t.after(remove);
  const port = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = server.address() as AddressInfo;
      server.close(() => resolve(free));
    });
  });
  const ledger = new UnytLedger({
    kind: 'unyt',
    appUrl: `ws://127.0.0.1:${port}`,
    installedAppId: 'unyt',
    adminUrl: `ws://127.0.0.1:${port}`,
    agreements: { [ALICE]: EA_ALICE },
    journalPath: join(dir, 'j'),
    callTimeoutMs: 5000,
  });
  t.after(() => ledger.close());

  await assert.rejects(ledger.balance(ALICE), isUnavailable(/^ledger\.balance: cannot reach the Unyt conductor .*ConnectionError: could not connect/));
});

test('a call that never answers times out as an outage and drops the connection', async (t) => {
  const { ledger, fake, connects } = setup(t);
  fake.fund(EA_ALICE, ALICE, '5.000000');
  fake.hang.add('get_parked_links_by_ea');

  const started = Date.now();
  await assert.rejects(ledger.balance(ALICE), isUnavailable(/^ledger\.balance: get_parked_links_by_ea on alliance\/transactor timed out after 150 ms$/));
  assert.ok(Date.now() - started < 2000);
  await assert.rejects(ledger.postBillingEvent(billing()), (e: unknown) => e instanceof LedgerUnavailableError);
  assert.equal(fake.callsOf('create_parked_spend').length, 0);

  fake.hang.clear();
  assert.deepEqual(await ledger.balance(ALICE), { unit: 'SPORE', availableMicros: 5_000_000n });
  assert.equal(connects.count, 3);
  assert.ok(fake.closed >= 2);
});

test('a dropped socket is an outage and the next call reconnects; a conductor error keeps the connection', async (t) => {
  const { ledger, fake, connects } = setup(t);
  fake.fund(EA_ALICE, ALICE, '5.000000');

  fake.failNext.set('get_parked_links_by_ea', new HolochainStyleError('internal_error', 'source chain head moved'));
  await assert.rejects(ledger.balance(ALICE), isUnavailable(/internal_error: source chain head moved/));
  fake.failNext.set('get_parked_links_by_ea', new HolochainStyleError('ClientClosedWithPendingRequests', 'client closed with pending requests'));
  await assert.rejects(ledger.balance(ALICE), isUnavailable(/ClientClosedWithPendingRequests/));
  assert.equal(connects.count, 1);
  assert.equal(fake.closed, 1);

  assert.deepEqual(await ledger.balance(ALICE), { unit: 'SPORE', availableMicros: 5_000_000n });
  assert.equal(connects.count, 2);
});

test('malformed answers are outages that say what was wrong', async (t) => {
  const cases: Array<[string, (fake: FakeAppWebsocket) => void, RegExp]> = [
    ['links not a list', (f) => f.override.set('get_parked_links_by_ea', { links: [] }), /get_parked_links_by_ea answered an object, expected a list of transactions/],
    ['link without id', (f) => f.override.set('get_parked_links_by_ea', [{ amount: { SPORE: '1' } }]), /item 0 has no readable id/],
    ['amount as a number', (f) => f.fund(EA_ALICE, ALICE, 5 as unknown as string), /amount\["SPORE"\] is the number 5, expected a decimal string/],
    ['negative amount', (f) => f.fund(EA_ALICE, ALICE, '-5'), /is "-5", expected a decimal string/],
  ];
  for (const [name, arrange, pattern] of cases) {
    await t.test(name, async (t2) => {
      const { ledger, fake } = setup(t2);
      arrange(fake);
      await assert.rejects(ledger.balance(ALICE), isUnavailable(pattern));
    });
  }
  await t.test('RAVE answer without its ActionHash', async (t2) => {
    const { ledger, fake } = setup(t2);
    fake.fund(EA_ALICE, ALICE, '5.000000');
    fake.override.set('execute_rave', 'ok');
    await assert.rejects(ledger.postBillingEvent(billing()), isUnavailable(/execute_rave answered "ok", expected \[RAVE, ActionHash\]/));
  });
  await t.test('global definition without an id', async (t2) => {
    const { ledger, fake } = setup(t2);
    fake.fund(EA_ALICE, ALICE, '5.000000');
    fake.override.set('get_current_global_definition', null);
    await assert.rejects(ledger.postBillingEvent(billing()), isUnavailable(/get_current_global_definition answered null/));
  });
});

test('payFarmer sends one create_spend with the amount keyed by unit and the key in the note', async (t) => {
  const { ledger, fake } = setup(t);
  const payout: Payout = { key: 'payout-7', farmer: FARMER, amountMicros: 900_000n, unit: 'SPORE', receiptIds: ['r-1', 'r-2'] };

  const first = await ledger.payFarmer(payout);
  const again = await ledger.payFarmer(payout);

  const spends = fake.callsOf('create_spend');
  assert.equal(spends.length, 1);
  const [spend] = spends;
  assert.deepEqual([spend?.role_name, spend?.zome_name], ['alliance', 'transactor']);
  const p = spend?.payload as Record<string, unknown>;
  assert.equal(p.receiver, FARMER);
  assert.deepEqual(p.amount, { SPORE: '0.900000' });
  assert.deepEqual(JSON.parse(p.note as string), { hypha_payout: 'payout-7', receipt_ids: ['r-1', 'r-2'] });
  assert.equal(first.status, 'paid');
  assert.match(first.entryId, /^uhCkk/);
  assert.deepEqual(again, first);
});

test('a payout whose outcome is unknown is never sent twice; one the conductor refused is sent again', async (t) => {
  const { ledger, fake } = setup(t);
  const unknown: Payout = { key: 'payout-1', farmer: FARMER, amountMicros: 1n, unit: 'SPORE', receiptIds: ['r'] };
  fake.hang.add('create_spend');
  await assert.rejects(ledger.payFarmer(unknown), isUnavailable(/create_spend on alliance\/transactor timed out/));
  fake.hang.clear();
  await assert.rejects(ledger.payFarmer(unknown), isRejected(/outcome is unknown/));
  assert.equal(fake.callsOf('create_spend').length, 1);

  const refused: Payout = { ...unknown, key: 'payout-2' };
  fake.failNext.set('create_spend', new HolochainStyleError('zome_call_unauthorized', 'no cap grant for create_spend'));
  await assert.rejects(ledger.payFarmer(refused), isUnavailable(/zome_call_unauthorized/));
  const paid = await ledger.payFarmer(refused);
  assert.equal(paid.status, 'paid');
  assert.equal(fake.callsOf('create_spend').length, 3);
});

test('bad requests are refused, not treated as outages', async (t) => {
  const { ledger, fake } = setup(t);
  await assert.rejects(ledger.balance(agent(4)), isRejected(/has no Unyt agreement; add it to ledger\.agreements/));
  await assert.rejects(ledger.balance('uhCAkbroken'), isRejected(/^ledger\.balance: customer: /));
  await assert.rejects(ledger.postBillingEvent(billing({ farmer: 'not-a-key' })), isRejected(/event\.farmer/));
  await assert.rejects(ledger.postBillingEvent(billing({ unit: 'HOT' })), isRejected(/unit "HOT" is not the configured unit/));
  await assert.rejects(ledger.postBillingEvent(billing({ amountMicros: 0n })), isRejected(/positive/));
  await assert.rejects(ledger.payFarmer({ key: 'k', farmer: ALICE.slice(0, -2), amountMicros: 1n, unit: 'SPORE', receiptIds: [] }), isRejected(/payout\.farmer/));
  assert.equal(fake.calls.length, 0);
});

test('the adapter is kind "unyt" and cannot be funded', (t) => {
  const { ledger } = setup(t);
  assert.equal(ledger.kind, 'unyt');
  assert.equal('fund' in ledger, false);
});

test('the journal survives a torn last line and refuses a corrupt one', async (t) => {
  const { ledger, fake, journalPath, reopen } = setup(t);
  fake.fund(EA_ALICE, ALICE, '5.000000');
  const paid = await ledger.postBillingEvent(billing());
  writeFileSync(journalPath, `${readFileSync(journalPath, 'utf8')}{"kind":"bill","key":"to`, { flag: 'w' });

  assert.deepEqual(await reopen().postBillingEvent(billing()), paid);
  assert.equal(readFileSync(journalPath, 'utf8').endsWith('\n'), true);

  writeFileSync(journalPath, `garbage\n${readFileSync(journalPath, 'utf8')}`);
  await assert.rejects(reopen().postBillingEvent(billing()), (e: unknown) => e instanceof UnytJournalError && /line 1 is not a journal record/.test(e.message));
});

test('config: defaults filled in, and every bad field named', () => {
  const base = { kind: 'unyt', appUrl: 'ws://127.0.0.1:30000', installedAppId: 'unyt', adminUrl: 'ws://127.0.0.1:30001', journalPath: 'data/unyt.journal' };
  assert.deepEqual(parseUnytLedgerConfig(base), {
    ...base,
    origin: 'hypha',
    roleName: 'alliance',
    zomeName: 'transactor',
    agreements: {},
    customerRole: 'customer_spender',
    invoicerRole: 'hypha_invoicer',
    unit: 'SPORE',
    unitKeys: {},
    callTimeoutMs: 30_000,
  });
  const bad: Array<[Record<string, unknown>, string]> = [
    [{ ...base, kind: 'embedded' }, 'ledger.kind'],
    [{ ...base, appUrl: 'http://127.0.0.1:30000' }, 'ledger.appUrl'],
    [{ ...base, adminUrl: undefined }, 'ledger.adminUrl'],
    [{ ...base, agreements: { [ALICE]: actionHash(1).replace('uhCkk', 'uhCAk') } }, `ledger.agreements.${ALICE}`],
    [{ ...base, agreements: { nobody: EA_ALICE } }, 'ledger.agreements key "nobody"'],
    [{ ...base, callTimeoutMs: 1.5 }, 'ledger.callTimeoutMs'],
    [{ ...base, journalPath: '' }, 'ledger.journalPath'],
  ];
  for (const [config, field] of bad) {
    assert.throws(() => parseUnytLedgerConfig(config), (e: unknown) => e instanceof UnytLedgerConfigError && e.field === field, field);
  }
  const withFiles = { ...base, adminUrl: undefined, appTokenFile: 'token.json', signingCredentialsFile: 'signing.json' };
  assert.equal(parseUnytLedgerConfig(withFiles).appTokenFile, 'token.json');
});
