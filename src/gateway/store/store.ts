// The Store port: the gateway's durable state as tables of plain records, read from memory, written durably.
import type { AgentApproval, CapacityRequestRecord, ChainState, DeploymentRecord, LinkRecord, OrderRecord } from './records.js';

/**
 * One table of records by key. Reads are synchronous (served from memory); a write resolves
 * once it is durable on disk, and writes made in the same tick share one disk write.
 */
export interface Table<T> {
  get(key: string): T | undefined;
  values(): T[];
  size(): number;
  put(key: string, value: T): Promise<void>;
  delete(key: string): Promise<boolean>;
}

/** The gateway's durable state. */
export interface Store {
  /** Links by /64 subnet. */
  readonly links: Table<LinkRecord>;
  /** Farmer agents (approved, pending, revoked) by AgentPubKey. */
  readonly agents: Table<AgentApproval>;
  readonly orders: Table<OrderRecord>;
  readonly deployments: Table<DeploymentRecord>;
  /** Each agent's heartbeat chain as of its last durable point, by AgentPubKey. */
  readonly chains: Table<ChainState>;
  /** Small named values (schema version, billing cursor). */
  readonly meta: Table<unknown>;
  /** Capacity requests of the reverse market and their bids, by request id. */
  readonly requests: Table<CapacityRequestRecord>;
  /** Resolves when every write made so far is durable. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Why the store could not open or write: the message says what to do; data is never reset. */
export class StoreError extends Error {
  constructor(readonly problem: 'corrupt' | 'version' | 'io' | 'permissions', message: string) {
    super(message);
    this.name = 'StoreError';
  }
}
