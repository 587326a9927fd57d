// fast-check generators of HTTP requests for every gateway route: bodies shaped from the real validators plus garbage, odd paths, queries and headers, written as raw bytes.
import fc from 'fast-check';
import { MAX_BODY_BYTES } from '../../src/gateway/http/json-body.js';
import type { CallerName } from './fuzz-world.js';

/** Real values the generators aim at, so many requests get past validation into the handlers. */
export interface HttpFuzzContext {
  readonly host: string;
  readonly agents: readonly string[];
  readonly orders: readonly string[];
  readonly deployments: readonly string[];
  readonly nodes: readonly string[];
  readonly subnets: readonly string[];
  readonly sshKey: string;
}

/** One generated request, and how to print it when it fails. */
export interface FuzzRequest {
  readonly caller: CallerName;
  readonly method: string;
  readonly target: string;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: Buffer | undefined;
  /** Send the body with chunked transfer-encoding instead of content-length. */
  readonly chunked: boolean;
}

type Param = 'order' | 'deployment' | 'agent' | 'node';
type BodyShape = 'challenge' | 'link' | 'order' | 'sshKeys' | 'approve' | 'fund' | 'request' | 'none';
type QueryShape = 'receipts' | 'events' | 'search' | 'none';

interface Route {
  readonly method: string;
  readonly path: string;
  readonly body: BodyShape;
  readonly query: QueryShape;
}

const r = (method: string, path: string, body: BodyShape = 'none', query: QueryShape = 'none'): Route => ({ method, path, body, query });

/** Every route of src/gateway/http/*-routes.ts, admin/status-page.ts and metrics.ts, plus the agent socket's path. */
export const ROUTES: readonly Route[] = [
  r('GET', '/'),
  r('GET', '/v1/whoami'),
  r('GET', '/v1/offers'),
  r('POST', '/v1/link/challenge', 'challenge'),
  r('POST', '/v1/link', 'link'),
  r('DELETE', '/v1/link'),
  r('GET', '/v1/balance'),
  r('POST', '/v1/orders', 'order'),
  r('GET', '/v1/orders'),
  r('GET', '/v1/orders/:order'),
  r('GET', '/v1/deployments'),
  r('GET', '/v1/deployments/:deployment'),
  r('PUT', '/v1/deployments/:deployment/ssh-keys', 'sshKeys'),
  r('DELETE', '/v1/deployments/:deployment'),
  r('GET', '/v1/receipts', 'none', 'receipts'),
  r('POST', '/v1/requests', 'request'),
  r('GET', '/v1/requests'),
  r('GET', '/admin/api/requests'),
  r('GET', '/admin/api/agents'),
  r('GET', '/admin/api/nodes'),
  r('POST', '/admin/api/agents/:agent/approve', 'approve'),
  r('POST', '/admin/api/agents/:agent/revoke'),
  r('POST', '/admin/api/ledger/fund', 'fund'),
  r('GET', '/admin/api/overview'),
  r('GET', '/admin/api/deployments/:deployment'),
  r('GET', '/admin/api/customers/:agent'),
  r('GET', '/admin/api/events', 'none', 'events'),
  r('GET', '/metrics'),
  r('GET', '/admin'),
  r('GET', '/admin/search', 'none', 'search'),
  r('GET', '/admin/deployments/:deployment'),
  r('GET', '/admin/customers/:agent'),
  r('GET', '/admin/nodes/:node'),
  r('GET', '/v1/agent'),
];

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND', 'CONNECT'];

/** Strings that break naive code: control bytes, unicode, escapes, long runs. */
const nasty = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', ' ', '\u0000', '..', '.', '%', '%00', '\u202e', '\ud800', '😀', 'ÿ', 'null', 'undefined', '__proto__', 'constructor', 'toString', '0', '-1', 'NaN', '1e999', '<script>', "' OR 1=1 --", '${x}', '\r\nx-injected: 1'),
  fc.integer({ min: 100, max: 9000 }).map((n) => 'a'.repeat(n)),
);

/** Huge, tiny, negative and non-finite-looking numbers, as JSON text. */
const numberText = fc.oneof(
  fc.constantFrom('1e999', '-1e999', '1e308', '5e-324', '-0', '9007199254740993', '18446744073709551616', '123456789012345678901234567890', '0.1', '-1', '0'),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
  fc.integer().map(String),
);

/** A JSON value, as text: valid-ish from `valid`, else a wrong type. */
function field(valid: fc.Arbitrary<unknown>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: valid.map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: nasty.map((s) => JSON.stringify(s)) },
    { weight: 1, arbitrary: numberText },
    { weight: 1, arbitrary: fc.constantFrom('null', 'true', '[]', '{}', '[null]', '{"__proto__": {"admin": true}}') },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
  );
}

