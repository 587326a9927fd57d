// The standby's Prometheus text: the HA gauges (it is not active) and the process's default metrics, collected once per process.
import { Registry } from 'prom-client';
import { collectProcessMetrics } from '../process-metrics.js';
import { registerHaGauges } from './ha-metrics.js';

/**
 * prom-client's default metrics for the standby, made on the first scrape and kept for the process:
 * each `collectDefaultMetrics` call starts observers that are never stopped, so one registry serves
 * every standby term instead of one per role change.
 */
let processRegistry: Registry | undefined;

function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectProcessMetrics(processRegistry);
  }
  return processRegistry;
}

/** What a standby's /metrics answers: its content type and the exposition text. */
export interface StandbyMetrics {
  readonly contentType: string;
  text(): Promise<string>;
}

/** The standby's metrics: `hypha_ha_active 0`, the lease database's state from `outage`, and the process metrics. */
export function standbyMetrics(outage: () => string | null): StandbyMetrics {
  const ha = new Registry();
  registerHaGauges(ha, { active: () => false, outage });
  return {
    contentType: ha.contentType,
    async text() {
      // Each registry's text ends with a newline; the two have no family in common.
      return `${await ha.metrics()}${await processMetrics().metrics()}`;
    },
  };
}
