// bench/soak-attacker: bench/soak's attacker, a separate process flooding GET /v1/offers, agent hellos and link challenges from its own 400::/7 addresses for a bounded time.
// Usage: node dist/bench/soak-attacker.js PLAN_FILE; prints one JSON line (AttackSummary) when its time is up.
import { Agent, request } from 'node:http';
import { readFileSync } from 'node:fs';
import { WebSocket } from 'ws';
import { newIdentity, signJsonStatement, toBase64 } from '../src/identity/index.js';
import { AGENT_AUTH_PURPOSE } from '../src/protocol/index.js';

/** What bench/soak hands the attacker. */
export interface AttackPlan {
  readonly host: string;
  readonly port: number;
  /** Source addresses (each its own /64); loops use them in turn. */
  readonly addresses: readonly string[];
  readonly seconds: number;
  /** Concurrent loops, split over the three floods. */
  readonly concurrency: number;
  /** Hellos signed by a fresh key each (a valid signature: the gateway records a join request) or with garbage signatures. */
  readonly hello: 'signed' | 'garbage';
  /** Which floods run (the loops are split over them). */
  readonly floods: readonly ('offers' | 'hello' | 'challenge')[];
}

/** Outcomes by flood: HTTP statuses, WebSocket close codes, or `http NNN` for a refused upgrade, with counts. */
export interface AttackSummary {
  readonly t: 'attack';
  readonly seconds: number;
  /** CPU (user + system) the attacker process used, so a reader sees how much of the shared cores the flood itself took. */
  readonly cpuSeconds: number;
  readonly outcomes: Record<string, Record<string, number>>;
}

const planFile = process.argv[2];
if (planFile === undefined) {
  process.stderr.write('usage: node dist/bench/soak-attacker.js PLAN_FILE\n');
  process.exit(2);
}
const plan = JSON.parse(readFileSync(planFile, 'utf8')) as AttackPlan;
const deadline = Date.now() + plan.seconds * 1000;
const outcomes: Record<string, Record<string, number>> = { offers: {}, challenge: {}, hello: {} };
const note = (flood: string, outcome: string): void => {
  const o = outcomes[flood] as Record<string, number>;
  o[outcome] = (o[outcome] ?? 0) + 1;
};

function httpOnce(agent: Agent, from: string, method: string, path: string, body?: string): Promise<string> {
  return new Promise((resolve) => {
    const req = request({ host: plan.host, port: plan.port, family: 6, localAddress: from, method, path, agent, timeout: 10_000, headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(String(res.statusCode)));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve(`error ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    req.end(body);
  });
}

async function offersFlood(from: string): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  while (Date.now() < deadline) note('offers', await httpOnce(agent, from, 'GET', '/v1/offers'));
  agent.destroy();
}

async function challengeFlood(from: string): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  while (Date.now() < deadline) note('challenge', await httpOnce(agent, from, 'POST', '/v1/link/challenge', JSON.stringify({ agent: newIdentity().agent })));
  agent.destroy();
}

function helloOnce(from: string): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://[${plan.host}]:${plan.port}/v1/agent`, { localAddress: from, handshakeTimeout: 10_000 });
    const timer = setTimeout(() => ws.terminate(), 15_000);
    ws.on('message', (data: Buffer) => {
      const m = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
      if (m.type !== 'challenge') return;
      const me = newIdentity();
      const nodes = ['attack-node'];
      const signature = plan.hello === 'signed' ? toBase64(signJsonStatement(me.secretKey, AGENT_AUTH_PURPOSE, { agent: me.agent, gateway: m.gateway, nonce: m.nonce, nodes })) : 'AAAA';
      ws.send(JSON.stringify({ type: 'hello', agent: me.agent, nodes: nodes.map((id) => ({ id, capacity: { cpu: 1, memoryGb: 1, diskGb: 1 } })), signature }));
    });
    let settled = false;
    const settle = (outcome: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    // An upgrade the gateway refuses (429 from http.agentUpgradesPerMinute) is counted by its status, not as an abnormal close (1006).
    ws.on('unexpected-response', (req, res) => {
      settle(`http ${res.statusCode ?? '?'}`);
      res.resume();
      req.destroy();
    });
    ws.on('error', () => undefined);
    ws.on('close', (code) => settle(String(code)));
  });
}

async function helloFlood(from: string): Promise<void> {
  while (Date.now() < deadline) note('hello', await helloOnce(from));
}

const floodOf = { offers: offersFlood, hello: helloFlood, challenge: challengeFlood };
const floods = plan.floods.map((f) => floodOf[f]);
const started = Date.now();
await Promise.all(Array.from({ length: plan.concurrency }, (_, i) => (floods[i % floods.length] as (from: string) => Promise<void>)(plan.addresses[i % plan.addresses.length] as string)));
const used = process.cpuUsage();
const summary: AttackSummary = { t: 'attack', seconds: (Date.now() - started) / 1000, cpuSeconds: (used.user + used.system) / 1e6, outcomes };
process.stdout.write(JSON.stringify(summary) + '\n');
