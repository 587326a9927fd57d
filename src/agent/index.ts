// Public face of src/agent: the farmer's agent, its config, and the VM drivers it can run.
export { Agent, type AgentStatus } from './agent.js';
export { loadAgentConfig, parseAgentConfig, type AgentConfig } from './config.js';
export type { VmDriver, VmInfo } from './vm-driver.js';
// From lab-only.js, not the lab-vm index: the index loads the lab VM driver and ssh2 (~16 MiB of buffers), which a production agent never runs.
export { LabOnlyError, LAB_STATE_ENV } from './lab-vm/lab-only.js';
export { createJsonLinesLogger, type AgentLog } from './json-lines-logger.js';
