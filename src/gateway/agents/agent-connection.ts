// A connected farmer agent as the hub holds it, the views the admin page and orders read, and how the hub writes to its socket.
import type { WebSocket } from 'ws';
import type { GatewayMessage, HelloNode, ResultMessage } from '../../protocol/index.js';
import type { HeartbeatSamples } from './heartbeat-samples.js';

/** A command sent to an agent and not answered yet (see agent-commands.ts). */
export interface PendingCommand {
  readonly resolve: (r: ResultMessage) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** One admitted agent connection. */
export interface Connection {
  readonly ws: WebSocket;
  readonly agent: string;
  readonly address: string;
  readonly nodes: readonly HelloNode[];
  readonly connectedAtMs: number;
  lastHeartbeatAtMs?: number;
  /** The agent's own stamp on its last counted heartbeat: where its up-time evidence ends (redeploy counts from it). */
  lastHeartbeatStampMs?: number;
  /** A message or a pong arrived since the last ping round (see AgentHub.ping). */
  heard: boolean;
  /** The last round pinged it (it had been silent). */
  pinged: boolean;
  /** Its nodes and the VMs placed on them as up-time subjects (kept current by refreshAssignments). */
  readonly samples: HeartbeatSamples;
  /** Commands waiting for the agent's result, by command id. */
  readonly pending: Map<string, PendingCommand>;
}

/** A connected agent, as the admin page shows it. */
export interface AgentView {
  readonly agent: string;
  readonly address: string;
  readonly nodes: readonly HelloNode[];
  readonly connectedAtMs: number;
  readonly lastHeartbeatAtMs?: number;
  readonly seq: number;
}

/** A node, as orders and the admin page see it. */
export interface NodeView {
  readonly id: string;
  readonly farmer: string;
  readonly connected: boolean;
  readonly up: boolean;
  readonly capacity?: HelloNode['capacity'];
  readonly lastHeartbeatAtMs?: number;
}

/** Sends a message to an agent if its socket is still open (a closed one is dropped silently: the agent replays on reconnect). */
export function sendMessage(ws: WebSocket, message: GatewayMessage): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
}

/** A close reason cut to fit a WebSocket close frame (123 bytes of UTF-8 at most). */
export function closeReason(reason: string): string {
  const bytes = Buffer.from(reason, 'utf8');
  return bytes.length <= 120 ? reason : bytes.subarray(0, 117).toString('utf8') + '...';
}
