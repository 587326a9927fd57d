// `hypha agent`: runs a farmer's uptime agent until SIGTERM or SIGINT.
import { KeyFileError } from '../identity/index.js';
import { ValidationError } from '../protocol/validate.js';
import { Agent, LabOnlyError, createJsonLinesLogger, loadAgentConfig } from '../agent/index.js';
import { parse, required } from './args.js';
import { UsageError } from './cli-error.js';
import { untilStopped } from './until-stopped.js';

export const AGENT_HELP = `hypha agent — run a farmer's uptime agent

  hypha agent --config FILE

Runs a farmer's agent: it connects to the gateway over Mycelium (ws://[gateway]:8480/v1/agent),
reports its nodes' and VMs' up-time every heartbeat, keeps unacknowledged heartbeats on disk
while the gateway is away, countersigns receipts it agrees with, and in \`hypha lab\` (with
"vmDriver": {"kind": "lab"}) runs lab VMs; outside the lab it refuses to start with a vmDriver.
The config file's keys and defaults: docs/operator.md "Agent configuration".

Exit status: 0 after a clean stop (SIGTERM), 2 for a bad config (one line on stderr says why).`;

/** Runs `hypha agent`; resolves with the exit code once it has stopped. */
export async function agentCommand(argv: string[], out: (s: string) => void): Promise<number> {
  if (argv[0] === '--help') {
    out(AGENT_HELP);
    return 0;
  }
  const p = parse(argv, { config: { type: 'string' } }, false);
  const log = createJsonLinesLogger('agent');
  let agent: Agent;
  try {
    agent = await Agent.start(loadAgentConfig(required(p, 'config')), log);
  } catch (err) {
    if (err instanceof ValidationError || err instanceof KeyFileError || err instanceof LabOnlyError) throw new UsageError(err.message);
    throw err;
  }
  await untilStopped(() => agent.close());
  return 0;
}
