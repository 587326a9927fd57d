// `hypha lab …`: bring the local Mycelium lab up and down, show it, and run commands as its actors.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { LabError, actorOf, labDown, labLink, labStart, labStop, labUp, registerProxy, unregisterProxy } from '../lab/lab.js';
import { hyphaCommand, labDir, readLabState, type LabState } from '../lab/lab-state.js';
import { describeCaller, startAdminProxy } from '../lab/admin-proxy.js';
import { labGateways, refreshActiveGateway, type LabGateway } from '../lab/lab-gateways.js';
import { parseAmount } from '../protocol/money.js';
import { optional, parse, positiveNumber, required } from './args.js';
import { UsageError } from './cli-error.js';
import { untilStopped } from './until-stopped.js';
import { errorMessage } from '../identity/index.js';

export const LAB_HELP = `hypha lab — a Mycelium-like network on this machine (needs root for network namespaces)

  hypha lab up [--detach] [--keep] [--hour SECONDS] [--dir DIR] [--name NAME] [--deposit-hours H] [--grace-hours H] [--ledger embedded|unyt] [--gateway-config JSON] [--store embedded|postgres] [--gateways 1|2] [--link-ttl SECONDS]
      build the lab and start the gateway (and, with agents, the farmers); without --detach it
      stays in the foreground and tears the lab down on Ctrl-C (or when \`hypha lab down\` runs
      elsewhere). Every lab gets new keys and Mycelium addresses; --keep reuses the last lab's
      (its gateway data, links and orders still start empty). --hour: real seconds one billed
      hour lasts (default 2). --deposit-hours / --grace-hours shorten the deposit (24) and the
      grace period (72), to watch funds run out and grace end within a minute. --ledger unyt: the
      ledger actor is a stand-in for a Holochain conductor with the Unyt hApp (src/lab/unyt-conductor)
      and the gateway bills on it (ledger.kind "unyt"); default: hypha's embedded ledger.
      --gateway-config: a JSON object whose top-level keys replace the lab gateway's config keys
      (e.g. '{"escrow": {"windowHours": 10}}'), to try a policy in the lab.
      --link-ttl: how long a link challenge lives (the gateway's link.challengeTtlSeconds, default 300).
      --store postgres: the gateway keeps its state in a PostgreSQL server the lab runs in DIR/postgres.
      --gateways 2 (needs --store postgres): two gateway processes, \`gateway\` and \`gateway-2\`, on two
      addresses with one key and one store; one holds the lease and serves, the other answers 503
      naming it and takes over when it dies. The agents list both; \`lab status\` shows each one's role
      (active, standby, unresponsive: alive but no answer within 8 s, or down) and points \`gateway\`
      (and $HYPHA_GATEWAY in \`lab exec\`) at the active one.
  hypha lab fund CUSTOMER AMOUNT [--dir DIR]   pay AMOUNT SPORE into CUSTOMER's agreement: with the
      embedded ledger the admin (linked) posts /admin/api/ledger/fund; with --ledger unyt the
      customer's wallet parks a spend on their agreement (create_parked_spend), seen at the next settle
  hypha lab status [--json] [--dir DIR]
  hypha lab exec ACTOR [--dir DIR] -- CMD…   run CMD with ACTOR's Mycelium address as its source
  hypha lab link ACTOR [--dir DIR]          link ACTOR's /64 to its Unyt key (runs hypha link in ACTOR's namespace)
  hypha lab stop|start|restart ACTOR [--signal KILL]   stop (SIGTERM, or kill -9), start, restart its process
      (a gateway by its name: \`lab stop gateway-2 --signal KILL\`)
  hypha lab demo [--dir DIR]   play a customer's whole story against the running lab, step by step:
      link, order, pay, ssh, billing, low funds, grace, top-up, cancel, verify the receipts.
      Prints each command a person would type and what it showed; files go to DIR/demo.
      Funds run out after the deposit period (24 lab hours: about 50 s at --hour 2)
  hypha lab proxy ACTOR [--dir DIR] [--port N]   be ACTOR in this machine's browser: listens on
      127.0.0.1:N (default: a free port, printed) and connects to the gateway from ACTOR's lab
      address, so http://127.0.0.1:N/ is ACTOR's customer page (and /admin the status page for
      the admin); it refuses other sites' pages and other Host names; Ctrl-C stops it
  hypha lab admin-proxy [--dir DIR] [--port N]   the same as \`hypha lab proxy admin\`
  hypha lab unyt-conductor --dir DIR --listen ADDR --port N --admin-port N --farmer-share-bps BPS [--customer NAME=AGENTPUBKEY…]
      the ledger actor with --ledger unyt (lab up starts it in the ledger's namespace; not run by hand)
  hypha lab unyt-park CUSTOMER AMOUNT [--dir DIR]
      a customer's wallet parking a spend (lab fund runs it in the customer's namespace with --ledger unyt; not run by hand)
  hypha lab down [--dir DIR]    stop everything the lab started (admin proxies and a foreground
      \`lab up\` included) and remove its namespaces; keys and logs stay in DIR

DIR defaults to $HYPHA_LAB_DIR or data/lab in the hypha folder.

Exit status: 0 OK, 2 bad input or a lab that is not up (one line on stderr says why).`;

