// Checks a farmer's countersignature of a v1 receipt against the farmer's own key.
import { decodeAgentPubKey, fromBase64, verify } from '../../identity/index.js';
import { receiptSigningBytes, type Receipt } from '../../protocol/index.js';

/** Verifies a farmer's countersignature of a receipt; false (never a throw) for anything unreadable. */
export function verifyCountersignature(receipt: Receipt, signature: string): boolean {
  try {
    return verify(fromBase64('signature', signature, 64), receiptSigningBytes(receipt), decodeAgentPubKey(receipt.farmer));
  } catch {
    return false;
  }
}
