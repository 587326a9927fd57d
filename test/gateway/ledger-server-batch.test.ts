// `hypha ledger serve` over a real socket in a private namespace: EmbeddedLedgerClient posts a customer's billing events as one batch, answered paid or refused whole, with a 400 naming the bad event's field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { parseIpv6, subnet64Of } from '../../src/identity/index.js';
import { EmbeddedLedger } from '../../src/gateway/ledger/embedded-ledger.js';
import { EmbeddedLedgerClient } from '../../src/gateway/ledger/embedded-ledger-client.js';
import { LedgerRejectedError, type BillingEvent } from '../../src/gateway/ledger/ledger.js';
import { startLedgerServer } from '../../src/gateway/ledger/ledger-server.js';
import { UNIT } from '../../src/protocol/money.js';
import { scratchDir } from '../helpers/paths.js';
import { addLoopbackAddresses } from '../helpers/private-netns.js';
import { inPrivateNamespace } from '../helpers/namespaced-test-file.js';

const NAME = 'the ledger server takes a customer\'s billing events as one batch: all charged in one call, or refused whole; a bad event is a 400 naming it';

const event = (key: string, amountMicros: bigint, customer = 'alice'): BillingEvent => ({ key, customer, farmer: 'farmer-1', amountMicros, unit: UNIT, receiptIds: [`rcp_${key}`], invoice: { deployment: 'dep_1' } });

if (inPrivateNamespace({ name: NAME, moduleUrl: import.meta.url, tests: 1, timeoutMs: 120_000 })) {
  test(NAME, async (t) => {
    const [address] = (await addLoopbackAddresses(1)) as [string];
    const { dir, remove } = scratchDir();
    t.after(remove);
    // The client's requests leave from the same address on lo: its /64 is the one allowed.
    const served = await startLedgerServer({ dir, address, port: 8490, allow: [subnet64Of(parseIpv6(address))] }, pino({ level: 'silent' }));
    t.after(() => served.close());
    await served.ledger.fund('alice', 1000n, 'f1');
    const client = new EmbeddedLedgerClient(`http://[${address}]:8490`, 5000);
    const paid = await client.postBillingEvents('alice', [event('k1', 100n), event('k2', 200n), event('k3', 300n)]);
    assert.equal(paid.status, 'paid');
    assert.equal((paid as { entryIds: readonly string[] }).entryIds.length, 3);
    assert.equal((await client.balance('alice')).availableMicros, 400n);
    assert.deepEqual(EmbeddedLedger.readEntries(dir).filter((e) => e.type === 'charge').map((e) => e.key), ['k1', 'k2', 'k3']);
    // Again: the same entries, nothing charged.
    assert.deepEqual(await client.postBillingEvents('alice', [event('k1', 100n), event('k2', 200n), event('k3', 300n)]), paid);
    assert.deepEqual(await client.postBillingEvents('alice', [event('k4', 300n), event('k5', 200n)]), { status: 'insufficient_funds', availableMicros: 400n });
    assert.equal((await client.balance('alice')).availableMicros, 400n);
    await assert.rejects(client.postBillingEvents('alice', [event('k6', 1n), { ...event('k7', 1n), key: '' }]), (e: unknown) => e instanceof LedgerRejectedError && /HTTP 400/.test(e.message) && /events\[1\]\.key/.test(e.message));
    await assert.rejects(client.postBillingEvents('alice', [event('k8', 1n, 'bob')]), (e: unknown) => e instanceof LedgerRejectedError && /HTTP 409/.test(e.message) && /not alice/.test(e.message));
  });
}
