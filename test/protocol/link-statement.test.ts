// The checks `hypha link` and `hypha id sign` make before signing a link statement: a table of refusals and the one good case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { textStatement } from '../../src/identity/index.js';
import { LinkStatementError, checkLinkStatement, checkLinkSubnet, linkStatementText, looksLikeLinkStatement, type LinkStatementFields, type LinkStatementProblem } from '../../src/protocol/link-statement.js';

const GATEWAY_ADDRESS = '4a1:2b3c:4d5e:6f70::1';
const OWN_SUBNET = '5aa:1:2:3::/64';
const ATTACKER_SUBNET = '5bb:9:8:7::/64';
const AGENT = 'uhCAkAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const NOW_MS = Date.parse('2026-11-28T08:00:00.000Z');

const good: LinkStatementFields = {
  gateway: 'uhCAkGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGG',
  gatewayAddress: GATEWAY_ADDRESS,
  subnet: OWN_SUBNET,
  agent: AGENT,
  nonce: 'n0nce',
  expires: '2026-11-28T08:05:00.000Z',
};

const expect = { gatewayAddress: GATEWAY_ADDRESS, localSubnets: [OWN_SUBNET], agent: AGENT, nowMs: NOW_MS };

test('checkLinkStatement refuses what would link someone else, and passes a good statement', () => {
  const table: Array<[string, string, LinkStatementProblem | null]> = [
    ['good', linkStatementText(good), null],
    ['good, the gateway address written another way', linkStatementText({ ...good, gatewayAddress: '04a1:2b3c:4d5e:6f70:0:0:0:1' }), null],
    ['wrong purpose', textStatement('hypha/agent-auth/v1', [['subnet', OWN_SUBNET]]), 'wrong_purpose'],
    ['a later link version this signer does not know', linkStatementText(good).replace('hypha/link/v1', 'hypha/link/v2'), 'wrong_purpose'],
    ['other gateway (relayed)', linkStatementText({ ...good, gatewayAddress: '4ff:1:1:1::1' }), 'other_gateway'],
    ['foreign /64', linkStatementText({ ...good, subnet: ATTACKER_SUBNET }), 'foreign_subnet'],
    ['another identity', linkStatementText({ ...good, agent: 'uhCAkBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB' }), 'other_agent'],
    ['expired', linkStatementText({ ...good, expires: '2026-11-28T07:59:59.999Z' }), 'expired'],
    ['no subnet line', textStatement('hypha/link/v1', [['action', 'link this Mycelium /64 to this Unyt identity'], ['gateway-address', GATEWAY_ADDRESS]]), 'malformed'],
    ['not a statement', 'hello', 'malformed'],
    ['a subnet that is not a /64', linkStatementText({ ...good, subnet: '5aa:1:2:3::/48' }), 'malformed'],
  ];
  for (const [name, text, problem] of table) {
    if (problem === null) {
      assert.deepEqual(checkLinkStatement(text, expect).subnet, OWN_SUBNET, name);
      continue;
    }
    assert.throws(
      () => checkLinkStatement(text, expect),
      (err: unknown) => err instanceof LinkStatementError && err.problem === problem && !err.message.includes('\n'),
      name,
    );
  }
});

test('checkLinkSubnet, what `hypha id sign` checks, accepts only this machine\'s /64s, written any way', () => {
  assert.equal(checkLinkSubnet(linkStatementText({ ...good, subnet: '05aa:0001:0002:0003::/64' }), [OWN_SUBNET]).agent, AGENT);
  assert.throws(() => checkLinkSubnet(linkStatementText({ ...good, subnet: ATTACKER_SUBNET }), [OWN_SUBNET]), { problem: 'foreign_subnet', message: /5bb:9:8:7::\/64.*not this machine's/ });
  assert.throws(() => checkLinkSubnet(linkStatementText(good), []), { problem: 'foreign_subnet', message: /is Mycelium running/ });
  assert.equal(looksLikeLinkStatement(linkStatementText(good)), true);
  assert.equal(looksLikeLinkStatement('hypha/agent-auth/v1\n'), false);
});
