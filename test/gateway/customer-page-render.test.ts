// The customer page's pure parts: form bodies only under /page/, the table helper, escaping, and the confirmation steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isPageForm, parseFormBody } from '../../src/gateway/http/form-body.js';
import { PublicError } from '../../src/gateway/http/public-error.js';
import { table } from '../../src/gateway/render/table.js';
import { CUSTOMER_PAGE_CSP, renderCancelConfirm, renderHome, renderKeysConfirm, renderPage, type OfferRow } from '../../src/gateway/page/customer-page-render.js';
import type { DeploymentView } from '../../src/gateway/deployments/deployment-service.js';
import { REFRESH_SCRIPT } from '../../src/gateway/render/refresh-script.js';
import { BASE_STYLE } from '../../src/gateway/render/base-style.js';
import { PAGE_STYLE } from '../../src/gateway/page/page-style.js';
import { STATUS_PAGE_STYLE } from '../../src/gateway/admin/status-page-style.js';
import { CONTENT_SECURITY_POLICY } from '../../src/gateway/admin/status-page-render.js';
import { createHash } from 'node:crypto';

test('form bodies are read as forms only on the page\'s own routes', () => {
  const form = 'application/x-www-form-urlencoded';
  assert.equal(isPageForm('/page/orders', form), true);
  assert.equal(isPageForm('/page/orders', `${form}; charset=UTF-8`), true);
  assert.equal(isPageForm('/v1/orders', form), false, 'the JSON API keeps reading curl -d as JSON');
  assert.equal(isPageForm('/page/orders', 'application/json'), false);
  assert.deepEqual({ ...parseFormBody('offer=small&name=web&sshKey=ssh-ed25519+AAAA+me%40x') }, { offer: 'small', name: 'web', sshKey: 'ssh-ed25519 AAAA me@x' });
  assert.throws(() => parseFormBody('offer=small&offer=large'), (e: unknown) => e instanceof PublicError && e.status === 400 && e.extra.field === 'offer');
  assert.throws(() => parseFormBody(Array.from({ length: 21 }, (_, i) => `f${i}=1`).join('&')), (e: unknown) => e instanceof PublicError && e.status === 400);
  assert.equal(parseFormBody('__proto__=x').__proto__, 'x', 'a field named __proto__ is just a field');
});

test('table: the admin tables\' options (id, caption, row data, cell class and mark), escaped; a bad attribute name is refused', () => {
  type Row = { id: string; state: string };
  const rows: Row[] = [{ id: 'rcp_1', state: 'paid' }, { id: 'rcp_2', state: '"><x' }];
  const out = table<Row>(
    [
      { header: 'receipt', cell: (r) => r.id, className: 'id' },
      { header: 'state', cell: (r) => r.state, className: (r) => (r.state === 'paid' ? 'ev-good' : ''), mark: 'data-state-cell' },
    ],
    rows,
    'none',
    { id: 'receipts', className: 'timeline', caption: 'oldest <first>', rowData: (r) => ({ 'receipt-state': r.state }) },
  ).text;
  assert.match(out, /^<table id="receipts" class="timeline"><caption class="muted">oldest &lt;first&gt;<\/caption><thead>/);
  assert.match(out, /<tr data-receipt-state="paid"><td class="id">rcp_1<\/td><td class="ev-good" data-state-cell="">paid<\/td><\/tr>/);
  assert.match(out, /<tr data-receipt-state="&quot;&gt;&lt;x"><td class="id">rcp_2<\/td><td data-state-cell="">&quot;&gt;&lt;x<\/td><\/tr>/, 'row data values are escaped');
  assert.equal(table<Row>([{ header: 'A', cell: () => 'x' }], [], 'No receipts yet.', { id: 'receipts' }).text, '<p class="muted" data-empty="receipts">No receipts yet.</p>');
  assert.throws(() => table<Row>([{ header: 'A', cell: () => 'x' }], rows, '', { rowData: () => ({ 'x onclick': 'y' }) }), TypeError);
});

test('table: columns, rows, escaping, and the empty message', () => {
  const rows = [{ a: '<b>', n: 2 }];
  const out = table([{ header: 'A', cell: (r: { a: string; n: number }) => r.a }, { header: 'N', cell: (r) => r.n, num: true }], rows, 'none', { label: 'things' }).text;
  assert.match(out, /<table aria-label="things">/);
  assert.match(out, /<th scope="col">A<\/th><th scope="col" class="num">N<\/th>/);
  assert.match(out, /<td>&lt;b&gt;<\/td><td class="num">2<\/td>/);
  assert.equal(table([{ header: 'A', cell: () => 'x' }], [], 'nothing yet', { label: 'things' }).text, '<p class="muted" data-empty="things">nothing yet</p>');
});

