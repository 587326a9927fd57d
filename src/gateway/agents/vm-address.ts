// Whether a VM address a farmer's agent reported may be handed to a customer: inside one of the agent's approved /64s.
import { isInSubnet64 } from '../../identity/index.js';

/**
 * Null when `reported` is "" (no address: a VM that is gone) or lies inside one of `subnets`
 * (the /64s approved for the agent, its nodes' /64s); otherwise the reason to refuse it. Without
 * this a farmer could point a customer's ssh, and the gateway's probes, at any address on the
 * overlay.
 */
export function vmAddressRefusal(node: string, vmId: string, reported: string, subnets: readonly string[]): string | null {
  if (reported === '' || subnets.some((s) => isInSubnet64(reported, s))) return null;
  return `the agent of ${node} reported VM ${vmId} at ${reported}, which is not inside the node's /64 (${subnets.join(', ') || 'none approved'})`;
}