/** Runs `hypha lab SUB …`. */
export async function labCommand(argv: string[], out: (s: string) => void): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    // With two gateways, the commands that talk to "the gateway" talk to the one active now.
    const followed = sub !== undefined && FOLLOW_ACTIVE.has(sub) ? await refreshActiveGateway(labDir(dirOption(rest))) : null;
    switch (sub) {
      case 'up':
        return await up(rest, out);
      case 'status': {
        const p = parse(rest, { json: { type: 'boolean' }, dir: { type: 'string' } }, false);
        // The roles the refresh saw, not a second look: a takeover between two probes would show a state pointing at no active gateway.
        const state = followed?.state ?? requireLab(labDir(optional(p, 'dir')));
        const gateways = state.gateways ? (followed?.gateways ?? (await labGateways(state))) : undefined;
        out(p.values.json ? JSON.stringify({ ...statusJson(state), ...(gateways ? { gateways } : {}) }, null, 2) : describe(state, gateways));
        return 0;
      }
      case 'exec':
        return await exec(rest);
      case 'stop':
      case 'start':
      case 'restart': {
        const p = parse(rest, { dir: { type: 'string' }, signal: { type: 'string' } });
        if (p.positionals.length !== 1) throw new UsageError(`usage: hypha lab ${sub} ACTOR [--dir DIR]${sub === 'stop' ? ' [--signal KILL]' : ''}`);
        const dir = labDir(optional(p, 'dir'));
        const actor = p.positionals[0] as string;
        if (sub !== 'start') await labStop(dir, actor, signalName(optional(p, 'signal')));
        if (sub !== 'stop') {
          const started = await labStart(dir, actor);
          out(`${actor} running, pid ${started.pid}`);
        } else out(`${actor} stopped`);
        return 0;
      }
      case 'link': {
        const p = parse(rest, { dir: { type: 'string' } });
        if (p.positionals.length !== 1) throw new UsageError('usage: hypha lab link ACTOR [--dir DIR]');
        const linked = await labLink(labDir(optional(p, 'dir')), p.positionals[0] as string);
        out(JSON.stringify(linked));
        return 0;
      }
      case 'demo': {
        const p = parse(rest, { dir: { type: 'string' } }, false);
        // Loaded only here: the other lab commands start as fast as before.
        const { labDemo } = await import('../lab/lab-demo.js');
        await labDemo({ dir: labDir(optional(p, 'dir')), out });
        return 0;
      }
      case 'proxy':
      case 'admin-proxy': {
        const p = parse(rest, { dir: { type: 'string' }, port: { type: 'string' } });
        // `admin-proxy` is `proxy admin`, kept for the docs and scripts that name it.
        if (sub === 'proxy' ? p.positionals.length !== 1 : p.positionals.length !== 0) throw new UsageError(sub === 'proxy' ? 'usage: hypha lab proxy ACTOR [--dir DIR] [--port N]' : 'usage: hypha lab admin-proxy [--dir DIR] [--port N]');
        const actor = sub === 'proxy' ? (p.positionals[0] as string) : 'admin';
        const portText = optional(p, 'port');
        const port = portText === undefined ? 0 : Number(portText);
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a TCP port (0-65535, 0 for a free one), got ${JSON.stringify(portText)}`);
        const dir = labDir(optional(p, 'dir'));
        const proxy = await startAdminProxy({ dir, port, actor });
        // Recorded in the lab's state so `hypha lab down` stops this proxy too.
        registerProxy(dir, process.pid);
        if (actor === 'admin') out(`admin status page: ${proxy.url}`);
        out(`${actor}'s page: ${proxy.home}`);
        out(`  forwarding 127.0.0.1:${proxy.port} to ${proxy.gateway} from ${proxy.via}; ${await describeCaller(proxy, actor)}`);
        out('  Ctrl-C (or `hypha lab down`) stops the proxy.');
        await untilStopped();
        await proxy.close();
        unregisterProxy(dir, process.pid);
        out(`${actor} proxy stopped`);
        return 0;
      }
      case 'fund': {
        const p = parse(rest, { dir: { type: 'string' } });
        if (p.positionals.length !== 2) throw new UsageError('usage: hypha lab fund CUSTOMER AMOUNT [--dir DIR]');
        const { labFund } = await import('../lab/lab-fund.js');
        out(JSON.stringify(await labFund(labDir(optional(p, 'dir')), p.positionals[0] as string, positiveAmount(p.positionals[1] as string))));
        return 0;
      }
      case 'unyt-conductor':
        return await unytConductor(rest, out);
      case 'unyt-park': {
        // Run by `lab fund` inside the customer's namespace; not meant to be typed.
        const p = parse(rest, { dir: { type: 'string' } });
        if (p.positionals.length !== 2) throw new UsageError('usage: hypha lab unyt-park CUSTOMER AMOUNT [--dir DIR]');
        const [{ parkFunds }, { labLedgerDir }] = await Promise.all([import('../lab/unyt-conductor/wallet-park.js'), import('../lab/lab-fund.js')]);
        out(JSON.stringify(await parkFunds(labLedgerDir(labDir(optional(p, 'dir'))), p.positionals[0] as string, positiveAmount(p.positionals[1] as string))));
        return 0;
      }
      case 'down': {
        const p = parse(rest, { dir: { type: 'string' } }, false);
        const dir = labDir(optional(p, 'dir'));
        await labDown(dir);
        out(`lab in ${dir} is down`);
        return 0;
      }
      case undefined:
      case '--help':
        out(LAB_HELP);
        return sub === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "hypha lab ${sub}"; see hypha lab --help`);
    }
  } catch (err) {
    if (err instanceof LabError) throw new UsageError(err.message);
    throw err;
  }
}

/** The subcommands that reach the gateway through the state's `gateway`, refreshed to the active one first. */
const FOLLOW_ACTIVE = new Set(['status', 'exec', 'link', 'demo', 'proxy', 'admin-proxy', 'fund']);

/** `--dir DIR` (or `--dir=DIR`) among a subcommand's options, before any `--` (exec's command may have its own). */
function dirOption(argv: readonly string[]): string | undefined {
  const end = argv.indexOf('--');
  const own = end < 0 ? argv : argv.slice(0, end);
  const at = own.indexOf('--dir');
  if (at >= 0) return own[at + 1];
  return own.find((a) => a.startsWith('--dir='))?.slice('--dir='.length);
}

async function up(argv: string[], out: (s: string) => void): Promise<number> {
  const p = parse(argv, { store: { type: 'string' }, gateways: { type: 'string' }, detach: { type: 'boolean' }, keep: { type: 'boolean' }, hour: { type: 'string' }, dir: { type: 'string' }, name: { type: 'string' }, 'link-ttl': { type: 'string' }, 'deposit-hours': { type: 'string' }, 'grace-hours': { type: 'string' }, ledger: { type: 'string' }, 'gateway-config': { type: 'string' } }, false);
  const ledger = optional(p, 'ledger') ?? 'embedded';
  if (ledger !== 'embedded' && ledger !== 'unyt') throw new UsageError(`--ledger must be "embedded" or "unyt", got ${JSON.stringify(ledger)}`);
  const store = optional(p, 'store') ?? 'embedded';
  if (store !== 'embedded' && store !== 'postgres') throw new UsageError(`--store must be "embedded" or "postgres", got ${JSON.stringify(store)}`);
  const gatewaysText = optional(p, 'gateways') ?? '1';
  if (gatewaysText !== '1' && gatewaysText !== '2') throw new UsageError(`--gateways must be 1 or 2, got ${JSON.stringify(gatewaysText)}`);
  if (gatewaysText === '2' && store !== 'postgres') throw new UsageError('--gateways 2 needs --store postgres: the two gateways share one PostgreSQL store and its lease');
  const dir = labDir(optional(p, 'dir'));
  const name = optional(p, 'name') ?? (process.env.HYPHA_LAB_DIR || optional(p, 'dir') ? `l${randomBytes(3).toString('hex')}` : 'lab');
  const hourSeconds = positiveNumber(p, 'hour', 2);
  const linkTtl = optional(p, 'link-ttl');
  const keep = p.values.keep === true;
  out(
    keep
      ? `Reusing the last lab's keys and Mycelium addresses from ${dir}/keys (--keep); the gateway's data (links, orders) starts empty.`
      : 'Every `hypha lab up` makes new keys and Mycelium addresses for every actor: links, orders and addresses of an earlier lab do not carry over (--keep reuses the last keys and addresses).',
  );
  const state = await labUp({
    dir,
    name,
    hourSeconds,
    keep,
    ...(ledger === 'unyt' ? { ledger } : {}),
    ...(store === 'postgres' ? { store } : {}),
    ...(gatewaysText === '2' ? { gateways: 2 } : {}),
    ...(p.values.detach ? {} : { supervisorPid: process.pid }),
    ...(linkTtl !== undefined ? { linkTtlSeconds: positiveNumber(p, 'link-ttl', 300) } : {}),
    ...(optional(p, 'deposit-hours') !== undefined ? { depositHours: positiveNumber(p, 'deposit-hours', 24) } : {}),
    ...(optional(p, 'grace-hours') !== undefined ? { graceHours: positiveNumber(p, 'grace-hours', 72) } : {}),
    ...(optional(p, 'gateway-config') !== undefined ? { gatewayConfig: jsonObject(optional(p, 'gateway-config') as string) } : {}),
  });
  out(describe(state));
  if (p.values.detach) return 0;
  out('\nThe lab runs until you press Ctrl-C (or run `hypha lab down`).');
  if ((await untilStoppedOrGone(dir, state)) === 'gone' || !isSameLab(readLabState(dir), state)) {
    out('the lab was taken down (`hypha lab down`); exiting');
    return 0;
  }
  await labDown(dir);
  out('lab is down');
  return 0;
}

/** Whether `now` (the state file as it is now) is still the lab `state` describes. */
function isSameLab(now: LabState | null, state: LabState): boolean {
  return now !== null && now.name === state.name && now.epochMs === state.epochMs;
}

/** How often a foreground lab checks that its state file is still there. */
const LAB_WATCH_MS = 300;

/**
 * Waits for Ctrl-C/SIGTERM ("signal"), or for the lab to be taken down from elsewhere
 * ("gone": its lab.json removed or replaced by another lab's), whichever comes first.
 */
async function untilStoppedOrGone(dir: string, state: LabState): Promise<'signal' | 'gone'> {
  const controller = new AbortController();
  const gone = new Promise<'gone'>((resolve) => {
    const timer = setInterval(() => {
      if (!isSameLab(readLabState(dir), state)) {
        clearInterval(timer);
        resolve('gone');
      }
    }, LAB_WATCH_MS);
    controller.signal.addEventListener('abort', () => clearInterval(timer));
  });
  const stopped = untilStopped(undefined, controller.signal).then(() => 'signal' as const);
  const first = await Promise.race([gone, stopped]);
  controller.abort();
  return first;
}

async function exec(argv: string[]): Promise<number> {
  const dash = argv.indexOf('--');
  if (dash < 0 || dash === argv.length - 1) throw new UsageError('usage: hypha lab exec ACTOR [--dir DIR] -- CMD…');
  const p = parse(argv.slice(0, dash), { dir: { type: 'string' } });
  if (p.positionals.length !== 1) throw new UsageError('usage: hypha lab exec ACTOR [--dir DIR] -- CMD…');
  const state = requireLab(labDir(optional(p, 'dir')));
  const actor = actorOf(state, p.positionals[0] as string);
  const [cmd, ...args] = argv.slice(dash + 1) as [string, ...string[]];
  const child = spawn('ip', ['netns', 'exec', actor.ns, cmd, ...args], {
    stdio: 'inherit',
    env: { ...process.env, HYPHA_GATEWAY: state.gateway.url, HYPHA_KEY: actor.key, HYPHA_ACTOR: actor.name },
  });
  return new Promise((resolve) => {
    child.on('error', () => resolve(127));
    child.on('close', (code, sig) => resolve(code ?? (sig ? 128 : 1)));
  });
}

function signalName(text: string | undefined): NodeJS.Signals {
  if (text === undefined) return 'SIGTERM';
  const name = (text.startsWith('SIG') ? text : `SIG${text}`).toUpperCase();
  if (!['SIGTERM', 'SIGKILL', 'SIGINT'].includes(name)) throw new UsageError('--signal must be TERM, KILL or INT');
  return name as NodeJS.Signals;
}

function requireLab(dir: string): LabState {
  const state = readLabState(dir);
  if (!state) throw new UsageError(`no lab is up in ${dir}; start one with \`${hyphaCommand()} lab up${dirFlag(dir)}\``);
  return state;
}

