// `hypha gateway`: runs the marketplace gateway until SIGTERM or SIGINT.
import { KeyFileError } from '../identity/index.js';
import { ValidationError } from '../protocol/validate.js';
import { Gateway, ListenAddressError, StoreError, createLogger, loadGatewayConfig } from '../gateway/index.js';
import { optional, parse } from './args.js';
import { UsageError } from './cli-error.js';
import { untilStopped } from './until-stopped.js';

export const GATEWAY_HELP = `hypha gateway — run the marketplace gateway

  hypha gateway [--config FILE] [--listen ADDR]

Runs the gateway on its Mycelium address (port 8480 by default). The address comes from
--listen, the config's "listen", the local Mycelium API, or this host's interfaces; it must be
in 400::/7 (never ::, 0.0.0.0 or a LAN address). Logs are JSON on stdout. SIGTERM stops it cleanly.
The config file's keys and defaults: docs/operator.md "Gateway configuration".

Exit status: 0 after a clean stop, 2 for a bad config or address (one line on stderr says why).`;

/** Runs `hypha gateway`; resolves with the exit code once the gateway has stopped. */
export async function gatewayCommand(argv: string[], out: (s: string) => void): Promise<number> {
  if (argv[0] === '--help') {
    out(GATEWAY_HELP);
    return 0;
  }
  const p = parse(argv, { config: { type: 'string' }, listen: { type: 'string' } }, false);
  const log = createLogger('gateway');
  let gateway: Gateway;
  try {
    const listen = optional(p, 'listen');
    const config = loadGatewayConfig(optional(p, 'config'), listen !== undefined ? { listen } : {});
    gateway = await Gateway.start(config, log);
  } catch (err) {
    if (err instanceof ListenAddressError || err instanceof ValidationError || err instanceof StoreError || err instanceof KeyFileError) {
      log.flush();
      throw new UsageError(err.message);
    }
    throw err;
  }
  await untilStopped(() => gateway.close());
  return 0;
}
