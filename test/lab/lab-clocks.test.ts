// The lab's two clocks, named in every answer: orders, deployments and receipts run on scaled lab time, link challenges on wall time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scratchDir } from '../helpers/paths.js';
import { LAB_SKIP, startLab } from '../helpers/lab.js';
import { agentOf, buyVm, link, sshKey } from '../helpers/scenario.js';

test('in the lab, challenge answers say "wall" while orders, deployments and receipts say "lab"', { skip: LAB_SKIP }, async (t) => {
  const lab = await startLab(t);
  const { dir, remove } = scratchDir();
  t.after(remove);
  const alice = await agentOf(lab, 'alice');
  const challenge = await lab.curl('alice', 'POST', '/v1/link/challenge', { agent: alice });
  assert.equal(challenge.status, 201, challenge.text);
  const wall = challenge.json as { expiresAt: string; clock: string };
  assert.equal(wall.clock, 'wall');
  // Five minutes of wall time: the lab clock would be hours ahead of it.
  assert.ok(Math.abs(Date.parse(wall.expiresAt) - (Date.now() + 300_000)) < 60_000, wall.expiresAt);

  await link(lab, 'admin');
  await link(lab, 'alice');
  const key = await sshKey(dir, 'key');
  const bought = await buyVm(lab, 'alice', [key.pub], '5');
  const order = (await lab.curl('alice', 'GET', `/v1/orders/${bought.id}`)).json as { order: { clock: string } };
  assert.equal(order.order.clock, 'lab');
  const deployment = (await lab.curl('alice', 'GET', `/v1/deployments/${bought.deployment.id}`)).json as { deployment: { clock: string } };
  assert.equal(deployment.deployment.clock, 'lab');
  const receipts = (await lab.curl('alice', 'GET', `/v1/receipts?deployment=${bought.deployment.id}`)).json as { clock: string; receipts: unknown[] };
  assert.equal(receipts.clock, 'lab');
});