function statusJson(state: LabState): Record<string, unknown> {
  return {
    name: state.name,
    dir: state.dir,
    hourSeconds: state.hourSeconds,
    ledger: state.ledger ?? 'embedded',
    store: state.store ?? 'embedded',
    gateway: { address: state.gateway.address, port: state.gateway.port, url: state.gateway.url, pid: state.gateway.pid, agent: state.gateway.agent },
    actors: state.actors.map((a) => ({
      name: a.name,
      role: a.role,
      address: a.address,
      subnet: a.subnet,
      key: a.key,
      ...(a.pid !== undefined ? { pid: a.pid } : {}),
      ...(a.node !== undefined ? { node: a.node } : {}),
      ...(a.log !== undefined ? { log: a.log } : {}),
    })),
  };
}

/** ` --dir DIR` when the lab is not where `hypha lab` looks by default, so printed commands work as pasted. */
function dirFlag(dir: string): string {
  return dir === labDir(undefined) ? '' : ` --dir ${dir}`;
}

function describe(state: LabState, gateways?: readonly LabGateway[]): string {
  const gw = state.gateway.url;
  const hypha = hyphaCommand();
  const lab = (sub: string): string => `${hypha} lab ${sub}${dirFlag(state.dir)}`;
  const rows = state.actors.map((a) => `  ${a.name.padEnd(9)} ${a.role.padEnd(9)} ${a.address.padEnd(40)} key ${a.key}${a.pid ? `  pid ${a.pid}` : ''}`);
  return [
    `lab "${state.name}" in ${state.dir} (one billed hour = ${state.hourSeconds} s; ledger: ${state.ledger === 'unyt' ? 'Unyt conductor stand-in, pay with `lab fund CUSTOMER AMOUNT`' : 'embedded'})`,
    `gateway ${gw}  (${state.gateway.agent})`,
    ...(gateways ?? []).map((g) => `  ${g.name.padEnd(10)} ${g.role.padEnd(8)} ${g.url}`),
    '',
    ...rows,
    '',
    'Try (these lines paste as they are, from this folder):',
    `  ${lab('exec alice')} -- curl -s ${gw}/          # who the gateway thinks alice is`,
    `  ${lab('link alice')}                            # link alice's /64 to her Unyt key`,
    `  ${lab('demo')}                                  # watch a customer's whole story, step by step`,
    `  ${lab('status --json')}                         # the actors, their addresses and key files`,
    'The README\'s walkthrough goes on from here.',
  ].join('\n');
}

