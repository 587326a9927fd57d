// Timeline event names of capacity requests, bids and redeploys, in one block so the event catalogue can take them as they are.

/** Event names the market and the redeploy watcher record. */
export const MARKET_EVENTS = {
  requestCreated: 'market.request_created',
  requestExpired: 'market.request_expired',
  bidReceived: 'market.bid_received',
  bidRefused: 'market.bid_refused',
  bidAccepted: 'market.bid_accepted',
  redeployed: 'deployment.redeployed',
  redeployFailed: 'deployment.redeploy_failed',
  redeployExhausted: 'deployment.redeploy_exhausted',
  redeployRefused: 'deployment.redeploy_refused',
  previousVmDestroyed: 'deployment.previous_vm_destroyed',
} as const;

/** One of those names. */
export type MarketEvent = (typeof MARKET_EVENTS)[keyof typeof MARKET_EVENTS];
