// The fuzz suites' world: a real gateway started in this process on a 400::/7 address of a private namespace, with linked customers, an admin, an approved farmer agent serving a deployment, and a snapshot of everything customers and farmers own.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { newIdentity, sign, subnet64, toBase64, utf8, type Identity } from '../../src/identity/index.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import type { EmbeddedLedger } from '../../src/gateway/ledger/embedded-ledger.js';
import { addLoopbackAddresses, randomAddressIn } from '../helpers/private-netns.js';
import { jsonRequest, type JsonAnswer, type Target } from '../helpers/source-http.js';
import { SimAgent } from '../helpers/sim-agent.js';
import { scratchDir } from '../helpers/paths.js';
import { waitFor } from '../helpers/lab.js';

/** Who calls: each from its own address in its own /64. */
export type CallerName = 'alice' | 'bob' | 'carol' | 'admin' | 'farm' | 'stranger';

/** A caller: its source address, and its Unyt identity when it has one. */
export interface Caller {
  readonly name: CallerName;
  readonly address: string;
  readonly subnet: string;
  readonly identity?: Identity;
}

/** Ids of real records, for the generators to aim at. */
export interface WorldIds {
  readonly aliceOrder: string;
  readonly aliceDeployment: string;
  readonly bobOrder: string;
  readonly farmerNode: string;
  readonly fuzzNode: string;
}

/** An ed25519 SSH public key that the gateway accepts (test/vectors/ssh-keys.json, made with ssh-keygen). */
export const SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJwNGHzv2uT5UPGIxiHH7zW9K70Vt2MzQ53aJjDn2BQF alice@laptop';

