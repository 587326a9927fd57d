// Builds the configured Ledger adapter: embedded (in-process), embedded over HTTP, or Unyt (experimental).
import type { Clock } from '../../protocol/clock.js';
import type { GatewayConfig } from '../config.js';
import { EmbeddedLedger } from './embedded-ledger.js';
import { EmbeddedLedgerClient } from './embedded-ledger-client.js';
import type { Ledger } from './ledger.js';

/** The ledger the config names; the Unyt adapter is loaded only when configured. */
export async function createLedger(config: GatewayConfig, clock: Clock): Promise<Ledger> {
  switch (config.ledger.kind) {
    case 'embedded':
      return EmbeddedLedger.open(config.ledger.dir, () => clock.nowMs());
    case 'embedded-remote':
      return new EmbeddedLedgerClient(config.ledger.url, config.ledger.timeoutMs);
    case 'unyt': {
      const { UnytLedger, parseUnytLedgerConfig } = await import('./unyt-ledger.js');
      return new UnytLedger(parseUnytLedgerConfig({ journalPath: `${config.dataDir}/unyt-ledger.journal`, ...config.ledger.options }));
    }
  }
}
