// Answers the gateway's capacity requests: a price per requested node (the policy's, or the farmer's command's), signed by the farmer's key.
import { spawn } from 'node:child_process';
import type { AgentLog } from '../json-lines-logger.js';
import { errorMessage } from '../../identity/error-message.js';
import { formatAmount, parseAmount } from '../../protocol/money.js';
import { signBid, type CapacityRequest, type SignedBid } from '../../protocol/bid.js';
import type { BiddingConfig } from './bidding-config.js';
import { priceRequest, type PriceDecision } from './pricing-policy.js';

/** How long a farmer's bid command may take (real ms), and how much it may print. */
const COMMAND_TIMEOUT_MS = 5_000;
const COMMAND_MAX_OUTPUT = 4096;

/** Who the bids are from and to. */
export interface BidderIdentity {
  readonly farmer: string;
  readonly secretKey: Uint8Array;
}

/** Prices and signs bids for the nodes a request names that are this agent's. */
export class Bidder {
  constructor(private readonly config: BiddingConfig, private readonly me: BidderIdentity, private readonly log: AgentLog) {}

  /** The signed bids for `request` (none for a node the policy or the command will not price). */
  async bids(request: CapacityRequest, ownNodes: readonly string[], gateway: string, nowMs: number): Promise<SignedBid[]> {
    const out: SignedBid[] = [];
    const max = parseAmount('request.maxPricePerHour', request.maxPricePerHour);
    for (const node of request.nodes.filter((n) => ownNodes.includes(n))) {
      const decision = this.config.command ? await this.fromCommand(request, node, max) : priceRequest(this.config.policy, request, max);
      if (decision.kind === 'no-bid') {
        this.log.info({ request: request.id, node, reason: decision.reason }, 'no bid');
        continue;
      }
      const validUntilMs = Math.min(request.expiresAtMs, nowMs + this.config.validMs);
      out.push(
        signBid(this.me.secretKey, {
          request: request.id,
          gateway,
          farmer: this.me.farmer,
          node,
          cpu: request.cpu,
          memoryGb: request.memoryGb,
          diskGb: request.diskGb,
          pricePerHour: formatAmount(decision.pricePerHourMicros),
          unit: request.unit,
          validUntilMs,
        }),
      );
    }
    return out;
  }

  /** The farmer's command: the request as JSON on stdin, {"pricePerHour": "…" | null} on stdout. */
  private async fromCommand(request: CapacityRequest, node: string, max: bigint): Promise<PriceDecision> {
    const [cmd, ...args] = this.config.command as readonly string[];
    let text: string;
    try {
      text = await runCommand(cmd as string, args, JSON.stringify({ ...request, node }));
    } catch (err) {
      return { kind: 'no-bid', reason: `bidCommand failed: ${errorMessage(err)}` };
    }
    let price: unknown;
    try {
      price = (JSON.parse(text) as { pricePerHour?: unknown }).pricePerHour;
    } catch {
      return { kind: 'no-bid', reason: 'bidCommand printed no JSON' };
    }
    if (price === null || price === undefined) return { kind: 'no-bid', reason: 'bidCommand declined' };
    let micros: bigint;
    try {
      micros = parseAmount('pricePerHour', price);
    } catch (err) {
      return { kind: 'no-bid', reason: `bidCommand: ${errorMessage(err)}` };
    }
    return micros > max ? { kind: 'no-bid', reason: `bidCommand's price ${formatAmount(micros)} is above the request's maximum` } : { kind: 'bid', pricePerHourMicros: micros };
  }
}

/** Runs a command with `input` on stdin; its stdout, bounded, or an error on a non-zero exit or a timeout. */
function runCommand(cmd: string, args: readonly string[], input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'ignore'], timeout: COMMAND_TIMEOUT_MS });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (out.length > COMMAND_MAX_OUTPUT) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (out.length > COMMAND_MAX_OUTPUT) reject(new Error(`printed more than ${COMMAND_MAX_OUTPUT} bytes`));
      else if (code !== 0) reject(new Error(signal ? `ended by ${signal}` : `exit ${String(code)}`));
      else resolve(out);
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}
