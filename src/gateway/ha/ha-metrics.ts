// The two high-availability gauges both roles expose on /metrics: whether this gateway is the active one, and whether its lease database answers.
import { Gauge, type Registry } from 'prom-client';

/** What the HA gauges read when scraped. */
export interface HaMetricsView {
  /** Whether this process serves as the active gateway now. */
  active(): boolean;
  /** The lease database's outage message, or null when its last round answered. */
  outage(): string | null;
}

/**
 * Registers `hypha_ha_active` and `hypha_ha_lease_database_up` on `registry`. Summed over every
 * gateway, `hypha_ha_active` is 1 when exactly one is active; 0 or 2 is the operator's alert.
 */
export function registerHaGauges(registry: Registry, view: HaMetricsView): void {
  new Gauge({
    name: 'hypha_ha_active',
    help: 'Whether this gateway is the active one (1) or a standby (0)',
    registers: [registry],
    collect(this: Gauge) {
      this.set(view.active() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'hypha_ha_lease_database_up',
    help: "Whether the lease's database answered this gateway's last round (always 1 with the embedded store)",
    registers: [registry],
    collect(this: Gauge) {
      this.set(view.outage() === null ? 1 : 0);
    },
  });
}
