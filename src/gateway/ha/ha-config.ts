// The `ha` section of the gateway config: the takeover bound, the stall bound, the lease's database, and the commands run on each role change.
import type { StoreConfig } from '../store/store-config.js';
import { expectArray, expectInteger, expectObject, expectOnlyKeys, expectString, ValidationError } from '../../protocol/validate.js';

/** Active/standby settings. */
export interface HaConfig {
  /** A dead active gateway is replaced within this time (real ms; config `takeoverSeconds`, default 15). */
  readonly takeoverMs: number;
  /**
   * How long the gateway's main thread may go without running before its lease worker stops renewing
   * and gives the lease up (real ms; config `stallSeconds`). Shorter stalls — a state reload, a big
   * period close, a long GC — cost nothing; a hung gateway is replaced within this plus the takeover bound.
   */
  readonly stallMs: number;
  /**
   * The database holding the lease (`postgres://…`), or undefined for the embedded store's always-active
   * lease. Defaults to the PostgreSQL store's URL (config `store.url` or `HYPHA_DATABASE_URL`); never logged.
   */
  readonly databaseUrl?: string;
  /** Run (argv, no shell) when this gateway becomes active, e.g. to start Mycelium with the shared key. */
  readonly onActiveCommand?: readonly string[];
  /** Run (argv, no shell) when this gateway becomes a standby. */
  readonly onStandbyCommand?: readonly string[];
}

/** Default takeover bound (issue 13: "say ≤ 15 s, a config value"). */
export const DEFAULT_TAKEOVER_SECONDS = 15;

/**
 * Default stall bound: well above the longest main-thread stalls measured here (bench/README.md "Lease
 * kept off the main thread": a takeover's state reload and a 100k-deployment close, on a loaded host).
 */
export const DEFAULT_STALL_SECONDS = 60;

/**
 * Parses `config.ha`. The lease lives in the PostgreSQL store's database unless `ha.databaseUrl`
 * names another; with the embedded store and no `databaseUrl` the gateway is always active.
 */
export function parseHaConfig(v: unknown, store: StoreConfig): HaConfig {
  const o = expectObject(v ?? {}, 'config.ha');
  expectOnlyKeys(o, ['takeoverSeconds', 'stallSeconds', 'databaseUrl', 'onActiveCommand', 'onStandbyCommand'], 'config.ha');
  const takeoverSeconds = o.takeoverSeconds === undefined ? DEFAULT_TAKEOVER_SECONDS : expectInteger(o.takeoverSeconds, 'config.ha.takeoverSeconds', 2, 600);
  // Above the takeover bound (so above the lease's ttl, 2/3 of it): a smaller one would end leases that stalls the ttl survives.
  const stallSeconds = o.stallSeconds === undefined ? Math.max(DEFAULT_STALL_SECONDS, 2 * takeoverSeconds) : expectInteger(o.stallSeconds, 'config.ha.stallSeconds', 1, 3600);
  if (stallSeconds <= takeoverSeconds) throw new ValidationError('config.ha.stallSeconds', `must be larger than config.ha.takeoverSeconds (${takeoverSeconds})`);
  const command = (value: unknown, field: string): readonly string[] | undefined =>
    value === undefined ? undefined : expectArray(value, field, 1, 64, (a, f) => expectString(a, f, { maxLength: 4096 }));
  const rawUrl = o.databaseUrl ?? (store.kind === 'postgres' ? store.url : undefined);
  let databaseUrl: string | undefined;
  if (rawUrl !== undefined && rawUrl !== '') {
    databaseUrl = expectString(rawUrl, 'config.ha.databaseUrl', { maxLength: 4096 });
    // Not echoed: the URL may carry a password.
    if (!/^postgres(ql)?:\/\//.test(databaseUrl)) throw new ValidationError('config.ha.databaseUrl', 'must be a postgres:// or postgresql:// URL');
  }
  const onActiveCommand = command(o.onActiveCommand, 'config.ha.onActiveCommand');
  const onStandbyCommand = command(o.onStandbyCommand, 'config.ha.onStandbyCommand');
  return {
    takeoverMs: takeoverSeconds * 1000,
    stallMs: stallSeconds * 1000,
    ...(databaseUrl !== undefined ? { databaseUrl } : {}),
    ...(onActiveCommand ? { onActiveCommand } : {}),
    ...(onStandbyCommand ? { onStandbyCommand } : {}),
  };
}
