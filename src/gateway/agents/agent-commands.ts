// Command RPC to farmer agents: a deploy or destroy sent over the agent's connection, matched to its result by id, with a timeout.
import { randomBytes, toBase64Url } from '../../identity/index.js';
import type { CommandOp, ResultMessage } from '../../protocol/index.js';
import type { SealedSecret } from '../../protocol/sealed-secret.js';
import { sendMessage, type Connection } from './agent-connection.js';

/** A command to an agent failed: not connected, timed out, or the agent said no. */
export class AgentCommandError extends Error {
  constructor(message: string, readonly retryable: boolean) {
    super(message);
    this.name = 'AgentCommandError';
  }
}

/** What a command carries about its VM (the node is added by the sender). */
export interface CommandVm {
  readonly id: string;
  readonly sshKeys?: readonly string[];
  readonly seedHex?: string;
  readonly secrets?: readonly SealedSecret[];
}

/**
 * Sends `op` for `vm` on `node` to the agent of `conn` and resolves to its result message (ok or
 * not); rejects with a retryable AgentCommandError after `timeoutMs` or when the agent disconnects.
 */
export function callAgent(conn: Connection, node: string, op: CommandOp, vm: CommandVm, timeoutMs: number): Promise<ResultMessage> {
  const id = `c${toBase64Url(randomBytes(9))}`;
  return new Promise<ResultMessage>((resolve, reject) => {
    const timer = setTimeout(() => {
      conn.pending.delete(id);
      reject(new AgentCommandError(`${op} on ${node} timed out after ${Math.round(timeoutMs / 1000)} s`, true));
    }, timeoutMs);
    conn.pending.set(id, { resolve, reject, timer });
    sendMessage(conn.ws, { type: 'command', id, op, vm: { ...vm, node } });
  });
}

/** Hands an agent's result to the command waiting for it; a result nobody waits for (timed out, or unknown) is dropped. */
export function settleCommand(conn: Connection, result: ResultMessage): void {
  const p = conn.pending.get(result.id);
  if (!p) return;
  clearTimeout(p.timer);
  conn.pending.delete(result.id);
  p.resolve(result);
}

/** Fails every command still waiting on a connection that closed. */
export function failPendingCommands(conn: Connection): void {
  for (const p of conn.pending.values()) {
    clearTimeout(p.timer);
    p.reject(new AgentCommandError('the agent disconnected', true));
  }
  conn.pending.clear();
}
