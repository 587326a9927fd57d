// principalResolver over a real store (the embedded files and PostgreSQL), wired as the gateway wires it: a connection's requests share one Principal object while nothing about the caller changed, and every change (unlink, relink, a farmer approved or revoked) is seen on the very next request.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import type { Context } from 'koa';
import { principalOf, principalResolver, type Principal } from '../../src/gateway/http/principal.js';
import { PublicError } from '../../src/gateway/http/public-error.js';
import { storePrincipals } from '../../src/gateway/wiring/store-principals.js';
import type { AgentApproval, LinkRecord } from '../../src/gateway/store/records.js';
import type { Store } from '../../src/gateway/store/store.js';
import { BACKENDS, type Backend } from '../helpers/store-backends.js';

const ALICE = 'uhCAkalice';
const BOB = 'uhCAkbob';
/** A configured admin by identity. */
const CAROL = 'uhCAkcarol';
const ADDRESS = '4ab:cd:0:1::7';
const SUBNET = '4ab:cd:0:1::/64';
/** A configured admin /64. */
const ADMIN_ADDRESS = '4ab:cd:0:2::9';
const ADMIN_SUBNET = '4ab:cd:0:2::/64';

/** A link as LinkService stores it (the signature is not checked past the link routes). */
const linkRecord = (subnet: string, agent: string, linkedAtMs = 0): LinkRecord => ({ subnet, agent, address: subnet === SUBNET ? ADDRESS : ADMIN_ADDRESS, linkedAtMs, nonce: 'n', statement: 's', signature: 'x' });

/** A farmer's standing as the admin routes store it. */
const approval = (agent: string, state: AgentApproval['state']): AgentApproval => ({ agent, state, source: 'admin', subnets: [], nodes: [] });

/** A real store on `backend`, and the principal resolver over it as the gateway wires it (storePrincipals, admins CAROL and ADMIN_SUBNET); both closed after the test. */
async function resolverOn(t: TestContext, backend: Backend): Promise<{ store: Store; identify: (ctx: Context) => void }> {
  const place = await backend.create();
  const { store, close } = await place.open();
  t.after(async () => {
    await close();
    place.remove();
  });
  return { store, identify: principalResolver(storePrincipals(store, new Set([CAROL, ADMIN_SUBNET]))) };
}

/** One request's context on `socket`: principalResolver reads only ctx.req.socket and writes ctx.state. */
function requestOn(socket: Socket): Context {
  return { req: { socket }, state: {} } as unknown as Context;
}

/** A connection from `remoteAddress` (only the peer address is read). */
function connectionFrom(remoteAddress: string): Socket {
  return { remoteAddress } as Socket;
}

function ask(identify: (ctx: Context) => void, socket: Socket): Principal {
  const ctx = requestOn(socket);
  identify(ctx);
  return principalOf(ctx);
}

for (const backend of BACKENDS) {
  test(`${backend.name}: one connection, nothing changed: its requests get the same Principal object`, { skip: backend.skip }, async (t) => {
    const { store, identify } = await resolverOn(t, backend);
    await store.links.put(SUBNET, linkRecord(SUBNET, ALICE));
    const socket = connectionFrom(ADDRESS);
    const first = ask(identify, socket);
    assert.deepEqual({ ...first, link: undefined }, { address: ADDRESS, subnet: SUBNET, link: undefined, agent: ALICE, roles: ['customer'] });
    assert.deepEqual(first.link, linkRecord(SUBNET, ALICE), 'the link as the store holds it');
    for (let i = 0; i < 3; i++) assert.equal(ask(identify, socket), first, 'reused while link and roles are unchanged');
    // Another connection from the same address has its own.
    const other = ask(identify, connectionFrom(ADDRESS));
    assert.notEqual(other, first);
    assert.deepEqual(other, first);
  });

  test(`${backend.name}: unlink, relink, and roles given or taken are seen on the next request of the same connection`, { skip: backend.skip }, async (t) => {
    const { store, identify } = await resolverOn(t, backend);
    await store.links.put(SUBNET, linkRecord(SUBNET, ALICE));
    const socket = connectionFrom(ADDRESS);
    const linked = ask(identify, socket);
    assert.equal(linked.agent, ALICE);

    await store.links.delete(SUBNET);
    const unlinked = ask(identify, socket);
    assert.equal(unlinked.agent, undefined, 'no stale identity after an unlink');
    assert.equal(unlinked.link, undefined);
    assert.deepEqual(unlinked.roles, [], 'no stale customer role after an unlink');

    await store.links.put(SUBNET, linkRecord(SUBNET, BOB));
    const relinked = ask(identify, socket);
    assert.equal(relinked.agent, BOB, 'a relink to another identity is seen at once');
    assert.deepEqual(relinked.roles, ['customer']);

    // Linked again to the same identity: a new record (its own time and signature), so a new principal carrying it.
    await store.links.put(SUBNET, linkRecord(SUBNET, BOB, 1234));
    const again = ask(identify, socket);
    assert.notEqual(again, relinked);
    assert.equal(again.link?.linkedAtMs, 1234);

    await store.agents.put(BOB, approval(BOB, 'approved'));
    assert.deepEqual(ask(identify, socket).roles, ['customer', 'farmer'], 'an approval is seen at once');
    await store.links.put(SUBNET, linkRecord(SUBNET, CAROL));
    await store.agents.put(CAROL, approval(CAROL, 'approved'));
    assert.deepEqual(ask(identify, socket).roles, ['customer', 'admin', 'farmer'], 'a relink to an admin named by identity is seen at once');
    await store.agents.put(CAROL, approval(CAROL, 'revoked'));
    assert.deepEqual(ask(identify, socket).roles, ['customer', 'admin'], 'a revocation is seen at once');
    await store.agents.put(BOB, approval(BOB, 'pending'));
    await store.links.put(SUBNET, linkRecord(SUBNET, BOB, 5678));
    assert.deepEqual(ask(identify, socket).roles, ['customer'], 'roles taken away are gone at once');

    const adminSocket = connectionFrom(ADMIN_ADDRESS);
    const adminBySubnet = ask(identify, adminSocket);
    assert.deepEqual({ agent: adminBySubnet.agent, roles: adminBySubnet.roles }, { agent: undefined, roles: ['admin'] }, 'an admin /64 is admin when unlinked, and nothing else');
    await store.links.put(ADMIN_SUBNET, linkRecord(ADMIN_SUBNET, ALICE));
    assert.deepEqual(ask(identify, adminSocket).roles, ['customer', 'admin']);
    await store.links.delete(ADMIN_SUBNET);
    assert.deepEqual(ask(identify, adminSocket).roles, ['admin'], 'and stays admin when unlinked again');
  });

  test(`${backend.name}: a peer outside 400::/7 is refused on every request of its connection`, { skip: backend.skip }, async (t) => {
    const { identify } = await resolverOn(t, backend);
    const socket = connectionFrom('::ffff:10.0.0.7');
    for (let i = 0; i < 2; i++) {
      assert.throws(
        () => ask(identify, socket),
        (err: unknown) => err instanceof PublicError && err.code === 'forbidden',
      );
    }
  });
}