const dep: DeploymentView = {
  id: 'dep_1',
  state: 'active',
  offer: 'small',
  name: 'web',
  node: 'n1',
  myceliumIp: '4ab::1',
  ssh: 'ssh root@4ab::1',
  pricePerHour: '0.050000',
  unit: 'SPORE',
  createdAt: '2026-01-01T00:00:00.000Z',
  upSeconds: 10,
  charged: '0.000000',
  arrears: '0.000000',
  paused: false,
};

test('cancel and key replacement are two steps: the confirmation posts confirm=yes', () => {
  const cancel = renderCancelConfirm(dep).text;
  assert.match(cancel, /action="\/page\/deployments\/dep_1\/cancel"/);
  assert.match(cancel, /name="confirm" value="yes"/);
  const keys = renderKeysConfirm(dep, ['ssh-ed25519 AAAAC3Nza"<x> me']).text;
  assert.match(keys, /name="sshKeys" value="ssh-ed25519 AAAAC3Nza&quot;&lt;x&gt; me"/, 'the keys are carried escaped');
  assert.match(keys, /name="confirm" value="yes"/);
});

test('an unlinked caller sees the link command; the script is allowed by its hash and nothing else', () => {
  const home = renderHome({ gateway: { url: 'http://[4ab::1]:8480', agent: 'uhCAkG' }, caller: { address: '4cd::1', subnet: '4cd::/64' } }).text;
  assert.match(home, /\.\/bin\/hypha\.js link --gateway http:\/\/\[4ab::1\]:8480 --key YOUR\.key/);
  assert.doesNotMatch(home, /buy-form/);
  const hash = createHash('sha256').update(REFRESH_SCRIPT.text, 'utf8').digest('base64');
  assert.match(CUSTOMER_PAGE_CSP, new RegExp(`script-src 'sha256-${hash.replace(/[+/]/g, '\\$&')}';`));
  assert.doesNotMatch(CUSTOMER_PAGE_CSP, /unsafe/);
  assert.ok(renderPage('x', renderHome({ gateway: { url: 'u', agent: 'a' }, caller: { address: 'b', subnet: 'c' } }), true).includes(`<script>${REFRESH_SCRIPT.text}</script>`));
});

test('both pages share one base style sheet and one refresh script, each allowed by hash in its own CSP', () => {
  for (const style of [PAGE_STYLE, STATUS_PAGE_STYLE]) assert.ok(style.text.startsWith(BASE_STYLE.text), 'the page style starts with the base');
  assert.notEqual(PAGE_STYLE.text, STATUS_PAGE_STYLE.text, 'each page adds its own rules');
  const hash = (s: string): string => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;
  for (const [csp, style] of [[CUSTOMER_PAGE_CSP, PAGE_STYLE], [CONTENT_SECURITY_POLICY, STATUS_PAGE_STYLE]] as const) {
    assert.ok(csp.includes(`script-src ${hash(REFRESH_SCRIPT.text)};`), 'the same script hash');
    assert.ok(csp.includes(`style-src ${hash(style.text)};`), 'the page\'s own style hash');
  }
  const linked = renderHome({
    gateway: { url: 'u', agent: 'a' },
    caller: { address: 'b', subnet: 'c', agent: 'uhCAkA' },
    linked: { balance: null, orders: [], deployments: [], offers: [], earlierKeys: [] },
  }).text;
  assert.match(linked, /<div id="live" aria-live="polite" data-refresh-seconds="3">/, 'the customer page marks its live part for the script');
});

test('the buy form can always be sent: an offer with no room right now stays choosable and says so, and the first with room is chosen', () => {
  const offer = (id: string, available: number): OfferRow => ({ id, cpu: 1, memoryGb: 2, diskGb: 20, pricePerHour: '0.050000', unit: 'SPORE', available, deposit: '1.200000', depositHours: 24 });
  const home = (offers: OfferRow[]): string =>
    renderHome({ gateway: { url: 'http://[4ab::1]:8480', agent: 'uhCAkG' }, caller: { address: '4cd::1', subnet: '4cd::/64', agent: 'uhCAkA' }, linked: { balance: null, orders: [], deployments: [], offers, earlierKeys: [] } }).text;
  const none = home([offer('small', 0), offer('large', 0)]);
  assert.doesNotMatch(none, /<option[^>]*disabled/, 'no option is disabled, so the required select always has a value');
  assert.match(none, /<option value="small">small: 1 CPU, 2 GB, 0\.050000 SPORE\/h \(no room right now\)<\/option>/);
  const some = home([offer('small', 0), offer('large', 3)]);
  assert.match(some, /<option value="large" selected>large: [^<]*SPORE\/h<\/option>/, 'the first offer with room is the default');
  assert.match(some, /<option value="small">[^<]*\(no room right now\)/);
});
