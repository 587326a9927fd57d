// Public face of the lab VM driver: agent-run "VMs" that are SSH endpoints on their own Mycelium addresses, for `hypha lab` only.
export { LabVmDriver, type LabVmDriverOptions } from './driver.js';
export { assertInsideLab, LabOnlyError, LAB_STATE_ENV } from './lab-only.js';
export { LineDiscipline, toCrlf } from './line-discipline.js';
export { addInterfaceAddress, listInterfaceAddresses, removeInterfaceAddress } from './interface-address.js';