/** AMOUNT of `lab fund`: a positive decimal SPORE amount, in micro-units. */
function positiveAmount(text: string): bigint {
  let micros: bigint;
  try {
    micros = parseAmount('AMOUNT', text);
  } catch (err) {
    throw new UsageError(errorMessage(err));
  }
  if (micros <= 0n) throw new UsageError(`AMOUNT must be more than 0, got ${JSON.stringify(text)}`);
  return micros;
}

/** `hypha lab unyt-conductor …`: the lab's ledger actor with --ledger unyt (lab up starts it in the ledger's namespace). */
async function unytConductor(argv: string[], out: (s: string) => void): Promise<number> {
  const p = parse(argv, { dir: { type: 'string' }, listen: { type: 'string' }, port: { type: 'string' }, 'admin-port': { type: 'string' }, 'farmer-share-bps': { type: 'string' }, customer: { type: 'string', multiple: true } }, false);
  const port = (name: string): number => {
    const n = Number(required(p, name));
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`--${name} must be 1-65535`);
    return n;
  };
  const bps = Number(required(p, 'farmer-share-bps'));
  if (!Number.isInteger(bps) || bps < 0 || bps > 10_000) throw new UsageError('--farmer-share-bps must be an integer 0-10000');
  const customers = ((p.values.customer as string[] | undefined) ?? []).map((c) => {
    const at = c.indexOf('=');
    if (at < 1) throw new UsageError(`--customer ${c}: expected NAME=AGENTPUBKEY`);
    return { name: c.slice(0, at), agent: c.slice(at + 1) };
  });
  const { startLabConductor } = await import('../lab/unyt-conductor/lab-conductor.js');
  const conductor = await startLabConductor({ dir: required(p, 'dir'), host: required(p, 'listen'), port: port('port'), adminPort: port('admin-port'), customers, farmerShareBps: BigInt(bps) });
  out(`unyt conductor stand-in: ledger listening on ${conductor.url} (admin ${conductor.adminUrl}); ${customers.length} customer agreement(s)`);
  await untilStopped(() => conductor.stopAll());
  return 0;
}

/** `--gateway-config`: a JSON object (its keys are checked by the gateway when it loads the config). */
function jsonObject(text: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--gateway-config is not JSON: ${errorMessage(err)}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new UsageError('--gateway-config must be a JSON object, e.g. \'{"escrow": {"windowHours": 10}}\'');
  return v as Record<string, unknown>;
}