/** A JSON object as text from its fields (each already text), sometimes with an extra or a __proto__ key. */
function objectText(fields: Record<string, fc.Arbitrary<string>>): fc.Arbitrary<string> {
  const entries = Object.entries(fields).map(([k, v]) => fc.option(v.map((text) => `${JSON.stringify(k)}: ${text}`), { freq: 8 }));
  const extra = fc.oneof(
    { weight: 6, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.constantFrom('"__proto__": {"state": "approved", "roles": ["admin"]}', '"constructor": {"prototype": {"admin": true}}', '"__proto__": null') },
    { weight: 1, arbitrary: fc.tuple(nasty, fc.jsonValue({ maxDepth: 2 })).map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`) },
  );
  return fc.tuple(fc.tuple(...entries), extra).map(([parts, x]) => `{${[...parts, x].filter((p): p is string => p !== null).join(', ')}}`);
}

function bodyOf(shape: BodyShape, ctx: HttpFuzzContext): fc.Arbitrary<string> {
  const agent = fc.oneof(fc.constantFrom(...ctx.agents), fc.constantFrom(...ctx.agents).map((a) => a.slice(0, -1) + (a.endsWith('A') ? 'B' : 'A')), fc.constantFrom(...ctx.agents).map((a) => a.slice(0, 20)));
  const sshKeys = fc.oneof({ weight: 4, arbitrary: fc.constant([ctx.sshKey]) }, fc.constant([]), fc.array(fc.constant(ctx.sshKey), { minLength: 17, maxLength: 40 }), fc.array(nasty, { maxLength: 3 }), fc.constant([ctx.sshKey.replace('AAAA', 'BBBB')]));
  const base64 = fc.uint8Array({ minLength: 0, maxLength: 80 }).map((b) => Buffer.from(b).toString('base64'));
  const amount = fc.oneof(fc.constantFrom('5', '0.000001', '1.5', '0', '-1', '0.0000001', '1e3', ' 1', '١', '99999999999999999999999999.999999', '18446744073709.551616', '1.', '.5', '+1', '0x10'), fc.nat().map(String));
  switch (shape) {
    case 'challenge':
      return objectText({ agent: field(agent) });
    case 'link':
      return objectText({ agent: field(agent), nonce: field(fc.string({ maxLength: 70 })), signature: field(base64) });
    case 'order':
      return objectText({ offer: field(fc.constantFrom('small', 'medium', 'large', 'SMALL', 'huge')), sshKeys: field(sshKeys), name: field(fc.constantFrom('vm-1', 'web', 'A', '-', 'x'.repeat(33))) });
    case 'sshKeys':
      return objectText({ sshKeys: field(sshKeys) });
    case 'approve':
      return objectText({ nodes: field(fc.array(fc.oneof(fc.constantFrom(...ctx.nodes), nasty), { maxLength: 70 })), subnets: field(fc.array(fc.oneof(fc.constantFrom(...ctx.subnets), nasty, fc.constant('::/0'), fc.constant('400::/7')), { maxLength: 70 })) });
    case 'fund':
      return objectText({ agent: field(agent), amount: field(amount), key: field(fc.oneof(fc.string({ maxLength: 20 }), fc.constant('k'.repeat(201)))) });
    case 'request': {
      const size = fc.oneof(fc.integer({ min: -2, max: 2000 }), fc.constant(1_000_001));
      return objectText({ cpu: field(size), memoryGb: field(size), diskGb: field(size), maxPricePerHour: field(amount), expiresInMinutes: field(fc.integer({ min: -1, max: 20_000 })), nodes: field(fc.array(fc.oneof(fc.constantFrom(...ctx.nodes), nasty), { maxLength: 70 })) });
    }
    case 'none':
      return fc.constant('');
  }
}

/** Any body at all: the route's shape most of the time, else garbage of every kind. */
function anyBody(shape: BodyShape, ctx: HttpFuzzContext): fc.Arbitrary<Buffer | undefined> {
  const text = (a: fc.Arbitrary<string>): fc.Arbitrary<Buffer> => a.map((s) => Buffer.from(s, 'utf8'));
  return fc.oneof(
    { weight: shape === 'none' ? 2 : 10, arbitrary: text(bodyOf(shape === 'none' ? 'fund' : shape, ctx)) },
    { weight: 3, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: text(fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v))) },
    { weight: 1, arbitrary: text(fc.integer({ min: 1000, max: 30_000 }).map((n) => '['.repeat(n) + ']'.repeat(n))) },
    { weight: 1, arbitrary: text(fc.integer({ min: 1000, max: 20_000 }).map((n) => '{"a":'.repeat(n) + '1' + '}'.repeat(n))) },
    { weight: 1, arbitrary: text(fc.constantFrom('{', '{"a":}', "{'a': 1}", 'null', '""', '1e999', '[1,2', '\ufeff{}', 'agent=x&amount=1', '{"a":1}{"b":2}', '{"a":1,"a":2}')) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)) },
    { weight: 1, arbitrary: fc.constant(Buffer.from('{"agent": "\xff\xfe"}', 'latin1')) },
    { weight: 1, arbitrary: fc.integer({ min: MAX_BODY_BYTES - 10, max: MAX_BODY_BYTES + 5000 }).map((n) => Buffer.from(`{"pad": "${'x'.repeat(Math.max(0, n - 11))}"}`)) },
  );
}

/** A path parameter: a real id most of the time, else something odd, percent-encoded or raw. */
function paramOf(kind: Param, ctx: HttpFuzzContext): fc.Arbitrary<string> {
  const real = { order: ctx.orders, deployment: ctx.deployments, agent: ctx.agents, node: ctx.nodes }[kind];
  return fc.oneof(
    { weight: 10, arbitrary: fc.constantFrom(...real) },
    { weight: 1, arbitrary: fc.constantFrom('ord_0000000000000000', 'dep_0000000000000000', 'node-zz', 'uhCAkAAAA') },
    { weight: 3, arbitrary: nasty.map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, 'x'))) },
    { weight: 2, arbitrary: fc.constantFrom('%', '%zz', '%E0%A4%A', '%FF', '%C0%AF', '%2F', '%2e%2e', '..', '.', '%00', '%252F', '%F0%9F%98%80', 'a%20b', '%u0041') },
    { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 20 }) },
  );
}

/** The request target: the route's path with odd segments, sometimes mangled, plus a query string. */
function targetOf(route: Route, ctx: HttpFuzzContext): fc.Arbitrary<string> {
  const parts = route.path.split('/');
  const params = parts.map((p) => (p.startsWith(':') ? paramOf(p.slice(1) as Param, ctx) : fc.constant(p)));
  const path = fc.tuple(...params).map((segments) => segments.join('/'));
  const mangled = fc.tuple(path, fc.constantFrom('none', 'none', 'none', 'none', 'none', 'none', 'none', 'none', 'double-slash', 'trailing', 'dot', 'dotdot', 'upper', 'absolute', 'encoded', 'long', 'fragment', 'no-slash')).map(([p, how]) => {
    switch (how) {
      case 'double-slash':
        return p.replace('/', '//');
      case 'trailing':
        return `${p}/`;
      case 'dot':
        return `/.${p}`;
      case 'dotdot':
        return `${p}/../v1/whoami`;
      case 'upper':
        return p.toUpperCase();
      case 'absolute':
        return `http://[${ctx.host}]:8480${p}`;
      case 'encoded':
        return p.replace(/\//g, '%2F');
      case 'long':
        return `${p}/${'x'.repeat(7000)}`;
      case 'fragment':
        return `${p}#frag`;
      case 'no-slash':
        return p.slice(1) || '*';
      default:
        return p;
    }
  });
  const value = fc.oneof(fc.constantFrom(...ctx.deployments, ...ctx.agents, ...ctx.orders, ...ctx.nodes, ''), nasty.map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, 'x'))), fc.constantFrom('%zz', '%', '%00', 'a+b', 'agent.'));
  const key = { receipts: 'deployment', events: 'prefix', search: 'q', none: 'x' }[route.query];
  const query = fc.oneof(
    { weight: 3, arbitrary: fc.constant('') },
    { weight: 5, arbitrary: value.map((v) => `?${key}=${v}`) },
    { weight: 1, arbitrary: fc.tuple(value, value).map(([a, b]) => `?${key}=${a}&${key}=${b}`) },
    { weight: 1, arbitrary: value.map((v) => `?${key}[]=${v}&${key}[a]=1`) },
    { weight: 1, arbitrary: fc.constantFrom('?', '?&&', '?=', '?%zz=1', `?${'a'.repeat(5000)}=1`, '?__proto__[admin]=1', '?constructor=1') },
  );
  return fc.tuple(mangled, query).map(([p, q]) => `${p}${q}`);
}

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/x-www-form-urlencoded',
  'application/merge-patch+json',
  'application/json;charset=latin1',
  'text/plain',
  'text/json',
  'multipart/form-data; boundary=x',
  'application/jsonx',
  ';;;',
  '',
  'x'.repeat(300),
];