/** The running world. */
export interface FuzzWorld {
  readonly gateway: Gateway;
  readonly target: Target;
  readonly wsUrl: string;
  readonly callers: Readonly<Record<CallerName, Caller>>;
  /** The legit farmer: connected, heartbeating, running alice's VM. */
  readonly farmer: SimAgent;
  /** A second approved agent the frame fuzzer authenticates as (node `ids.fuzzNode`, from the farm's /64). */
  readonly fuzzFarmer: Identity;
  readonly ids: WorldIds;
  /** Everything customers and farmers own, as text: store tables and ledger entries. */
  snapshot(options?: { ignoreJoinRequests?: boolean }): string;
  /** Waits until the snapshot stops changing (work a 2xx request started is done); returns it. */
  settle(): Promise<string>;
  /** A JSON request from a caller. */
  call(caller: CallerName, method: string, path: string, body?: unknown): Promise<JsonAnswer>;
  /** Log lines at level error or above so far (a 500, a failed admit). */
  errorsLogged(): string[];
  close(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Starts the world; the caller must be in a private namespace (see test/helpers/private-netns.ts). */
export async function startWorld(): Promise<FuzzWorld> {
  const [gw, ...rest] = await addLoopbackAddresses(7);
  const names: CallerName[] = ['alice', 'bob', 'carol', 'admin', 'farm', 'stranger'];
  const ids = { alice: newIdentity(), bob: newIdentity(), carol: newIdentity(), admin: newIdentity() };
  const callers = Object.fromEntries(
    names.map((name, i) => {
      const address = rest[i] as string;
      const identity = (ids as Record<string, Identity | undefined>)[name];
      return [name, { name, address, subnet: subnet64(address), ...(identity ? { identity } : {}) }];
    }),
  ) as Record<CallerName, Caller>;
  const farmerId = newIdentity();
  const fuzzFarmer = newIdentity();
  const farmerNode = 'node-a';
  const fuzzNode = 'node-fz';
  const { dir, remove } = scratchDir('hypha-fuzz-');
  const logFile = join(dir, 'gateway.log');
  const log = pino({ level: 'warn' }, pino.destination({ dest: logFile, sync: true }));
  const config = parseGatewayConfig(
    {
      listen: gw,
      port: 8480,
      dataDir: join(dir, 'data'),
      admins: [callers.admin.subnet],
      agents: [
        { agent: farmerId.agent, subnets: [callers.farm.subnet], nodes: [farmerNode] },
        { agent: fuzzFarmer.agent, subnets: [callers.farm.subnet], nodes: [fuzzNode] },
      ],
      // No period ends, no background loop runs during a fuzz run: only requests and frames change state.
      billing: { periodHours: 1000, tickSeconds: 3600, startupWaitSeconds: 3600 },
      orders: { checkIntervalSeconds: 3600 },
      probes: { enabled: false },
      provisioner: { kind: 'agent', commandTimeoutSeconds: 5 },
      // The fixture callers send thousands of requests and upgrades in seconds, on purpose: their buckets are
      // lifted so the fuzz reaches the handlers; unlinked callers keep the default bucket (its 429s are fuzzed too).
      http: { linkedRequestsPerMinute: 10_000_000, agentUpgradesPerMinute: 10_000_000 },
    },
    dir,
  );
  const gateway = await Gateway.start(config, log);
  // A half-finished start-up closes what it opened (a test that fails here must still end).
  let farmer: SimAgent | undefined;
  let beating: NodeJS.Timeout | undefined;
  const closeAll = async (): Promise<void> => {
    clearInterval(beating);
    farmer?.close();
    await gateway.close();
    if (process.env.HYPHA_KEEP_LAB !== '1') remove();
  };
  try {
    return await populate();
  } catch (err) {
    await closeAll();
    throw err;
  }

  async function populate(): Promise<FuzzWorld> {
    const target: Target = { host: gw as string, port: 8480 };
    const wsUrl = `ws://[${gw as string}]:8480/v1/agent`;
    const call = (caller: CallerName, method: string, path: string, body?: unknown): Promise<JsonAnswer> => jsonRequest(target, callers[caller].address, method, path, body);

    const legit = new SimAgent({ identity: farmerId, nodes: [farmerNode], capacity: { cpu: 64, memoryGb: 256, diskGb: 4000 }, localAddress: callers.farm.address, vmAddress: () => randomAddressIn(callers.farm.subnet) });
    farmer = legit;
    const welcomed = await legit.connect(wsUrl);
    if (!welcomed.welcomed) throw new Error(`the farmer was not welcomed: ${welcomed.code} ${welcomed.reason}`);
    legit.beat();
    beating = setInterval(() => legit.beat(), 2000);

    for (const name of ['alice', 'bob', 'carol', 'admin'] as const) await linkCaller(call, callers[name]);
    const expect = (r: JsonAnswer, status: number, what: string): JsonAnswer => {
      if (r.status !== status) throw new Error(`${what}: ${r.status} ${r.text}`);
      return r;
    };
    await waitFor('the farmer node to be up', async () => ((await call('alice', 'GET', '/v1/offers')).json as { offers: { available: number }[] }).offers.some((o) => o.available > 0) || undefined, 10_000);
    const aliceOrder = (expect(await call('alice', 'POST', '/v1/orders', { offer: 'small', sshKeys: [SSH_KEY] }), 201, 'alice orders').json as { order: { id: string } }).order.id;
    // Enough for one small VM's deposit (0.05/h x 24 h) and no more: her later orders wait for payment.
    expect(await call('admin', 'POST', '/admin/api/ledger/fund', { agent: callers.alice.identity?.agent, amount: '1.5' }), 200, 'fund alice');
    const aliceDeployment = await waitFor(
      'alice\'s order to be active',
      async () => {
        const o = (await call('alice', 'GET', `/v1/orders/${aliceOrder}`)).json as { order: { state: string; deployment?: { id: string } } };
        return o.order.state === 'active' ? o.order.deployment?.id : undefined;
      },
      15_000,
    );
    const bobOrder = (expect(await call('bob', 'POST', '/v1/orders', { offer: 'medium', sshKeys: [SSH_KEY] }), 201, 'bob orders').json as { order: { id: string } }).order.id;

    const ledger = gateway.parts.ledger as EmbeddedLedger;
    const snapshot = (options: { ignoreJoinRequests?: boolean } = {}): string => {
      const { store } = gateway.parts;
      const table = <T>(t: { values(): T[] }): T[] => t.values();
      const agents = table(store.agents).filter((a) => !(options.ignoreJoinRequests && a.source === 'request' && a.state === 'pending'));
      const state = { links: table(store.links), agents, orders: table(store.orders), deployments: table(store.deployments), chains: table(store.chains), meta: table(store.meta), ledger: ledger.summary() };
      return JSON.stringify(state, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v instanceof Map ? [...(v as Map<unknown, unknown>)] : v));
    };
    const settle = async (): Promise<string> => {
      let last = snapshot();
      for (let i = 0; i < 100; i++) {
        await gateway.parts.store.flush();
        await sleep(15);
        const now = snapshot();
        if (now === last) return now;
        last = now;
      }
      return last;
    };
    return {
      gateway,
      target,
      wsUrl,
      callers,
      farmer: legit,
      fuzzFarmer,
      ids: { aliceOrder, aliceDeployment, bobOrder, farmerNode, fuzzNode },
      snapshot,
      settle,
      call,
      errorsLogged: () =>
        readFileSync(logFile, 'utf8')
          .split('\n')
          .filter((line) => /^\{"level":(5|6)0,/.test(line)),
      close: closeAll,
    };
  }
}

/** Links a caller's /64 to its identity: challenge, sign the statement, link (the customer's own steps). */
async function linkCaller(call: (c: CallerName, m: string, p: string, b?: unknown) => Promise<JsonAnswer>, caller: Caller): Promise<void> {
  const identity = caller.identity as Identity;
  const challenge = await call(caller.name, 'POST', '/v1/link/challenge', { agent: identity.agent });
  if (challenge.status !== 201) throw new Error(`challenge for ${caller.name}: ${challenge.status} ${challenge.text}`);
  const { nonce, statement } = challenge.json as { nonce: string; statement: string };
  const signature = toBase64(sign(identity.secretKey, utf8(statement)));
  const linked = await call(caller.name, 'POST', '/v1/link', { agent: identity.agent, nonce, signature });
  if (linked.status !== 201) throw new Error(`link ${caller.name}: ${linked.status} ${linked.text}`);
}
