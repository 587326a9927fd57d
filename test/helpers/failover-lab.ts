// What the two-gateway lab tests share: the gateways' roles, curl at one gateway, the lease row and connections in the lab's PostgreSQL, and the billing checks after a failover.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { parseCurlOutput, type CurlOutput } from '../../src/lab/curl-output.js';
import type { ReceiptV2 } from '../../src/protocol/receipt.js';
import type { LabGatewayRole } from '../../src/lab/lab-gateways.js';
import { hypha } from './run.js';
import { waitFor, type TestLab } from './lab.js';
import { ledgerEntries } from './billing-scenario.js';

/** One gateway as `hypha lab status --json` lists it. */
export interface GatewayRow {
  readonly name: string;
  readonly url: string;
  readonly pid?: number;
  readonly role: LabGatewayRole;
}

/** `hypha lab status --json`: the gateways with their roles, and the state's `gateway` (pointed at the active one). */
export async function labStatus(lab: TestLab): Promise<{ gateway: { url: string }; gateways: GatewayRow[] }> {
  const r = await lab.lab('status', '--json');
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { gateway: { url: string }; gateways: GatewayRow[] };
}

/** What curl got from one gateway URL (not the state's: the test may be restarting the other one meanwhile). */
export async function curlAt(lab: TestLab, actor: string, url: string, path: string): Promise<CurlOutput> {
  const r = await lab.exec(actor, 'curl', ['-s', '-S', '--max-time', '10', '-w', '\n%{http_code}', `${url}${path}`]);
  if (r.code !== 0) throw new Error(`curl ${url}${path} failed (${r.code}): ${r.stderr}`);
  return parseCurlOutput(r.stdout);
}

/** The lease row and the gateways' connections, read from the lab's PostgreSQL server as its superuser (initdb -U hypha). */
export class LabDatabase {
  private constructor(private readonly client: pg.Client) {}

  /** Connects to the server the lab's gateways share (the URL is in their config). */
  static async open(lab: TestLab): Promise<LabDatabase> {
    const config = JSON.parse(readFileSync(join(lab.dir, 'gateway', 'config.json'), 'utf8')) as { store: { url: string } };
    const client = new pg.Client({ connectionString: config.store.url, application_name: 'hypha-test' });
    // A stopped server (the outage test) cuts this connection; the test reconnects.
    client.on('error', () => undefined);
    await client.connect();
    return new LabDatabase(client);
  }

  async lease(): Promise<{ holder: string; url: string; token: number; live: boolean }> {
    const { rows } = await this.client.query<{ holder: string; url: string; token: string; live: boolean }>("SELECT holder, url, token, expires_at > clock_timestamp() AS live FROM hypha_lease WHERE name = 'active'");
    const row = rows[0];
    assert.ok(row, 'the lease row exists');
    return { holder: row.holder, url: row.url, token: Number(row.token), live: row.live };
  }

  /** The gateways' connections now: application name, state, what each waits on. */
  async connections(): Promise<string[]> {
    const { rows } = await this.client.query<{ a: string; state: string | null; w: string | null; x: string | null }>(
      "SELECT application_name AS a, state, wait_event_type || ':' || wait_event AS w, now() - xact_start AS x FROM pg_stat_activity WHERE application_name LIKE 'hypha-%' AND pid <> pg_backend_pid() ORDER BY 1",
    );
    return rows.map((r) => `${r.a} ${r.state ?? '?'} wait=${r.w ?? '-'} xact=${String(r.x ?? '-')}`);
  }

  async query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    return (await this.client.query<R>(text, values)).rows;
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }
}

/** The lease and HA lines of a gateway's log (for a failure message): what it thought its role was, when. */
export function haLines(lab: TestLab, name: string, last = 12): string {
  let text: string;
  try {
    text = readFileSync(join(lab.dir, 'logs', `${name}.log`), 'utf8');
  } catch {
    return `${name}: no log`;
  }
  const lines = text.split('\n').filter((l) => /lease|ha: |standby|listening|taking over|fenced|write refused/.test(l));
  return lines.slice(-last).map((l) => `${name}: ${l.slice(0, 300)}`).join('\n');
}

/**
 * A gateway's role changes and their reasons, from `since` (an ISO time) on: each "lease: active under token N",
 * "lease: standby (why)", "ha: ACTIVE …", "ha: lost the lease …" and failed takeover, with its time — what a
 * failure message needs to tell one takeover from two. The per-round outage lines and refused writes are left out.
 */