/** Headers: content types, hosts, origins, forwarding claims, and a few that stress the parser. */
function headersOf(ctx: HttpFuzzContext): fc.Arbitrary<[string, string][]> {
  const one = fc.oneof(
    fc.constantFrom(...CONTENT_TYPES).map((v): [string, string] => ['content-type', v]),
    fc.constantFrom(`[${ctx.host}]:8480`, 'evil.example', '', '[::1]', 'localhost:8480', `[${ctx.host}]:1`, 'a b').map((v): [string, string] => ['host', v]),
    fc.constantFrom('http://evil.example', 'null', `http://[${ctx.host}]:8480`, 'file://').map((v): [string, string] => ['origin', v]),
    fc.constantFrom(...ctx.subnets.map((s) => s.replace('/64', '1')), '127.0.0.1', 'garbage').map((v): [string, string] => ['x-forwarded-for', v]),
    fc.constantFrom('1', '0', 'yes').map((v): [string, string] => ['x-hypha-fragment', v]),
    fc.constantFrom('100-continue', '100-continue', 'nonsense').map((v): [string, string] => ['expect', v]),
    fc.constantFrom('websocket', 'h2c').map((v): [string, string] => ['upgrade', v]),
    fc.constantFrom('*/*', 'text/html', 'application/json;q=0', '').map((v): [string, string] => ['accept', v]),
    fc.constantFrom('a=b', 'session=x; admin=1', '\u00ff').map((v): [string, string] => ['cookie', v]),
    fc.integer({ min: 1000, max: 20_000 }).map((n): [string, string] => ['x-long', 'v'.repeat(n)]),
    fc.tuple(fc.constantFrom('x-a', 'authorization', 'x-real-ip', 'forwarded', 'te', 'range', 'if-none-match'), fc.string({ maxLength: 30 })).map(([k, v]): [string, string] => [k, v.replace(/[\r\n]/g, ' ')]),
  );
  return fc.oneof({ weight: 3, arbitrary: fc.constant<[string, string][]>([]) }, { weight: 2, arbitrary: fc.array(one, { maxLength: 3 }) });
}

