// Steps the lab tests share: link an actor, make SSH keys, fund, order, wait for handover, ssh into a VM.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { hypha, runCommand, type RunResult } from './run.js';
import { waitFor, type TestLab } from './lab.js';

/** An actor's AgentPubKey. */
export async function agentOf(lab: TestLab, actor: string): Promise<string> {
  const r = await hypha(['id', 'show', '--key', lab.actor(actor).key]);
  return (JSON.parse(r.stdout) as { agent: string }).agent;
}

/** Links an actor with `hypha lab link` (the same challenge, sign, link steps a customer takes). */
export async function link(lab: TestLab, actor: string): Promise<void> {
  const r = await lab.lab('link', actor);
  assert.equal(r.code, 0, r.stderr);
}

/** A fresh ed25519 SSH key pair made by ssh-keygen. */
export async function sshKey(dir: string, name: string): Promise<{ path: string; pub: string }> {
  const path = join(dir, name);
  const r = await runCommand('ssh-keygen', ['-t', 'ed25519', '-N', '', '-q', '-C', name, '-f', path]);
  assert.equal(r.code, 0, r.stderr);
  return { path, pub: readFileSync(`${path}.pub`, 'utf8').trim() };
}

/** GET as the admin (who must be linked); the parsed JSON. */
export async function adminGet<T>(lab: TestLab, path: string): Promise<T> {
  const r = await lab.curl('admin', 'GET', path);
  assert.equal(r.status, 200, `${path}: ${r.text}`);
  return r.json as T;
}

/** Funds a customer's agreement through the admin's lab stand-in for paying on Unyt. */
export async function fund(lab: TestLab, agent: string, amount: string): Promise<void> {
  const r = await lab.curl('admin', 'POST', '/admin/api/ledger/fund', { agent, amount });
  assert.equal(r.status, 200, r.text);
}

/** An order as the API returns it. */
export interface OrderView {
  id: string;
  state: string;
  deposit: string;
  failure?: string;
  deployment?: { id: string; myceliumIp: string; ssh: string; state: string };
}

/** Places an order; returns it. */
export async function order(lab: TestLab, actor: string, offer: string, sshKeys: string[]): Promise<OrderView> {
  const r = await lab.curl(actor, 'POST', '/v1/orders', { offer, sshKeys });
  assert.equal(r.status, 201, r.text);
  return (r.json as { order: OrderView }).order;
}

/** Waits until GET /v1/orders/{id} reports `state`. */
export async function waitOrder(lab: TestLab, actor: string, id: string, state: string, timeoutMs = 30_000): Promise<OrderView> {
  return waitFor(
    `order ${id} to be ${state}`,
    async () => {
      const o = (await lab.curl(actor, 'GET', `/v1/orders/${id}`)).json as { order: OrderView };
      return o.order.state === state ? o.order : undefined;
    },
    timeoutMs,
  );
}

/** Runs `ssh … root@IP CMD` from an actor's namespace with one key; never prompts. */
export function ssh(lab: TestLab, actor: string, keyPath: string, ip: string, command: string, timeoutSeconds = 4): Promise<RunResult> {
  return lab.exec(actor, 'ssh', [
    '-i',
    keyPath,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'LogLevel=ERROR',
    '-o',
    `ConnectTimeout=${timeoutSeconds}`,
    `root@${ip}`,
    command,
  ]);
}

/** Funds `actor`'s agreement with `hypha lab fund` (the admin's fund route, or a Unyt parked spend with --ledger unyt). */
export async function labFund(lab: TestLab, actor: string, amount: string): Promise<void> {
  const r = await lab.lab('fund', actor, amount);
  assert.equal(r.code, 0, r.stderr);
}

/**
 * Buys a small VM for `actor` (linked, funded with `amount`): returns the active order. `pay`
 * "admin" funds through the admin API (embedded ledger), "lab-fund" with `hypha lab fund`.
 */
export async function buyVm(lab: TestLab, actor: string, keys: string[], amount: string, offer = 'small', pay: 'admin' | 'lab-fund' = 'admin'): Promise<OrderView & { deployment: NonNullable<OrderView['deployment']> }> {
  const agent = await agentOf(lab, actor);
  const placed = await order(lab, actor, offer, keys);
  if (pay === 'admin') await fund(lab, agent, amount);
  else await labFund(lab, actor, amount);
  const active = await waitOrder(lab, actor, placed.id, 'active');
  assert.ok(active.deployment, 'an active order shows its deployment');
  return active as OrderView & { deployment: NonNullable<OrderView['deployment']> };
}
