// Builds the configured Provisioner: farmers' agents (default), or the ThreeFold grid (loaded only when configured).
import type { GatewayConfig } from '../config.js';
import { AgentProvisioner, type AgentProvisionerDeps } from './agent-provisioner.js';
import type { Provisioner } from './provisioner.js';
import type { GridProvisionerLogger } from './grid-provisioner.js';

/** The provisioner the config names; `logger` hears what the grid provisioner cannot throw (a late deployment it removed, a failed cleanup). */
export async function createProvisioner(config: GatewayConfig, agentDeps: Omit<AgentProvisionerDeps, 'commandTimeoutMs'>, logger?: GridProvisionerLogger): Promise<Provisioner> {
  switch (config.provisioner.kind) {
    case 'agent':
      return new AgentProvisioner({ ...agentDeps, commandTimeoutMs: config.provisioner.commandTimeoutMs });
    case 'grid': {
      const { GridProvisioner } = await import('./grid-provisioner.js');
      const { kind: _kind, ...options } = config.provisioner;
      return new GridProvisioner(options, logger ? { logger } : {});
    }
  }
}