export function leaseLines(lab: TestLab, name: string, since = ''): string {
  let text: string;
  try {
    text = readFileSync(join(lab.dir, 'logs', `${name}.log`), 'utf8');
  } catch {
    return `${name}: no log`;
  }
  const lines: string[] = [];
  for (const line of text.split('\n')) {
    const m = /"time":"([^"]+)".*"msg":"((?:lease: |ha: (?!the lease database)|gateway: taking over)[^"]*)"/.exec(line);
    if (m === null || (m[1] ?? '') < since) continue;
    // A failed takeover says why in its error (a refused write, a failed listen, …).
    const why = /"err":\{"type":"[^"]*","message":"([^"]*)"/.exec(line)?.[1];
    lines.push(`${name} ${m[1] ?? ''} ${(m[2] ?? '').slice(0, 200)}${why !== undefined ? `: ${why.slice(0, 200)}` : ''}`);
  }
  return lines.length > 0 ? lines.join('\n') : `${name}: no lease line since ${since || 'the start'}`;
}

/**
 * The lease row's writes the PostgreSQL server logged (log_statement = 'mod') after byte `from` of its log: each
 * take or renewal (holder, token) and each release, with the server's time and the connection's application name —
 * the database's own account of who took the lease under which token, for a failure message. At most `max` lines.
 */
export function leaseWrites(serverLog: string, from: number, max = 24): string {
  const text = readFileSync(serverLog).subarray(from).toString('utf8');
  const lines: string[] = [];
  let last = '';
  for (const line of text.split('\n')) {
    const take = /^(\S+ \S+) .*app=(\S+ \S+) DETAIL:\s+parameters: \$1 = 'active', \$2 = '[^']*#(\w+)', \$3 = '[^']*', \$4 = '(\d+)'/.exec(line);
    const release = /^(\S+ \S+) .*app=(\S+ \S+) DETAIL:\s+parameters: \$1 = 'active', \$2 = '[^']*#(\w+)', \$3 = '(\d+)'$/.exec(line);
    const m = take ?? release;
    if (m === null) continue;
    const what = `${take !== null ? 'holds' : 'releases'} token ${m[4] ?? '?'} (holder …#${m[3] ?? '?'})`;
    // Renewals repeat the same holder and token every round: only changes are listed.
    if (what === last) continue;
    last = what;
    lines.push(`postgres ${m[1] ?? ''} ${m[2] ?? ''}: ${what}`);
  }
  return lines.length > 0 ? lines.slice(0, max).join('\n') : 'postgres: no lease write logged';
}

/** Every receipt of a deployment, as its customer gets them: the pages followed (`next`) from the first (docs/api.md GET /v1/receipts). */
export async function allReceiptsOf(lab: TestLab, actor: string, deployment: string, url?: string): Promise<ReceiptV2[]> {
  const all: ReceiptV2[] = [];
  let after: string | null = null;
  for (let page = 0; page < 1000; page++) {
    const path: string = `/v1/receipts?deployment=${deployment}${after !== null ? `&after=${after}` : ''}`;
    const r: { status: number; text: string; json: unknown } = url !== undefined ? await curlAt(lab, actor, url, path) : await lab.curl(actor, 'GET', path);
    assert.equal(r.status, 200, `${path}: ${r.text.slice(0, 300)}`);
    const body = r.json as { receipts: ReceiptV2[]; next: string | null };
    all.push(...body.receipts);
    if (body.next === null) return all;
    after = body.next;
  }
  throw new Error(`allReceiptsOf: more than 1000 pages of receipts for ${deployment}`);
}

/**
 * The billing after failovers, as alice and the ledger see it: `hypha receipt verify` passes on the
 * whole chain, ids are unique, each receipt starts where the one before ended (no period lost, none
 * twice), each charged receipt is in exactly one ledger charge, and her order and deployment are there.
 */
export async function checkBilledOnce(lab: TestLab, dir: string, deploymentId: string, orderId: string): Promise<ReceiptV2[]> {
  const receipts = await allReceiptsOf(lab, 'alice', deploymentId);
  const file = join(dir, 'alice-receipts.json');
  writeFileSync(file, JSON.stringify(receipts));
  const verified = await hypha(['receipt', 'verify', file, '--gateway', lab.state().gateway.agent]);
  assert.equal(verified.code, 0, verified.stderr + verified.stdout);
  assert.equal(new Set(receipts.map((r) => r.id)).size, receipts.length, 'every receipt id is unique');
  for (let j = 1; j < receipts.length; j++) {
    assert.equal(receipts[j]?.periodStart, receipts[j - 1]?.periodEnd, `receipt ${j} starts where the one before ended: no gap, no overlap`);
  }
  const charged = receipts.filter((r) => r.amount !== '0.000000');
  const charges = await waitFor('every charged receipt to be billed', async () => {
    const c = await ledgerEntries(lab, 'charge');
    return charged.every((r) => c.some((e) => (e.receiptIds as string[]).includes(r.id))) ? c : undefined;
  }, 30_000);
  const chargedIds = charges.flatMap((c) => c.receiptIds as string[]);
  assert.equal(new Set(chargedIds).size, chargedIds.length, 'no receipt was charged twice');
  const keys = charges.map((c) => c.key as string);
  assert.equal(new Set(keys).size, keys.length, 'no idempotency key was charged twice');
  const order = await lab.curl('alice', 'GET', `/v1/orders/${orderId}`);
  assert.equal(order.status, 200, order.text);
  const deployment = await lab.curl('alice', 'GET', `/v1/deployments/${deploymentId}`);
  assert.equal((deployment.json as { deployment: { state: string } }).deployment.state, 'active');
  return receipts;
}
