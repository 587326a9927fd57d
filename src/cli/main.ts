// The `hypha` command: dispatches to its subcommands and turns their errors into exit codes.
import { readFileSync } from 'node:fs';
import { UsageError } from './cli-error.js';
import { idCommand } from './id-command.js';

const HELP = `hypha — buy and run compute over Mycelium

  hypha id …         keys, signatures, AgentPubKeys, Mycelium addresses
  hypha link …       link this machine's Mycelium /64 to your Unyt identity
  hypha receipt …    verify usage receipts offline
  hypha seal …       seal a secret so only the node that runs your VM can read it
  hypha gateway …    run the marketplace gateway
  hypha store …      move the gateway's state to PostgreSQL
  hypha agent …      run a farmer's uptime agent
  hypha ledger …     run or inspect the embedded ledger (the lab's stand-in for Unyt)
  hypha lab …        a whole Mycelium-like network on this machine

  hypha --version    print hypha's version

Each takes --help.`;

/** hypha's version, from the package.json beside dist/ (the one npm installed). */
export function hyphaVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}

type Command = (argv: string[], out: (s: string) => void) => Promise<number>;

async function lazy(module: string, name: string): Promise<Command> {
  const m = (await import(module)) as Record<string, Command>;
  return m[name] as Command;
}

const COMMANDS: Record<string, () => Promise<Command>> = {
  id: () => Promise.resolve(idCommand),
  link: () => lazy('./link-command.js', 'linkCommand'),
  receipt: () => lazy('./receipt-command.js', 'receiptCommand'),
  seal: () => lazy('./seal-command.js', 'sealCommand'),
  gateway: () => lazy('./gateway-command.js', 'gatewayCommand'),
  store: () => lazy('./store-command.js', 'storeCommand'),
  agent: () => lazy('./agent-command.js', 'agentCommand'),
  ledger: () => lazy('./ledger-command.js', 'ledgerCommand'),
  lab: () => lazy('./lab-command.js', 'labCommand'),
};

/** The subcommands, in the order `hypha --help` lists them (docs/cli.md is generated from their --help). */
export const COMMAND_NAMES: readonly string[] = Object.keys(COMMANDS);

/** Runs the CLI with `argv` (without node and script); resolves to the exit code. */
export async function run(argv: string[]): Promise<number> {
  const out = (s: string): void => {
    process.stdout.write(s.endsWith('\n') ? s : s + '\n');
  };
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === 'help' || name === '-h') {
    out(HELP);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    out(`hypha ${hyphaVersion()}`);
    return 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`hypha: unknown command "${name}"; try hypha --help\n`);
    return 2;
  }
  try {
    const command = await load();
    const wantsHelp = rest.includes('--help') || rest.includes('-h');
    return await command(wantsHelp && rest[0] !== '--help' ? ['--help', ...rest] : rest, out);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`hypha ${name}: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`hypha ${name}: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}
