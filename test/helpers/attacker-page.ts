// A hostile web page on another origin, for the browser tests: it fires no-cors POSTs and submits a form at a target origin.
import type { TestContext } from 'node:test';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the page sends with `fetch(…, {mode: 'no-cors'})`, as any site may. */
export interface ForgedPost {
  readonly path: string;
  readonly body: string;
  /** A "simple" content type, so the browser sends it without asking the target first. */
  readonly type?: 'application/x-www-form-urlencoded' | 'text/plain';
}

/** What the attack does at `origin`: its fetches first, then one auto-submitted form into a hidden frame. */
export interface Attack {
  readonly origin: string;
  readonly posts: readonly ForgedPost[];
  readonly form: { readonly action: string; readonly fields?: Readonly<Record<string, string>> };
}

/** The page's HTML. Its title becomes `done sent,sent,…` once every fetch was sent and the form's answer loaded. */
export function attackHtml(a: Attack): string {
  const inputs = Object.entries(a.form.fields ?? {}).map(([k, v]) => `<input name="${k}" value="${v}">`).join('');
  const sends = a.posts.map((p) => `  out.push(await send(${JSON.stringify(p.path)}, ${JSON.stringify(p.body)}, ${JSON.stringify(p.type ?? 'application/x-www-form-urlencoded')}));`).join('\n');
  return `<!doctype html><title>cat pictures</title><iframe name="sink"></iframe>
<form id="f" method="POST" target="sink" action="${a.origin}${a.form.action}">${inputs}</form>
<script>
(async () => {
  const send = (path, body, type) => fetch(${JSON.stringify(a.origin)} + path, { method: 'POST', mode: 'no-cors', headers: { 'content-type': type }, body }).then(() => 'sent', (e) => String(e));
  const out = [];
${sends}
  document.querySelector('iframe').addEventListener('load', () => { document.title = 'done ' + out.join(','); });
  document.getElementById('f').submit();
})();
</script>`;
}

/** Serves the attack on 127.0.0.1 (another origin than the target's) until the test ends; resolves to its URL. */
export async function serveAttack(t: Pick<TestContext, 'after'>, attack: Attack): Promise<string> {
  const html = attackHtml(attack);
  const evil = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => evil.close(() => resolve())));
  return `http://127.0.0.1:${(evil.address() as AddressInfo).port}/`;
}
