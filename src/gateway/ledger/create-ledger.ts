// Builds the configured Ledger adapter: embedded (in-process), embedded over HTTP, or Unyt.
import type { Clock } from '../../protocol/clock.js';
import type { GatewayConfig } from '../config.js';
import { EmbeddedLedger } from './embedded-ledger.js';
import { EmbeddedLedgerClient } from './embedded-ledger-client.js';
import type { Ledger } from './ledger.js';
import type { LedgerEntry } from './embedded-ledger.js';
import type { LoadedLog } from '../store/record-log.js';

/**
 * The ledger the config names; the Unyt adapter is loaded only when configured. `journal` is the
 * embedded ledger's journal when the storage backend keeps it (PostgreSQL), else it is ledger.dir's file.
 */
export async function createLedger(config: GatewayConfig, clock: Clock, journal?: LoadedLog<LedgerEntry>): Promise<Ledger> {
  switch (config.ledger.kind) {
    case 'embedded':
      return journal ? EmbeddedLedger.load(journal, () => clock.nowMs()) : EmbeddedLedger.open(config.ledger.dir, () => clock.nowMs());
    case 'embedded-remote':
      return new EmbeddedLedgerClient(config.ledger.url, config.ledger.timeoutMs);
    case 'unyt': {
      const { UnytLedger } = await import('./unyt/index.js');
      return UnytLedger.open(config.ledger, { farmerShareBps: config.billing.farmerShareBps });
    }
  }
}
