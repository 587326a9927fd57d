// Builds the configured Ledger adapter: embedded (in-process), embedded over HTTP, or Unyt.
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
      const { UnytLedger } = await import('./unyt/index.js');
      return UnytLedger.open(config.ledger, { farmerShareBps: config.billing.farmerShareBps });
    }
  }
}
