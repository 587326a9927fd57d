// `hypha lab demo`: a customer's whole story against a running lab, step by step, printing each command a person would type and what it showed.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadKeyFile } from '../identity/index.js';
import { verifyReceiptChain } from '../protocol/receipt.js';
import { LabError, actorOf, labLink } from './lab.js';
import { hyphaCommand, readLabState, type LabState } from './lab-state.js';

/** The outcome of a command run in an actor's namespace. */
interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function run(cmd: string, args: readonly string[], timeoutMs = 30_000): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

type Json = Record<string, unknown>;

/** What the demo needs to say where things are. */
export interface DemoOptions {
  readonly dir: string;
  /** Where each step's report goes (a line at a time). */
  readonly out: (line: string) => void;
  /** Longest wait for one step (funds running out takes the deposit period: 24 lab hours by default). */
  readonly stepTimeoutMs?: number;
}

/**
 * Plays the story as alice, with the admin paying in her place (the lab's stand-in for Unyt):
 * link, order, pay, ssh, billing, low funds, grace, top-up, deprovision, and verifying her
 * receipts offline. Files (her SSH key, her receipts) go to DIR/demo. Resolves once the story
 * is told; rejects with a LabError naming the step that did not happen.
 */
export async function labDemo(options: DemoOptions): Promise<void> {
  const state = readLabState(options.dir);
  if (!state) throw new LabError(`no lab is up in ${options.dir}; start one with \`${hyphaCommand()} lab up\``);
  const out = options.out;
  const timeoutMs = options.stepTimeoutMs ?? 10 * 60_000;
  const hypha = hyphaCommand();
  const dirFlag = ` --dir ${state.dir}`;
  const gw = state.gateway.url;
  const alice = actorOf(state, 'alice');
  const admin = actorOf(state, 'admin');
  const aliceAgent = loadKeyFile(alice.key).agent;
  const policy = labPolicy(state);
  const work = join(state.dir, 'demo');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true, mode: 0o700 });

  const curl = async (actor: 'alice' | 'admin', method: string, path: string, body?: Json): Promise<{ status: number; json: Json; text: string }> => {
    const ns = (actor === 'alice' ? alice : admin).ns;
    const args = ['netns', 'exec', ns, 'curl', '-s', '--max-time', '30', '-X', method, '-w', '\n%{http_code}', `${gw}${path}`];
    if (body !== undefined) args.push('-H', 'content-type: application/json', '-d', JSON.stringify(body));
    const r = await run('ip', args, 40_000);
    if (r.code !== 0) throw new LabError(`curl ${method} ${path} as ${actor} failed: ${r.stderr.trim()}`);
    const cut = r.stdout.lastIndexOf('\n');
    const text = r.stdout.slice(0, cut);
    let json: Json = {};
    try {
      json = JSON.parse(text) as Json;
    } catch {
      // A plain-text answer (GET /).
    }
    return { status: Number(r.stdout.slice(cut + 1)), json, text };
  };
  const ssh = (ip: string, command: string): Promise<Ran> =>
    run('ip', ['netns', 'exec', alice.ns, 'ssh', '-i', join(work, 'alice'), '-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=accept-new', '-o', `UserKnownHostsFile=${join(work, 'known_hosts')}`, '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=3', '-o', 'LogLevel=ERROR', `root@${ip}`, command], 15_000);
  const until = async <T>(what: string, check: () => Promise<T | undefined>): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const v = await check();
      if (v !== undefined) return v;
      await sleep(250);
    }
    throw new LabError(`the demo waited ${Math.round(timeoutMs / 1000)} s for ${what}, and it did not happen; the gateway's log is ${join(state.dir, 'logs', 'gateway.log')}`);
  };
  const total = 10;
  let n = 0;
  const step = (title: string, ...commands: string[]): void => {
    n++;
    out('');
    out(`[${n}/${total}] ${title}`);
    for (const c of commands) out(`  $ ${c}`);
  };
  const showed = (line: string): void => out(`  → ${line}`);

  out(`The story of alice's VM in lab "${state.name}" (one billed hour = ${state.hourSeconds} s; deposit ${policy.depositHours} h, grace ${policy.graceHours} h).`);
  out(`Each step prints what you would type (with GW=${gw}) and what it showed.`);

  step("alice links her Mycelium /64 to her Unyt key: a challenge, her signature, the link", `${hypha} lab link alice${dirFlag}`);
  const linked = await labLink(state.dir, 'alice');
  showed(`linked ${linked.agent} from ${linked.subnet}`);
  await labLink(state.dir, 'admin');

  step('alice makes an SSH key and orders a small VM with it', `ssh-keygen -t ed25519 -N '' -q -f ${join(work, 'alice')}`, `${hypha} lab exec alice${dirFlag} -- curl -s -X POST $GW/v1/orders -d '{"offer": "small", "sshKeys": ["…"]}'`);
  const keygen = await run('ssh-keygen', ['-t', 'ed25519', '-N', '', '-q', '-C', 'alice-demo', '-f', join(work, 'alice')]);
  if (keygen.code !== 0) throw new LabError(`ssh-keygen failed: ${keygen.stderr.trim()}`);
  const placed = await curl('alice', 'POST', '/v1/orders', { offer: 'small', sshKeys: [readFileSync(join(work, 'alice.pub'), 'utf8').trim()] });
  if (placed.status !== 201) throw new LabError(`ordering failed: ${placed.text}`);
  const order = placed.json.order as Json;
  showed(`order ${String(order.id)}: ${String(order.state)}, price ${String(order.pricePerHour)} SPORE/h, deposit ${String(order.deposit)} SPORE`);

  step('the admin pays the deposit into her agreement (in the lab, the stand-in for paying on Unyt); the VM is handed over', `${hypha} lab exec admin${dirFlag} -- curl -s -X POST $GW/admin/api/ledger/fund -d '{"agent": "${aliceAgent}", "amount": "${String(order.deposit)}"}'`, `${hypha} lab exec alice${dirFlag} -- curl -s $GW/v1/orders/${String(order.id)}`);
  const paid = await curl('admin', 'POST', '/admin/api/ledger/fund', { agent: aliceAgent, amount: order.deposit as string });
  if (paid.status !== 200) throw new LabError(`funding failed: ${paid.text}`);
  const active = await until('the order to be active', async () => {
    const o = (await curl('alice', 'GET', `/v1/orders/${String(order.id)}`)).json.order as Json | undefined;
    if (o?.state === 'failed') throw new LabError(`the order failed: ${String(o.failure)}`);
    return o?.state === 'active' ? o : undefined;
  });
  const dep = active.deployment as Json;
  const depId = dep.id as string;
  const ip = dep.myceliumIp as string;
  showed(`order active; deployment ${depId} on ${String(dep.node)}; "ssh": "${String(dep.ssh)}"`);

  step('alice logs in to her VM', `${hypha} lab exec alice${dirFlag} -- ssh -i ${join(work, 'alice')} -o StrictHostKeyChecking=accept-new root@${ip} 'uname -a'`);
  const login = await until('ssh to answer', async () => {
    const r = await ssh(ip, 'uname -a');
    return r.code === 0 ? r : undefined;
  });
  showed(login.stdout.trim());

  step('every billed hour, a signed receipt charges her for the seconds the VM was up', `${hypha} lab exec alice${dirFlag} -- curl -s "$GW/v1/receipts?deployment=${depId}"`);
  const billed = await until('two receipts', async () => {
    const r = ((await curl('alice', 'GET', `/v1/receipts?deployment=${depId}`)).json.receipts ?? []) as Json[];
    return r.length >= 2 ? r : undefined;
  });
  for (const r of billed.slice(0, 2)) showed(`receipt ${String(r.id)}: up ${String(r.upSeconds)} s, ${String(r.amount)} SPORE (farmer ${String(r.farmerShare)}, fee ${String(r.fee)})`);

  step('her agreement now holds less than a deposit: funds are low', `${hypha} lab exec alice${dirFlag} -- curl -s $GW/v1/balance`);
  const low = await until('low funds', async () => {
    const b = (await curl('alice', 'GET', '/v1/balance')).json;
    return b.lowFunds === true ? b : undefined;
  });
  showed(`available ${String(low.available)} SPORE, runway ${typeof low.runwayHours === "number" ? `${low.runwayHours} h` : "—"}, lowFunds ${String(low.lowFunds)}`);

  const waitS = Math.round(Number(low.runwayHours ?? 0) * state.hourSeconds) + 2 * state.hourSeconds;
  step(`nobody pays, so the funds run out (about ${waitS} s here): the deployment goes into grace, the VM is paused`, `${hypha} lab exec alice${dirFlag} -- curl -s $GW/v1/deployments/${depId}`, `${hypha} lab exec alice${dirFlag} -- curl -s $GW/`);
  let firstGraceAt: number | undefined;
  const graceSeenAt = (d: Json): number => (d.state === 'grace' ? (firstGraceAt ??= Date.now()) : Date.now());
  const grace = await until('grace', async () => {
    const d = (await curl('alice', 'GET', `/v1/deployments/${depId}`)).json.deployment as Json | undefined;
    // The VM is paused just after the state changes (unless the gateway keeps VMs running in grace).
    return d?.state === 'grace' && (d.paused === true || Date.now() - graceSeenAt(d) > 5000) ? d : undefined;
  });
  const toPay = (grace.toPay ?? {}) as Json;
  showed(`state grace, paused ${String(grace.paused)}, arrears ${String(grace.arrears)} SPORE, deprovisioned at ${String(grace.graceUntil)} unless funded`);
  const funds = (await curl('alice', 'GET', '/')).text.split('\n').find((l) => l.startsWith('FUNDS:'));
  if (funds) showed(funds);
  const refused = await until('ssh to be refused while paused', async () => {
    const r = await ssh(ip, 'true');
    return r.code !== 0 ? r : undefined;
  });
  showed(`ssh now fails (exit ${refused.code}): the VM is paused`);

  step(`the admin tops her agreement up with what GET /v1/balance asks for (${String(toPay.pay)} SPORE): arrears first, then the VM resumes`, `${hypha} lab exec admin${dirFlag} -- curl -s -X POST $GW/admin/api/ledger/fund -d '{"agent": "${aliceAgent}", "amount": "${String(toPay.pay)}"}'`);
  const topUp = await curl('admin', 'POST', '/admin/api/ledger/fund', { agent: aliceAgent, amount: toPay.pay as string });
  if (topUp.status !== 200) throw new LabError(`the top-up failed: ${topUp.text}`);
  showed(String(topUp.json.summary));
  const back = await until('ssh to work again', async () => {
    const r = await ssh(ip, 'echo resumed');
    return r.code === 0 ? r : undefined;
  });
  showed(`ssh works again: ${back.stdout.trim()}`);

  step('alice cancels: the last partial hour is billed, the VM is destroyed, the order and deployment say so', `${hypha} lab exec alice${dirFlag} -- curl -s -X DELETE $GW/v1/deployments/${depId}`);
  const cancelled = await curl('alice', 'DELETE', `/v1/deployments/${depId}`);
  if (cancelled.status !== 202) throw new LabError(`cancelling failed: ${cancelled.text}`);
  const ended = cancelled.json.deployment as Json;
  showed(`deployment ${String(ended.state)} (endReason ${String(ended.endReason)}); ssh command ${ended.ssh === undefined ? 'gone' : 'still shown'}`);
  const orderNow = (await curl('alice', 'GET', `/v1/orders/${String(order.id)}`)).json.order as Json;
  showed(`order ${String(orderNow.id)}: ${String(orderNow.state)}`);

  const receiptsFile = join(work, 'receipts.json');
  step('alice verifies her receipts offline: signatures, the chain, the arithmetic', `${hypha} lab exec alice${dirFlag} -- curl -s "$GW/v1/receipts?deployment=${depId}" > ${receiptsFile}`, `${hypha} receipt verify ${receiptsFile} --gateway ${state.gateway.agent}`);
  const all = await until('the final receipt', async () => {
    const r = await curl('alice', 'GET', `/v1/receipts?deployment=${depId}`);
    const list = (r.json.receipts ?? []) as Json[];
    if (!list.some((x) => x.final === true)) return undefined;
    writeFileSync(receiptsFile, r.text);
    return list;
  });
  const verdict = verifyReceiptChain(all, { pinnedGateway: state.gateway.agent, allowPartial: false });
  if (!verdict.ok) throw new LabError(`her receipts do not verify: ${verdict.reason}`);
  const paidCount = all.filter((r) => r.amount !== '0.000000').length;
  showed(`valid: ${all.length} receipt(s), ${paidCount} with a charge, the last one final; saved in ${receiptsFile}`);
  out('');
  out(`That was the whole story. Try it by hand: the README's walkthrough, or GET ${gw}/ as any actor.`);
}

/** The lab gateway's deposit and grace, in lab hours (from its config; the defaults otherwise). */
function labPolicy(state: LabState): { depositHours: number; graceHours: number } {
  const path = join(state.dir, 'gateway', 'config.json');
  const billing = existsSync(path) ? ((JSON.parse(readFileSync(path, 'utf8')) as { billing?: { depositHours?: number; graceHours?: number } }).billing ?? {}) : {};
  return { depositHours: billing.depositHours ?? 24, graceHours: billing.graceHours ?? 72 };
}
