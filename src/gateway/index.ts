// Public face of src/gateway: the gateway's lifecycle and configuration.
export { Gateway, type GatewayStatus } from './gateway.js';
export { loadGatewayConfig, parseGatewayConfig, type GatewayConfig } from './config.js';
export { ListenAddressError, checkListenAddress } from './listen-address.js';
export { createLogger } from '../protocol/logger.js';
export { StoreError } from './store/store.js';
