// Routes anyone on Mycelium may call: the plain-text welcome, whoami, and the offer catalog.
import type { Handler, Router } from './router.js';
import { wantsHtml } from '../page/wants-html.js';
import type { Offer } from '../../protocol/offer.js';
import { offerView } from '../offers.js';
import { principalOf, type Principal } from './principal.js';
import { PublicError } from './public-error.js';
import { ProvisionError } from '../provision/provisioner.js';

/** What the public routes need. */
export interface PublicDeps {
  readonly gateway: { readonly agent: string; readonly url: string };
  offers(): readonly Offer[];
  /** VMs of each offer that can be placed right now, by offer id (cached: provision/offer-slots.ts). */
  availableSlots(): Promise<ReadonlyMap<string, number>>;
  /** For a linked customer whose charges are unpaid or whose VMs are in grace: what to pay and by when (else undefined). */
  fundsAdvice?(agent: string): Promise<string | undefined>;
  /** GET / for a browser (Accept: text/html): the customer page (page/customer-page-routes.ts). */
  readonly htmlHome?: Handler;
}

/** GET / (text for curl, the customer page for a browser), GET /v1/whoami, GET /v1/offers. */
export function registerPublicRoutes(router: Router, deps: PublicDeps): void {
  router.get('/', async (ctx) => {
    ctx.vary('accept');
    if (deps.htmlHome && wantsHtml(ctx)) {
      await deps.htmlHome(ctx);
      return;
    }
    const p = principalOf(ctx);
    const advice = p.agent !== undefined && deps.fundsAdvice ? await deps.fundsAdvice(p.agent) : undefined;
    ctx.type = 'text/plain; charset=utf-8';
    ctx.body = welcomeText(p, deps.gateway, advice);
  });

  // whoami's answer, serialised once per Principal object: a connection's requests share one while
  // nothing about the caller changed (principal.ts builds a new one when the link or a role does).
  // Weak: an entry goes with its principal. bench/auth: this is the request it measures.
  const whoamiJson = new WeakMap<Principal, string>();
  router.get('/v1/whoami', (ctx) => {
    const p = principalOf(ctx);
    let json = whoamiJson.get(p);
    if (json === undefined) {
      json = JSON.stringify(whoamiView(p));
      whoamiJson.set(p, json);
    }
    // The type koa gives an object body, set as a header: `ctx.type = 'json'` would look it up again,
    // and Koa 3's `ctx.set` builds three arrays to set one header (nothing was sent yet, the case in which it sets it).
    ctx.res.setHeader('content-type', 'application/json; charset=utf-8');
    ctx.body = json;
  });

  router.get('/v1/offers', async (ctx) => {
    let slots: ReadonlyMap<string, number>;
    try {
      slots = await deps.availableSlots();
    } catch (err) {
      if (err instanceof ProvisionError) throw new PublicError('unavailable', 'the free capacity of the nodes cannot be read right now', 'try again in a minute');
      throw err;
    }
    ctx.body = { offers: deps.offers().map((o) => offerView(o, slots.get(o.id) ?? 0)) };
  });
}

/** GET /v1/whoami's answer: who the caller is, as the gateway sees it. */
function whoamiView(p: Principal): { address: string; subnet: string; linked: boolean; agent?: string; roles: readonly string[] } {
  return { address: p.address, subnet: p.subnet, linked: p.agent !== undefined, ...(p.agent ? { agent: p.agent } : {}), roles: p.roles };
}

/** The text a person sees with `curl http://[gateway]:8480/`; `fundsAdvice` comes first when funds ran out. */
export function welcomeText(p: Principal, gateway: { agent: string; url: string }, fundsAdvice?: string): string {
  const lines = [`hypha gateway ${gateway.agent}`, `at ${gateway.url}`, '', `You are ${p.address} (Mycelium /64 ${p.subnet}).`];
  if (p.agent) {
    lines.push(`This /64 is linked to ${p.agent} (roles: ${p.roles.join(', ')}).`, '');
    if (fundsAdvice) lines.push(`FUNDS: ${fundsAdvice}`, `  details: curl -s ${gateway.url}/v1/balance`, '');
    lines.push('Try:', `  curl -s ${gateway.url}/v1/offers`, `  curl -s ${gateway.url}/v1/balance`, `  curl -s ${gateway.url}/v1/deployments`);
  } else {
    lines.push(
      'This /64 is not linked to a Unyt identity yet. To link it, run on this machine, with your Unyt key:',
      '',
      `  hypha link --gateway ${gateway.url} --key YOUR.key`,
      '',
      'It asks this gateway for a challenge, signs it only if it names this gateway, this machine\'s',
      'Mycelium /64 and your key, and links. Never sign a challenge someone else hands you: it would',
      'link their machine to your identity.',
    );
  }
  lines.push('', `Offers: curl -s ${gateway.url}/v1/offers`, '');
  return lines.join('\n');
}