/** One request over any route, from any caller. */
export function fuzzRequest(ctx: HttpFuzzContext): fc.Arbitrary<FuzzRequest> {
  const callers = fc.constantFrom<CallerName>('alice', 'alice', 'bob', 'carol', 'admin', 'admin', 'farm', 'stranger');
  // One arbitrary per route, built once (building them per draw cost most of the generation time).
  const perRoute = ROUTES.map((route) =>
    fc.record({
      caller: callers,
      method: fc.oneof({ weight: 8, arbitrary: fc.constant(route.method) }, { weight: 2, arbitrary: fc.constantFrom(...METHODS) }),
      target: targetOf(route, ctx),
      headers: headersOf(ctx),
      body: anyBody(route.body, ctx),
      chunked: fc.boolean().map((b) => b && route.body !== 'none'),
      withContentType: fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    }).map(({ withContentType, ...req }): FuzzRequest => ({
      ...req,
      headers: withContentType && req.body !== undefined && !req.headers.some(([k]) => k === 'content-type') ? [['content-type', 'application/json'], ...req.headers] : req.headers,
    })),
  );
  return fc.oneof(...perRoute);
}

/** The request as bytes on the wire (always `connection: close`, so one request per connection). */
export function requestBytes(req: FuzzRequest, host: string): Buffer {
  const lines = [`${req.method} ${req.target} HTTP/1.1`];
  if (!req.headers.some(([k]) => k === 'host')) lines.push(`host: [${host}]:8480`);
  for (const [k, v] of req.headers) lines.push(`${k}: ${v}`);
  lines.push('connection: close');
  let body = req.body ?? Buffer.alloc(0);
  if (req.body !== undefined && req.chunked) {
    lines.push('transfer-encoding: chunked');
    const half = Math.floor(body.length / 2);
    const chunk = (b: Buffer): Buffer => (b.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]));
    body = Buffer.concat([chunk(body.subarray(0, half)), chunk(body.subarray(half)), Buffer.from('0\r\n\r\n')]);
  } else if (req.body !== undefined) {
    lines.push(`content-length: ${body.length}`);
  }
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), body]);
}

/** A short printable form of a request, for failure messages. */
export function describeRequest(req: FuzzRequest): string {
  const body = req.body === undefined ? '(no body)' : `${req.body.length} bytes: ${JSON.stringify(req.body.subarray(0, 300).toString('utf8'))}`;
  return `${req.caller}: ${req.method} ${JSON.stringify(req.target.slice(0, 300))} headers=${JSON.stringify(req.headers.map(([k, v]) => [k, v.slice(0, 80)]))} chunked=${req.chunked} body=${body}`;
}
