// principalResolver's per-connection memory: a connection's requests share one Principal object while nothing about the caller changed, and every change (unlink, relink, a role given or taken) is seen on the very next request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import type { Context } from 'koa';
import { principalOf, principalResolver, type Principal, type PrincipalSource } from '../../src/gateway/http/principal.js';
import { PublicError } from '../../src/gateway/http/public-error.js';
import type { LinkRecord } from '../../src/gateway/store/records.js';

const ALICE = 'uhCAkalice';
const BOB = 'uhCAkbob';
const ADDRESS = '4ab:cd:0:1::7';
const SUBNET = '4ab:cd:0:1::/64';

/**
 * FakeLinkSource: the principal source the gateway wires in src/gateway/wiring/http-part.ts
 * (store.links.get, the admins set, store.agents' approval state). Like the stores' `put`
 * (lowdb-store.ts stores a JSON copy; pg-store.ts a new row object), a link written again is a new record object.
 */
class FakeLinkSource implements PrincipalSource {
  private readonly links = new Map<string, LinkRecord>();
  readonly admins = new Set<string>();
  readonly farmers = new Set<string>();

  link(subnet: string, agent: string, linkedAtMs = 0): void {
    this.links.set(subnet, JSON.parse(JSON.stringify({ subnet, agent, address: ADDRESS, linkedAtMs, nonce: 'n', statement: 's', signature: 'x' })) as LinkRecord);
  }
  unlink(subnet: string): void {
    this.links.delete(subnet);
  }
  linkOf(subnet: string): LinkRecord | undefined {
    return this.links.get(subnet);
  }
  isAdmin(agent: string | undefined, subnet: string): boolean {
    return this.admins.has(subnet) || (agent !== undefined && this.admins.has(agent));
  }
  isFarmer(agent: string): boolean {
    return this.farmers.has(agent);
  }
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

test('one connection, nothing changed: its requests get the same Principal object', () => {
  const source = new FakeLinkSource();
  source.link(SUBNET, ALICE);
  const identify = principalResolver(source);
  const socket = connectionFrom(ADDRESS);
  const first = ask(identify, socket);
  assert.deepEqual({ ...first, link: undefined }, { address: ADDRESS, subnet: SUBNET, link: undefined, agent: ALICE, roles: ['customer'] });
  for (let i = 0; i < 3; i++) assert.equal(ask(identify, socket), first, 'reused while link and roles are unchanged');
  // Another connection from the same address has its own.
  const other = ask(identify, connectionFrom(ADDRESS));
  assert.notEqual(other, first);
  assert.deepEqual(other, first);
});

test('unlink, relink, and roles given or taken are seen on the next request of the same connection', () => {
  const source = new FakeLinkSource();
  source.link(SUBNET, ALICE);
  const identify = principalResolver(source);
  const socket = connectionFrom(ADDRESS);
  const linked = ask(identify, socket);
  assert.equal(linked.agent, ALICE);

  source.unlink(SUBNET);
  const unlinked = ask(identify, socket);
  assert.equal(unlinked.agent, undefined, 'no stale identity after an unlink');
  assert.equal(unlinked.link, undefined);
  assert.deepEqual(unlinked.roles, [], 'no stale customer role after an unlink');

  source.link(SUBNET, BOB);
  const relinked = ask(identify, socket);
  assert.equal(relinked.agent, BOB, 'a relink to another identity is seen at once');
  assert.deepEqual(relinked.roles, ['customer']);

  // Linked again to the same identity: a new record (its own time and signature), so a new principal carrying it.
  source.link(SUBNET, BOB, 1234);
  const again = ask(identify, socket);
  assert.notEqual(again, relinked);
  assert.equal(again.link?.linkedAtMs, 1234);

  source.farmers.add(BOB);
  assert.deepEqual(ask(identify, socket).roles, ['customer', 'farmer'], 'an approval is seen at once');
  source.admins.add(BOB);
  assert.deepEqual(ask(identify, socket).roles, ['customer', 'admin', 'farmer'], 'an admin named by identity is seen at once');
  source.admins.delete(BOB);
  source.farmers.delete(BOB);
  assert.deepEqual(ask(identify, socket).roles, ['customer'], 'roles taken away are gone at once');
  source.admins.add(SUBNET);
  source.unlink(SUBNET);
  const adminBySubnet = ask(identify, socket);
  assert.deepEqual({ agent: adminBySubnet.agent, roles: adminBySubnet.roles }, { agent: undefined, roles: ['admin'] }, 'an admin /64 stays admin when unlinked, and nothing else');
  source.admins.delete(SUBNET);
  assert.deepEqual(ask(identify, socket).roles, []);
});

test('a peer outside 400::/7 is refused on every request of its connection', () => {
  const source = new FakeLinkSource();
  const identify = principalResolver(source);
  const socket = connectionFrom('::ffff:10.0.0.7');
  for (let i = 0; i < 2; i++) {
    assert.throws(
      () => ask(identify, socket),
      (err: unknown) => err instanceof PublicError && err.code === 'forbidden',
    );
  }
});
