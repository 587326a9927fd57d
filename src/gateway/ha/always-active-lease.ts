// The embedded store's lease: one process owns db.json and its logs, so it is always the active gateway.
import { TypedEmitter } from '../../protocol/typed-emitter.js';
import type { GatewayRole, Lease, LeaseEvents } from './lease.js';

/** Always active: the embedded backend is one process by construction (a second one fails to bind or to lock its files). */
export class AlwaysActiveLease implements Lease {
  readonly kind = 'embedded';
  readonly signals = new TypedEmitter<LeaseEvents>();

  constructor(private readonly url: string) {}

  role(): GatewayRole {
    return 'active';
  }

  term(): number {
    return 1;
  }

  activeUrl(): string {
    return this.url;
  }

  outage(): null {
    return null;
  }

  start(): Promise<void> {
    this.signals.emit('active', 1);
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
