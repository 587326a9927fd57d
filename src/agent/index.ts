// Public face of src/agent: the farmer's agent, its config, and the VM drivers it can run.
export { Agent, type AgentStatus } from './agent.js';
export { loadAgentConfig, parseAgentConfig, type AgentConfig } from './config.js';
export type { VmDriver, VmInfo } from './vm-driver.js';
export { LabOnlyError, LAB_STATE_ENV } from './lab-vm/index.js';
