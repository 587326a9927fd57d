// LinkService with a fake clock: expiry, rate limits, the device limit, and nothing stored on refusal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newIdentity, sign, toBase64, utf8 } from '../../src/identity/index.js';
import { LinkService } from '../../src/gateway/link/link-service.js';
import { PublicError } from '../../src/gateway/http/public-error.js';
import { ValidationError } from '../../src/protocol/validate.js';
import type { LinkRecord } from '../../src/gateway/store/records.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeTable } from '../helpers/fake-table.js';

const gw = { agent: newIdentity().agent, address: '4a0::1' };
const policy = { challengeTtlMs: 60_000, maxSubnetsPerAgent: 2, challengesPerMinute: 3 };

function setup(): { clock: FakeClock; table: FakeTable<LinkRecord>; svc: LinkService } {
  const clock = new FakeClock();
  const table = new FakeTable<LinkRecord>();
  return { clock, table, svc: new LinkService(table, clock, gw, policy) };
}

const code = (c: string) => (e: unknown) => e instanceof PublicError && e.code === c;

test('a challenge expires at its TTL; one millisecond before, it still links', async () => {
  const me = newIdentity();
  for (const [advance, ok] of [[60_000, true], [60_001, false]] as const) {
    const { clock, table, svc } = setup();
    const ch = svc.challenge('4a1::/64', { agent: me.agent });
    clock.advance(advance);
    const body = { agent: me.agent, nonce: ch.nonce, signature: toBase64(sign(me.secretKey, utf8(ch.statement))) };
    if (ok) assert.equal((await svc.link('4a1::/64', '4a1::1', body)).created, true);
    else {
      await assert.rejects(svc.link('4a1::/64', '4a1::1', body), code('nonce_expired'));
      assert.equal(table.size(), 0);
    }
  }
});

test('challenges are rate-limited per /64, with a retry time; other /64s are not affected', () => {
  const { clock, svc } = setup();
  const agent = newIdentity().agent;
  for (let i = 0; i < 3; i++) svc.challenge('4a1::/64', { agent });
  assert.throws(() => svc.challenge('4a1::/64', { agent }), (e: unknown) => e instanceof PublicError && e.code === 'rate_limited' && e.extra.retryAfterSeconds === 20);
  svc.challenge('4a2::/64', { agent });
  clock.advance(20_000);
  svc.challenge('4a1::/64', { agent });
});

test('one identity may link up to maxSubnetsPerAgent /64s; the next is a 409', async () => {
  const { table, svc } = setup();
  const me = newIdentity();
  const linkFrom = async (subnet: string) => {
    const ch = svc.challenge(subnet, { agent: me.agent });
    return svc.link(subnet, subnet.replace('::/64', '::1'), { agent: me.agent, nonce: ch.nonce, signature: toBase64(sign(me.secretKey, utf8(ch.statement))) });
  };
  await linkFrom('4a1::/64');
  await linkFrom('4a2::/64');
  await assert.rejects(linkFrom('4a3::/64'), code('conflict'));
  assert.equal(table.size(), 2);
  assert.equal((await linkFrom('4a1::/64')).created, false, 're-linking the same pair is not a new link');
});

test('bad bodies are ValidationErrors naming the field', async () => {
  const { svc } = setup();
  const me = newIdentity();
  const ch = svc.challenge('4a1::/64', { agent: me.agent });
  const cases: Array<[unknown, string]> = [
    [null, 'body'],
    [[], 'body'],
    [{ agent: me.agent, nonce: ch.nonce }, 'signature'],
    [{ agent: me.agent, nonce: ch.nonce, signature: 'AAAA' }, 'signature'],
    [{ agent: me.agent, nonce: 5, signature: 'x' }, 'nonce'],
    [{ agent: me.agent, nonce: ch.nonce, signature: 'x', extra: 1 }, 'extra'],
  ];
  for (const [body, field] of cases) {
    await assert.rejects(svc.link('4a1::/64', '4a1::1', body), (e: unknown) => e instanceof ValidationError && e.field === field, JSON.stringify(body));
  }
});

test('a statement signed for another gateway does not link here', async () => {
  const { svc } = setup();
  const other = new LinkService(new FakeTable<LinkRecord>(), new FakeClock(), { agent: newIdentity().agent, address: '4b0::1' }, policy);
  const me = newIdentity();
  const theirs = other.challenge('4a1::/64', { agent: me.agent });
  const ours = svc.challenge('4a1::/64', { agent: me.agent });
  const body = { agent: me.agent, nonce: ours.nonce, signature: toBase64(sign(me.secretKey, utf8(theirs.statement))) };
  await assert.rejects(svc.link('4a1::/64', '4a1::1', body), code('bad_signature'));
});
