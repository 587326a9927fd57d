// Issue 16 in the lab: a secret sealed with `hypha seal` to the node's key reaches the VM (read over ssh), and the gateway's data folder, logs and database never hold its plaintext.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scratchDir } from '../helpers/paths.js';
import { hypha, runCommand } from '../helpers/run.js';
import { errorCode, startLab, LAB_SKIP } from '../helpers/lab.js';
import { storedRecordsText } from '../helpers/lab-store.js';
import { agentOf, fund, link, ssh, sshKey, waitOrder } from '../helpers/scenario.js';

test('sealed secrets in the lab: sealed to the node, opened only by its agent, installed for the VM user alone', { skip: LAB_SKIP }, async (t) => {
  const lab = await startLab(t, { hour: 2 });
  const { dir, remove } = scratchDir();
  t.after(remove);
  for (const a of ['admin', 'alice']) await link(lab, a);
  const key = await sshKey(dir, 'alice');
  const node = 'node-farmer2';
  const view = await lab.curl('alice', 'GET', `/v1/nodes/${node}`);
  assert.equal(view.status, 200, view.text);
  const { sealTo, sealingKey } = (view.json as { node: { sealTo: string; sealingKey: string } }).node;
  assert.match(sealingKey, /^[A-Za-z0-9+/]{43}=$/, 'a 32-byte X25519 key in base64');
  assert.equal((await lab.curl('alice', 'GET', '/v1/nodes/node-nowhere')).status, 404);

  const plaintext = `s3cret-${randomBytes(12).toString('hex')}`;
  const file = join(dir, 'db-password');
  writeFileSync(file, plaintext);
  const sealed = await hypha(['seal', '--to', sealTo, file]);
  assert.equal(sealed.code, 0, sealed.stderr);
  const box = sealed.stdout.trim();

  await t.test('bad secrets are refused naming the field', async () => {
    const noNode = await lab.curl('alice', 'POST', '/v1/orders', { offer: 'small', sshKeys: [key.pub], secrets: [{ name: 'x', sealed: {} }] });
    assert.equal(noNode.status, 400);
    assert.equal((noNode.json as { error: { field: string } }).error.field, 'secrets[0].sealed');
    const notBox = await lab.curl('alice', 'POST', '/v1/orders', { offer: 'small', sshKeys: [key.pub], secrets: [{ name: 'x', sealed: { [node]: 'AAAA' } }] });
    assert.equal(notBox.status, 400);
    assert.equal(errorCode(notBox), 'bad_request');
    const badName = await lab.curl('alice', 'POST', '/v1/orders', { offer: 'small', sshKeys: [key.pub], secrets: [{ name: '../etc/passwd', sealed: { [node]: box } }] });
    assert.equal(badName.status, 400);
    assert.equal((badName.json as { error: { field: string } }).error.field, 'secrets[0].name');
  });

  await t.test('the order runs on the node the secret is sealed to, and the secret is a file only the VM user reads', async () => {
    const r = await lab.curl('alice', 'POST', '/v1/orders', { offer: 'small', sshKeys: [key.pub], secrets: [{ name: 'db-password', sealed: { [node]: box } }] });
    assert.equal(r.status, 201, r.text);
    assert.ok(!r.text.includes(box), 'the order view does not echo the sealed boxes');
    const id = (r.json as { order: { id: string; deposit: string } }).order.id;
    const deposit = (r.json as { order: { deposit: string } }).order.deposit;
    await fund(lab, await agentOf(lab, 'alice'), (Number(deposit) * 3).toFixed(6));
    const active = await waitOrder(lab, 'alice', id, 'active', 60_000);
    const dep = ((await lab.curl('alice', 'GET', `/v1/deployments/${active.deployment?.id ?? ''}`)).json as { deployment: { node: string; myceliumIp: string } }).deployment;
    assert.equal(dep.node, node, 'deployed on the node the secret was sealed to');
    const read = await ssh(lab, 'alice', key.path, dep.myceliumIp, 'cat "$HOME/secrets/db-password"; echo; stat -c "%a %u" "$HOME/secrets/db-password"; id -u');
    assert.equal(read.code, 0, read.stderr);
    const [content, stat, uid] = read.stdout.trim().split('\n');
    assert.equal(content, plaintext, 'the VM reads the secret');
    const [mode, owner] = (stat ?? '').split(' ');
    assert.equal(mode, '400', 'readable only by its owner');
    assert.equal(owner, uid, "owned by the VM's own user");
  });

  await t.test("the gateway's data folder, logs and database never hold the plaintext", async () => {
    for (const where of [join(lab.dir, 'gateway'), join(lab.dir, 'logs')]) {
      const grep = await runCommand('grep', ['-rlF', plaintext, where]);
      assert.equal(grep.code, 1, `grep found the plaintext in ${grep.stdout}`);
    }
    const stored = await storedRecordsText(lab);
    assert.ok(stored.includes(box.slice(0, 40)), 'the store holds the sealed box (the gateway stores and forwards it)');
    assert.ok(!stored.includes(plaintext), 'which is not the plaintext');
  });
});
