// `hypha link` in the lab: it links the machine it runs on, and neither it nor `hypha id sign` signs a challenge meant to link someone else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { HYPHA_BIN, REPO_ROOT } from '../helpers/paths.js';
import { startLab, type TestLab } from '../helpers/lab.js';
import { agentOf } from '../helpers/scenario.js';

const RELAY = join(REPO_ROOT, 'dist', 'test', 'gateway', 'relay-gateway-fixture.js');
const RELAY_PORT = 8481;

interface Whoami {
  linked: boolean;
  agent?: string;
}

async function whoami(lab: TestLab, actor: string): Promise<Whoami> {
  return (await lab.curl(actor, 'GET', '/v1/whoami')).json as Whoami;
}

/** `hypha ARGS…` run on an actor's machine (inside its namespace). */
function hyphaAt(lab: TestLab, actor: string, args: string[], input?: string): ReturnType<TestLab['exec']> {
  return lab.exec(actor, process.execPath, [HYPHA_BIN, ...args], input);
}

test('hypha link in the lab', async (t) => {
  const lab = await startLab(t);
  const alice = await agentOf(lab, 'alice');
  const aliceKey = lab.actor('alice').key;

  await t.test('a challenge bob fetched (for bob\'s /64) handed to alice: hypha id sign refuses it, in one line', async () => {
    const asked = await lab.curl('bob', 'POST', '/v1/link/challenge', { agent: alice });
    assert.equal(asked.status, 201, asked.text);
    const relayed = JSON.stringify(asked.json);
    const r = await hyphaAt(lab, 'alice', ['id', 'sign', '--key', aliceKey, '--field', 'statement'], relayed);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '', 'no signature');
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stderr, new RegExp(`links ${lab.actor('bob').subnet.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, which is not this machine's Mycelium /64 \\(${lab.actor('alice').subnet.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)`));
    assert.match(r.stderr, /hypha link --gateway URL --key FILE/);
    const atBob = await hyphaAt(lab, 'bob', ['id', 'sign', '--key', aliceKey, '--field', 'statement'], relayed);
    assert.equal(atBob.code, 0, `on the machine of the /64 it links, the same statement is signed: ${atBob.stderr}`);
  });

  await t.test('hypha link against a gateway that relays another gateway\'s challenge is refused and links nobody', async (t2) => {
    const bobAddress = lab.actor('bob').address;
    const relay = spawn('ip', ['netns', 'exec', lab.actor('bob').ns, process.execPath, RELAY, bobAddress, String(RELAY_PORT), lab.gw], { stdio: ['ignore', 'pipe', 'pipe'] });
    t2.after(() => relay.kill('SIGKILL'));
    await new Promise<void>((resolve, reject) => {
      relay.stdout.setEncoding('utf8').on('data', (d: string) => d.includes('listening') && resolve());
      relay.once('exit', (code) => reject(new Error(`the relay exited (${String(code)})`)));
    });
    const r = await hyphaAt(lab, 'alice', ['link', '--gateway', `http://[${bobAddress}]:${RELAY_PORT}`, '--key', aliceKey]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`names gateway ${lab.state().gateway.address}, not ${bobAddress}, the one asked`));
    assert.equal((await whoami(lab, 'alice')).linked, false);
    assert.equal((await whoami(lab, 'bob')).linked, false);
  });

  await t.test('hypha link from alice\'s namespace links alice and prints the link', async () => {
    const r = await hyphaAt(lab, 'alice', ['link', '--gateway', lab.gw, '--key', aliceKey]);
    assert.equal(r.code, 0, r.stderr);
    const linked = JSON.parse(r.stdout) as { agent: string; subnet: string; linkedAt: string };
    assert.equal(linked.agent, alice);
    assert.equal(linked.subnet, lab.actor('alice').subnet);
    assert.deepEqual(await whoami(lab, 'alice'), { address: lab.actor('alice').address, subnet: lab.actor('alice').subnet, linked: true, agent: alice, roles: ['customer'] });
    const again = await hyphaAt(lab, 'alice', ['link', '--gateway', lab.gw, '--key', aliceKey]);
    assert.equal(again.code, 0, `linking again is fine: ${again.stderr}`);
  });

  await t.test('hypha link with another identity\'s key on an already linked /64 exits 1 with the gateway\'s reason', async () => {
    const r = await hyphaAt(lab, 'alice', ['link', '--gateway', lab.gw, '--key', lab.actor('bob').key]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /refused \/v1\/link: conflict/);
    assert.equal((await whoami(lab, 'alice')).agent, alice);
  });

  await t.test('hypha lab link links an actor with hypha link in its namespace', async () => {
    const r = await lab.lab('link', 'bob');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { agent: await agentOf(lab, 'bob'), subnet: lab.actor('bob').subnet });
    assert.equal((await whoami(lab, 'bob')).linked, true);
  });
});
