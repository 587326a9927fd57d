// AgentRequests with a FakeTable and a FakeClock: join requests of unknown agents are capped per /64 and in all, name the limit when refused, and expire.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AgentRequests, type AgentRequestPolicy } from '../../src/gateway/agents/agent-requests.js';
import type { AgentApproval } from '../../src/gateway/store/records.js';
import { newIdentity } from '../../src/identity/index.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeTable } from '../helpers/fake-table.js';

const HOUR = 3_600_000;
const POLICY: AgentRequestPolicy = { maxPerSubnet: 3, maxTotal: 10, expireAfterMs: 24 * HOUR };

function rig(policy: AgentRequestPolicy = POLICY): { table: FakeTable<AgentApproval>; clock: FakeClock; requests: AgentRequests } {
  const table = new FakeTable<AgentApproval>();
  return { table, clock: new FakeClock(), requests: new AgentRequests(table, policy) };
}

test('AgentRequests: 50 fresh keys from one /64 leave 3 requests; the rest are refused naming agentRequests.maxPerSubnet', async () => {
  const r = rig();
  const outcomes = [];
  for (let i = 0; i < 50; i++) outcomes.push(await r.requests.request(newIdentity().agent, '4a1::/64', ['n1'], r.clock.nowMs()));
  assert.equal(outcomes.filter((o) => o.kind === 'stored').length, 3);
  const refused = outcomes.filter((o) => o.kind === 'refused');
  assert.equal(refused.length, 47);
  for (const o of refused) {
    assert.equal(o.kind === 'refused' && o.limit, 'agentRequests.maxPerSubnet');
    assert.match(o.kind === 'refused' ? o.reason : '', /^agentRequests\.maxPerSubnet \(3\) reached/);
    assert.ok(Buffer.byteLength(o.kind === 'refused' ? o.reason : '') <= 123, 'the reason fits a WebSocket close frame');
  }
  assert.equal(r.table.size(), 3, 'the store holds only the requests under the cap');
  const other = await r.requests.request(newIdentity().agent, '4a2::/64', ['n1'], r.clock.nowMs());
  assert.equal(other.kind, 'stored', 'another /64 is not blocked by the first');
});

test('AgentRequests: keys from many /64s are capped in all by agentRequests.maxTotal', async () => {
  const r = rig();
  const outcomes = [];
  for (let i = 0; i < 40; i++) outcomes.push(await r.requests.request(newIdentity().agent, `4a1:${(i + 1).toString(16)}::/64`, ['n1'], r.clock.nowMs()));
  assert.equal(outcomes.filter((o) => o.kind === 'stored').length, 10);
  assert.ok(outcomes.slice(10).every((o) => o.kind === 'refused' && o.limit === 'agentRequests.maxTotal'));
  assert.equal(r.table.size(), 10);
});

test('AgentRequests: an agent asking again while pending changes nothing; approved and revoked agents are not counted', async () => {
  const r = rig();
  const agent = newIdentity().agent;
  await r.table.put('approved', { agent: 'approved', state: 'approved', source: 'config', subnets: ['4a1::/64'], nodes: ['n0'] });
  await r.table.put('revoked', { agent: 'revoked', state: 'revoked', source: 'admin', subnets: ['4a1::/64'], nodes: ['n9'] });
  const first = await r.requests.request(agent, '4a1::/64', ['n1'], r.clock.nowMs());
  assert.equal(first.kind, 'stored');
  const puts = r.table.puts;
  r.clock.advance(HOUR);
  const again = await r.requests.request(agent, '4a1::/64', ['n1'], r.clock.nowMs());
  assert.equal(again.kind, 'already_pending');
  assert.equal(r.table.puts, puts, 'no write for a repeated request');
  assert.equal(r.table.get(agent)?.requestedAtMs, first.kind === 'stored' ? first.request.requestedAtMs : -1, 'asking again does not extend the request');
  for (let i = 0; i < 2; i++) assert.equal((await r.requests.request(newIdentity().agent, '4a1::/64', ['n1'], r.clock.nowMs())).kind, 'stored');
});

test('AgentRequests: a request expires after expireAfterMs (not before), freeing its place; the agent may ask again', async () => {
  const r = rig({ ...POLICY, maxPerSubnet: 1 });
  const a = newIdentity().agent;
  const b = newIdentity().agent;
  assert.equal((await r.requests.request(a, '4a1::/64', ['n1'], r.clock.nowMs())).kind, 'stored');
  r.clock.advance(24 * HOUR - 1);
  assert.equal((await r.requests.request(b, '4a1::/64', ['n1'], r.clock.nowMs())).kind, 'refused');
  r.clock.advance(1);
  assert.equal((await r.requests.request(b, '4a1::/64', ['n1'], r.clock.nowMs())).kind, 'stored');
  assert.equal(r.table.get(a), undefined, 'the stale request is gone');
  assert.equal(r.table.size(), 1);
});
