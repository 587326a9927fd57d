// GET /v1/nodes/{id}: a node, its farmer agent, and the key to seal secrets to for a VM on it.
import type { Router } from './router.js';
import { decodeAgentPubKey, toBase64 } from '../../identity/index.js';
import { ed25519PublicKeyToX25519 } from '../../identity/ed25519-x25519.js';
import type { NodeView } from '../agents/agent-hub.js';
import { errors } from './public-error.js';

/** What the node route needs. */
export interface NodeRouteDeps {
  nodes(): readonly NodeView[];
}

/** A node as customers see it: whether it is up, and where its secrets are sealed to. */
export interface PublicNodeView {
  readonly id: string;
  readonly farmer: string;
  readonly connected: boolean;
  readonly up: boolean;
  /** What `hypha seal --to` takes: the farmer agent's AgentPubKey. Only that agent can open a box sealed to it. */
  readonly sealTo: string;
  /**
   * The X25519 key a box is sealed to (base64): derived from `sealTo`'s ed25519 key (libsodium
   * crypto_sign_ed25519_pk_to_curve25519), so anyone can check it belongs to the farmer's key.
   */
  readonly sealingKey: string;
}

/** The public view of a node. */
export function publicNodeView(n: NodeView): PublicNodeView {
  return { id: n.id, farmer: n.farmer, connected: n.connected, up: n.up, sealTo: n.farmer, sealingKey: toBase64(ed25519PublicKeyToX25519(decodeAgentPubKey(n.farmer))) };
}

/** GET /v1/nodes/{id}: 404 for a node no approved agent speaks for. */
export function registerNodeRoutes(router: Router, deps: NodeRouteDeps): void {
  router.get('/v1/nodes/:id', (ctx) => {
    const id = ctx.params.id as string;
    const node = deps.nodes().find((n) => n.id === id);
    if (!node) throw errors.notFound(`node ${id}`);
    ctx.body = { node: publicNodeView(node) };
  });
}
