// The timeline event names access escrow and trust tiers record, in one block (so the event catalogue can take them as they are).

/** Event names of access escrow and trust tiers. */
export const ESCROW_EVENTS = {
  /** A deployment's access was verified (a login, the customer's word, or the window). */
  accessVerified: 'deployment.access_verified',
  /** A customer reported no access inside the window; the deployment ends with endReason no_access. */
  accessFailed: 'deployment.access_failed',
  /** Held charges were released: they are billed and the farmer is paid as usual. */
  escrowReleased: 'billing.escrow_released',
  /** Held charges were returned: never billed, the farmer gets nothing for them. */
  escrowReturned: 'billing.escrow_returned',
  /** An admin set a customer's trust tier by hand (or cleared it). */
  trustTierSet: 'customer.trust_tier_set',
} as const;
