// Fuzz: 2,000 generated agent WebSocket frames, before and after a valid signed handshake, against a live gateway; no internal error, no crash, the legit farmer stays connected, and nothing anyone owns changes.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { WebSocket } from 'ws';
import { newIdentity } from '../../src/identity/index.js';
import { chainNext, CLOSE, type Heartbeat } from '../../src/protocol/index.js';
import { rawRequest } from '../helpers/source-http.js';
import { SimAgent } from '../helpers/sim-agent.js';
import { waitFor } from '../helpers/lab.js';
import { startWorld, type FuzzWorld } from './fuzz-world.js';
import { afterFrame, afterFrameData, firstFrame, helloText, shouldWelcome, type AfterFrame, type FirstFrame, type FrameState } from './frame-arbitraries.js';
import { assertSeeded, fuzzSuite } from './fuzz-run.js';

const TOTAL = Number(process.env.HYPHA_FUZZ_RUNS ?? 2000);
/** Frames sent as the first message of a fresh connection; the rest go over welcomed connections. */
const FIRST_RUNS = Math.round(TOTAL * 0.3);
const AFTER_RUNS = TOTAL - FIRST_RUNS;

/** Close codes a refusal may carry: the gateway's own (src/protocol/agent-messages.ts CLOSE). */
const REFUSALS = new Set<number>([CLOSE.badMessage, CLOSE.authFailed, CLOSE.notApproved]);

/** How a connection attempt or a frame ended. */
type Outcome = { readonly welcomed: true; readonly ws: WebSocket } | { readonly welcomed: false; readonly code: number; readonly reason: string };

/** Opens a raw connection from `from`; resolves with the challenge and a promise of how it ends. */
function openRaw(url: string, from: string): Promise<{ ws: WebSocket; challenge: { nonce: string; gateway: string }; outcome: Promise<Outcome> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { localAddress: from, handshakeTimeout: 10_000 });
    let onOutcome: (o: Outcome) => void = () => undefined;
    const outcome = new Promise<Outcome>((r) => (onOutcome = r));
    ws.on('message', (data: Buffer) => {
      const m = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
      if (m.type === 'challenge') resolve({ ws, challenge: { nonce: String(m.nonce), gateway: String(m.gateway) }, outcome });
      else if (m.type === 'welcome') onOutcome({ welcomed: true, ws });
    });
    ws.on('close', (code, reason) => {
      onOutcome({ welcomed: false, code, reason: reason.toString('utf8') });
      reject(new Error(`closed before the challenge: ${code} ${reason.toString('utf8')}`));
    });
    ws.on('error', () => undefined);
  });
}

/** Resolves once the gateway has handled everything sent before: a pong, or the close it answered with. */
function barrier(ws: WebSocket, timeoutMs = 10_000): Promise<{ closed: false } | { closed: true; code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    if (ws.readyState !== WebSocket.OPEN) {
      reject(new Error('barrier on a socket that is not open'));
      return;
    }
    const timer = setTimeout(() => reject(new Error(`no pong or close within ${timeoutMs} ms`)), timeoutMs);
    const done = (v: { closed: false } | { closed: true; code: number; reason: string }): void => {
      clearTimeout(timer);
      ws.off('pong', onPong);
      ws.off('close', onClose);
      resolve(v);
    };
    const onPong = (): void => done({ closed: false });
    const onClose = (code: number, reason: Buffer): void => done({ closed: true, code, reason: reason.toString('utf8') });
    ws.on('pong', onPong);
    ws.on('close', onClose);
    ws.ping();
  });
}

const pendingRequests = (world: FuzzWorld): string[] =>
  world.gateway.parts.store.agents
    .values()
    .filter((a) => a.source === 'request')
    .map((a) => a.agent);

