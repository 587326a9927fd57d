// Names every PostgreSQL connection of a gateway process after its lease holder, so a successor can end the connections of an expired holder.

/** The part of a holder (`URL#nonce`, src/gateway/ha/create-lease.ts) that names one process start. */
function nonceOf(holder: string): string {
  const cut = holder.lastIndexOf('#');
  return cut < 0 ? holder : holder.slice(cut + 1);
}

/**
 * The `application_name` of the store's connections of the gateway process holding (or asking for)
 * the lease as `holder`: short (PostgreSQL keeps 63 bytes) and never a secret. A successor finds an
 * expired holder's write transactions by it (`pg_stat_activity.application_name`).
 */
export function storeApplicationName(holder: string): string {
  return `hypha-store ${nonceOf(holder)}`.slice(0, 63);
}

/** The `application_name` of the lease's own connection of that process. */
export function leaseApplicationName(holder: string): string {
  return `hypha-lease ${nonceOf(holder)}`.slice(0, 63);
}
