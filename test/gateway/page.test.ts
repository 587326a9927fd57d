// Pagination (`?limit=&after=`, a `next` cursor) and what a customer is told about failed deploys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Context } from 'koa';
import { DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, pageRequest, paginate } from '../../src/gateway/http/page.js';
import { PublicError } from '../../src/gateway/http/public-error.js';
import { ATTEMPT_FAILED, customerFailure } from '../../src/gateway/http/customer-routes.js';

/** A fake of Koa's context with only what pageRequest reads (its parsed query string), named as one. */
function fakeContext(query: Record<string, string | string[]>): Context {
  return { query } as unknown as Context;
}

const ITEMS = Array.from({ length: 250 }, (_, i) => ({ id: `ord_${String(i).padStart(3, '0')}` }));
const cursor = (x: { id: string }): string => x.id;

test('walking the pages with next visits every item once, in order', () => {
  for (const limit of [1, 7, 100, 249, 250, 1000]) {
    const seen: string[] = [];
    let after: string | undefined;
    for (let pages = 0; pages < 300; pages++) {
      const page = paginate(ITEMS, cursor, { limit, ...(after !== undefined ? { after } : {}) });
      assert.ok(page.items.length <= limit);
      seen.push(...page.items.map(cursor));
      if (page.next === null) break;
      assert.equal(page.next, page.items[page.items.length - 1]?.id, 'next is the last item seen');
      after = page.next;
    }
    assert.deepEqual(seen, ITEMS.map(cursor), `limit ${limit}`);
  }
  assert.deepEqual(paginate([], cursor, { limit: 10 }), { items: [], next: null });
});

test('the query: defaults, bounds, and a 400 naming the field for anything else', () => {
  assert.deepEqual(pageRequest(fakeContext({}), '/v1/orders'), { limit: DEFAULT_PAGE_LIMIT });
  assert.deepEqual(pageRequest(fakeContext({ limit: '1000', after: 'ord_1' }), '/v1/orders'), { limit: MAX_PAGE_LIMIT, after: 'ord_1' });
  const bad: Array<[Record<string, string | string[]>, string]> = [
    [{ limit: '0' }, 'limit'],
    [{ limit: '1001' }, 'limit'],
    [{ limit: '-1' }, 'limit'],
    [{ limit: '1.5' }, 'limit'],
    [{ limit: 'ten' }, 'limit'],
    [{ limit: '' }, 'limit'],
    [{ limit: ['1', '2'] }, 'limit'],
    [{ after: '' }, 'after'],
    [{ after: ['a', 'b'] }, 'after'],
    [{ after: 'x'.repeat(201) }, 'after'],
  ];
  for (const [query, field] of bad) {
    assert.throws(
      () => pageRequest(fakeContext(query), '/v1/orders'),
      (err: unknown) => err instanceof PublicError && err.status === 400 && err.extra.field === field && /limit=100&after=/.test(err.hint ?? ''),
      JSON.stringify(query),
    );
  }
  assert.throws(
    () => paginate(ITEMS, cursor, { limit: 10, after: 'ord_nope' }),
    (err: unknown) => err instanceof PublicError && err.status === 400 && err.extra.field === 'after',
  );
});

test('a customer sees a stable reason for failed attempts, never the provisioner\'s message', () => {
  const internal = 'provision.deploy: grid: contract 4242 failed: twin 17 /var/lib/secret ECONNREFUSED 10.0.0.3';
  const shown = customerFailure({
    failure: `could not deploy after 2 attempt(s) (last: ${internal}); nothing was charged`,
    attempts: [
      { node: 'n1', atMs: 0, error: internal },
      { node: 'n2', atMs: 1, error: internal },
    ],
  });
  assert.equal(shown.failure, `could not deploy after 2 attempt(s): ${ATTEMPT_FAILED}; nothing was charged`);
  assert.deepEqual(shown.attempts?.map((a) => [a.node, a.error]), [['n1', ATTEMPT_FAILED], ['n2', ATTEMPT_FAILED]]);
  assert.ok(!JSON.stringify(shown).includes('contract 4242'));
  const noRoom = 'no node has room for small right now; nothing was charged';
  assert.deepEqual(customerFailure({ failure: noRoom, attempts: [] }), { failure: noRoom });
  assert.deepEqual(customerFailure({ attempts: [] }), {});
});