fuzzSuite('Agent frame fuzz: hellos, heartbeats, replies, garbage', import.meta.url, async (t, seed) => {
  const world = await startWorld();
  t.after(() => world.close());
  const stranger = newIdentity();
  const closes = new Map<string, number>();
  const count = (k: string): void => void closes.set(k, (closes.get(k) ?? 0) + 1);
  const state = (nonce: string, seq = 0, head = ''): FrameState => ({
    fuzzFarmer: world.fuzzFarmer,
    legitFarmer: world.farmer.agent,
    stranger,
    gateway: world.farmer.gateway,
    nonce,
    ownNode: world.ids.fuzzNode,
    foreignNode: world.ids.farmerNode,
    periodMs: world.gateway.config.billing.periodMs,
    seq,
    head,
  });
  const legitStillThere = (): void => assert.ok(world.farmer.ready && world.gateway.parts.hub.agents().some((a) => a.agent === world.farmer.agent), 'the legit farmer is still connected');

  // Broken upgrades never reach the protocol: a clear 4xx, never a 5xx.
  for (const [what, request] of [
    ['no key', 'GET /v1/agent HTTP/1.1\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\n\r\n'],
    ['bad version', 'GET /v1/agent HTTP/1.1\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 99\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'],
    ['bad key', 'GET /v1/agent HTTP/1.1\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: short\r\n\r\n'],
    ['other path', 'GET /v1/agents HTTP/1.1\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'],
    ['post', 'POST /v1/agent HTTP/1.1\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\ncontent-length: 0\r\n\r\n'],
    ['other protocol', 'GET /v1/agent HTTP/1.1\r\nconnection: upgrade\r\nupgrade: h2c\r\n\r\n'],
  ] as const) {
    const answer = await rawRequest(world.target, world.callers.stranger.address, Buffer.from(request, 'latin1'), 5000);
    assert.ok(answer.status !== null && answer.status >= 400 && answer.status < 500, `${what}: ${answer.status} ${answer.error ?? ''} ${answer.head.slice(0, 200)}`);
  }

  // Phase 1: the first frame of a fresh connection, from the farm's /64 or a stranger's.
  let welcomed = 0;
  const first = fc.asyncProperty(firstFrame, async (f: FirstFrame) => {
    const before = world.snapshot({ ignoreJoinRequests: true });
    const requestsBefore = pendingRequests(world);
    const conn = await openRaw(world.wsUrl, world.callers[f.from].address);
    const s = state(conn.challenge.nonce);
    const frame = f.hello ? helloText(f.hello, s) : f.raw && 'binary' in f.raw ? f.raw.binary : (f.raw?.text ?? '');
    conn.ws.send(frame);
    const outcome = await Promise.race([conn.outcome, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no welcome or close within 10 s')), 10_000))]);
    const what = JSON.stringify(f.hello ?? f.raw).slice(0, 300);
    if (outcome.welcomed) {
      welcomed++;
      assert.ok(shouldWelcome(f), `welcomed, but should have been refused: ${what}`);
      conn.ws.close();
      await conn.outcome.then(() => new Promise((r) => conn.ws.once('close', r)));
    } else {
      count(`first ${outcome.code}`);
      assert.ok(!shouldWelcome(f), `refused (${outcome.code} ${outcome.reason}), but should have been welcomed: ${what}`);
      assert.ok(REFUSALS.has(outcome.code), `closed with ${outcome.code} ${outcome.reason}: ${what}`);
    }
    assert.equal(world.snapshot({ ignoreJoinRequests: true }), before, `a first frame changed state: ${what}`);
    const newRequests = pendingRequests(world).filter((a) => !requestsBefore.includes(a));
    for (const a of newRequests) assert.ok(a === stranger.agent && f.hello?.agent === 'stranger-key' && f.hello.signature === 'valid', `a join request for ${a} from ${what}`);
    legitStillThere();
  });
  let started = Date.now();
  await assertSeeded(first, seed, FIRST_RUNS);
  t.diagnostic(`${FIRST_RUNS} first frames in ${((Date.now() - started) / 1000).toFixed(1)} s: ${welcomed} welcomed; closes ${JSON.stringify(Object.fromEntries(closes))}`);
  assert.ok(welcomed > 0 && (closes.get(`first ${CLOSE.badMessage}`) ?? 0) > 0 && (closes.get(`first ${CLOSE.authFailed}`) ?? 0) > 0 && (closes.get(`first ${CLOSE.notApproved}`) ?? 0) > 0, 'every kind of refusal and a welcome occurred');

  // Phase 2: frames on the fuzz farmer's own welcomed connection; a refusal closes it, and it reconnects.
  const sim = new SimAgent({ identity: world.fuzzFarmer, nodes: [world.ids.fuzzNode], localAddress: world.callers.farm.address });
  let reconnects = 0;
  const after = fc.asyncProperty(afterFrame, async (f: AfterFrame) => {
    if (!sim.ready) {
      const o = await sim.connect(world.wsUrl, 10_000);
      assert.ok(o.welcomed, `the fuzz farmer could not reconnect: ${JSON.stringify(o)}`);
      reconnects++;
    }
    const before = world.snapshot();
    const s = state('', sim.seq, sim.head);
    const data = afterFrameData(f, s, (prev, hb) => chainNext(prev, hb as unknown as Heartbeat));
    (sim.ws as WebSocket).send(data);
    const r = await barrier(sim.ws as WebSocket);
    const what = JSON.stringify(f).slice(0, 300);
    if (r.closed) {
      count(`after ${r.code} ${r.reason.slice(0, 50)}`);
      assert.equal(r.code, CLOSE.badMessage, `closed with ${r.code} ${r.reason}: ${what}`);
    } else {
      sim.seq = s.seq;
      sim.head = s.head;
    }
    assert.equal(world.snapshot(), before, `a frame changed state: ${what}`);
    legitStillThere();
  });
  started = Date.now();
  await assertSeeded(after, seed, AFTER_RUNS);
  // Whatever periods the frames named, the hub keeps a few per agent (it kept one per distinct period stamped, never pruned).
  const held = world.gateway.parts.hub.heldEvidence(world.fuzzFarmer.agent);
  assert.ok(held.periods <= 3 && held.heads <= 6, `the hub holds ${held.periods} open periods and ${held.heads} signed heads for one agent`);
  sim.close();
  t.diagnostic(`${AFTER_RUNS} frames after a welcome in ${((Date.now() - started) / 1000).toFixed(1)} s, ${reconnects} handshakes; closes ${JSON.stringify(Object.fromEntries(closes))}`);
  assert.ok(reconnects > 1, 'bad frames closed the connection and it reconnected');

  // The gateway still answers, and still counts the legit farmer's heartbeats.
  const who = await world.call('alice', 'GET', '/v1/whoami');
  assert.equal(who.status, 200, who.text);
  assert.ok(world.farmer.beat(), 'the farmer is still connected');
  await waitFor("the farmer's heartbeat to be counted", () => world.gateway.parts.hub.agents().find((a) => a.agent === world.farmer.agent && a.seq === world.farmer.seq));
  assert.deepEqual(world.errorsLogged(), [], 'the gateway logged no error');
});
