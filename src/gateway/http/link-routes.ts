// Routes that link and unlink the caller's /64 to a Unyt identity.
import type { Router } from './router.js';
import type { LinkService } from '../link/link-service.js';
import { principalOf } from './principal.js';

/** POST /v1/link/challenge, POST /v1/link, DELETE /v1/link. */
export function registerLinkRoutes(router: Router, links: LinkService): void {
  router.post('/v1/link/challenge', (ctx) => {
    const p = principalOf(ctx);
    ctx.status = 201;
    ctx.body = links.challenge(p.subnet, ctx.state.body);
  });

  router.post('/v1/link', async (ctx) => {
    const p = principalOf(ctx);
    const { record, created } = await links.link(p.subnet, p.address, ctx.state.body);
    ctx.status = created ? 201 : 200;
    ctx.body = { agent: record.agent, subnet: record.subnet, linkedAt: new Date(record.linkedAtMs).toISOString() };
  });

  router.delete('/v1/link', async (ctx) => {
    await links.unlink(principalOf(ctx).subnet);
    ctx.status = 204;
  });
}
