// GridProxyClient against a real local HTTP server: the query it sends, the candidates it keeps, and its errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  BYTES_PER_GB,
  GridProxyClient,
  GridProxyError,
  candidatesFrom,
  nodesQuery,
  parseNodes,
} from '../../src/gateway/provision/grid-proxy-client.js';
import type { OfferSize } from '../../src/gateway/provision/grid-proxy-client.js';
import { readVectors } from '../helpers/paths.js';

const fixture = readVectors<{ response: unknown[] }>('grid-proxy-nodes.json');

const SIZES: Record<'small' | 'medium' | 'large', OfferSize> = {
  small: { cpu: 1, memoryGb: 2, diskGb: 25 },
  medium: { cpu: 2, memoryGb: 4, diskGb: 50 },
  large: { cpu: 4, memoryGb: 16, diskGb: 100 },
};

interface TestServer {
  readonly url: string;
  readonly requests: URL[];
  close(): Promise<void>;
}

/** A local proxy stand-in on 127.0.0.1 that records every request URL. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestServer> {
  const requests: URL[] = [];
  const server = createServer((req, res) => {
    requests.push(new URL(req.url ?? '/', 'http://127.0.0.1'));
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function sendJson(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(body);
}

/** Serves the fixture whatever the query says, like a proxy that ignores its filters. */
const serveFixture = (_req: IncomingMessage, res: ServerResponse): void => sendJson(res, 200, JSON.stringify(fixture.response));

test('findNodes asks GET /nodes for up, healthy mycelium nodes with the offer in bytes, in the listed farms', async () => {
  const server = await serve(serveFixture);
  try {
    await new GridProxyClient({ baseUrl: `${server.url}/` }).findNodes(SIZES.small, { farmIds: [1, 7] });
    assert.equal(server.requests.length, 1);
    const url = server.requests[0] as URL;
    assert.equal(url.pathname, '/nodes');
    const q = url.searchParams;
    assert.equal(q.get('status'), 'up');
    assert.equal(q.get('healthy'), 'true');
    assert.equal(q.get('features'), 'mycelium');
    assert.equal(q.get('free_mru'), String(2 * BYTES_PER_GB));
    assert.equal(q.get('free_mru'), '2147483648');
    assert.equal(q.get('free_sru'), '26843545600');
    assert.equal(q.get('total_cru'), '1');
    assert.equal(q.get('farm_ids'), '1,7');
    assert.equal(q.get('rented'), 'false');
    assert.equal(q.get('in_dedicated_farm'), 'false', 'an unrented node of a dedicated farm takes only its renter\'s VMs');
    assert.equal(q.get('available_for'), null);
    assert.equal(q.get('size'), '50');
    assert.equal(q.get('page'), '1');
  } finally {
    await server.close();
  }
});

test('findNodes with a twin id asks for nodes available to it instead of unrented ones', async () => {
  const server = await serve(serveFixture);
  try {
    await new GridProxyClient({ baseUrl: server.url, pageSize: 200 }).findNodes(SIZES.large, { availableForTwinId: 4242 });
    const q = (server.requests[0] as URL).searchParams;
    assert.equal(q.get('available_for'), '4242');
    assert.equal(q.get('rented'), null);
    assert.equal(q.get('in_dedicated_farm'), null);
    assert.equal(q.get('farm_ids'), null);
    assert.equal(q.get('free_mru'), String(16 * BYTES_PER_GB));
    assert.equal(q.get('free_sru'), String(100 * BYTES_PER_GB));
    assert.equal(q.get('total_cru'), '4');
    assert.equal(q.get('size'), '200');
  } finally {
    await server.close();
  }
});

const candidateTable: Array<{ size: keyof typeof SIZES; farmIds?: number[]; twinId?: number; expected: Array<[number, number]> }> = [
  // [nodeId, freeSlots]: 14 lacks mycelium, 15 is down, 17 unhealthy, 18 standby; 16 is in farm 99.
  // 19 (dedicated farm), 20 (rented by 4242), 21 (rented by 777) and 22 (extra fee) take no VM of a twin that rents nothing.
  { size: 'small', farmIds: [1, 7], expected: [[11, 36], [12, 10], [13, 1]] },
  { size: 'small', farmIds: [1, 7], twinId: 4242, expected: [[11, 36], [12, 10], [20, 5], [13, 1]] },
  { size: 'small', farmIds: [1, 7], twinId: 777, expected: [[11, 36], [21, 36], [12, 10], [13, 1]] },
  { size: 'small', expected: [[16, 115], [11, 36], [12, 10], [13, 1]] },
  // 13 has exactly 2 GiB free: no room for 4 GiB.
  { size: 'medium', farmIds: [1, 7], expected: [[11, 18], [12, 5]] },
  // 12 has 2 cores, fewer than the 4 a large VM has.
  { size: 'large', farmIds: [1, 7], expected: [[11, 6]] },
  { size: 'large', farmIds: [7], expected: [] },
];

for (const row of candidateTable) {
  test(`findNodes ${row.size} in farms ${row.farmIds?.join(',') ?? 'any'} for ${row.twinId === undefined ? 'no twin' : `twin ${row.twinId}`}: only real candidates, most room first`, async () => {
    const server = await serve(serveFixture);
    try {
      const client = new GridProxyClient({ baseUrl: server.url });
      const found = await client.findNodes(SIZES[row.size], {
        ...(row.farmIds === undefined ? {} : { farmIds: row.farmIds }),
        ...(row.twinId === undefined ? {} : { availableForTwinId: row.twinId }),
      });
      assert.deepEqual(
        found.map((c) => [c.nodeId, c.freeSlots]),
        row.expected,
      );
      for (const c of found) {
        assert.ok(c.freeMruBytes >= SIZES[row.size].memoryGb * BYTES_PER_GB);
        assert.ok(c.freeSruBytes >= SIZES[row.size].diskGb * BYTES_PER_GB);
      }
    } finally {
      await server.close();
    }
  });
}

test('a candidate carries its farm, twin, cores and free bytes from total_resources minus used_resources', async () => {
  const server = await serve(serveFixture);
  try {
    const [first] = await new GridProxyClient({ baseUrl: server.url }).findNodes(SIZES.small, { farmIds: [1] });
    assert.deepEqual(first, {
      nodeId: 11,
      farmId: 1,
      twinId: 5011,
      totalCru: 32,
      freeMruBytes: 137438953472 - 30923764531,
      freeSruBytes: 1099511627776 - 128849018880,
      freeSlots: 36,
    });
  } finally {
    await server.close();
  }
});

test('a proxy answering 500 is a clear GridProxyError with the status', async () => {
  const server = await serve((_req, res) => sendJson(res, 500, '{"error":"database is not ready"}'));
  try {
    await assert.rejects(new GridProxyClient({ baseUrl: server.url }).findNodes(SIZES.small), (err: unknown) => {
      assert.ok(err instanceof GridProxyError);
      assert.equal(err.httpStatus, 500);
      assert.equal(err.operation, 'findNodes');
      assert.match(err.message, /^gridproxy\.findNodes: GET http:\/\/127\.0\.0\.1:\d+\/nodes\?.* answered 500: \{"error":"database is not ready"\}$/);
      return true;
    });
  } finally {
    await server.close();
  }
});

test('a proxy answering garbage instead of JSON is a clear GridProxyError', async () => {
  const server = await serve((_req, res) => sendJson(res, 200, '<html>502 Bad Gateway</html>'));
  try {
    await assert.rejects(new GridProxyClient({ baseUrl: server.url }).findNodes(SIZES.small), (err: unknown) => {
      assert.ok(err instanceof GridProxyError);
      assert.match(err.message, /^gridproxy\.findNodes: .* not JSON: <html>502 Bad Gateway<\/html>$/);
      return true;
    });
  } finally {
    await server.close();
  }
});

const badShapes: Array<{ name: string; body: unknown; field: RegExp }> = [
  { name: 'an object instead of a list', body: { nodes: [] }, field: /expected a JSON array of nodes, got an object/ },
  { name: 'a node without total_resources', body: [{ ...(fixture.response[0] as object), total_resources: undefined }], field: /\[0\]\.total_resources: must be a JSON object, got undefined/ },
  { name: 'a negative used mru', body: [fixture.response[0], { ...(fixture.response[1] as object), used_resources: { cru: 0, sru: 0, hru: 0, mru: -1 } }], field: /\[1\]\.used_resources\.mru must be an integer of at least 0, got -1/ },
  { name: 'a string node id', body: [{ ...(fixture.response[0] as object), nodeId: '11' }], field: /\[0\]\.nodeId must be an integer of at least 1, got a string/ },
  { name: 'features that are not strings', body: [{ ...(fixture.response[0] as object), features: [1] }], field: /\[0\]\.features\[0\] must be a string/ },
  { name: 'a node without inDedicatedFarm', body: [{ ...(fixture.response[0] as object), inDedicatedFarm: undefined }], field: /\[0\]\.inDedicatedFarm must be a boolean/ },
  { name: 'a rentedByTwinId that is not a number', body: [{ ...(fixture.response[0] as object), rentedByTwinId: '4242' }], field: /\[0\]\.rentedByTwinId must be an integer of at least 0, got a string/ },
];

for (const row of badShapes) {
  test(`a response with ${row.name} is refused, naming the field`, async () => {
    const server = await serve((_req, res) => sendJson(res, 200, JSON.stringify(row.body)));
    try {
      await assert.rejects(new GridProxyClient({ baseUrl: server.url }).findNodes(SIZES.small), (err: unknown) => {
        assert.ok(err instanceof GridProxyError);
        assert.match(err.message, /^gridproxy\.findNodes: unexpected answer from /);
        assert.match(err.message, row.field);
        return true;
      });
    } finally {
      await server.close();
    }
  });
}

test('a proxy that never answers times out with a clear GridProxyError', async () => {
  const server = await serve(() => {
    // Never answers.
  });
  try {
    const started = Date.now();
    await assert.rejects(new GridProxyClient({ baseUrl: server.url, timeoutMs: 150 }).findNodes(SIZES.small), (err: unknown) => {
      assert.ok(err instanceof GridProxyError);
      assert.match(err.message, /^gridproxy\.findNodes: no answer from http:\/\/127\.0\.0\.1:\d+\/nodes\?\S+ within 150 ms$/);
      return true;
    });
    assert.ok(Date.now() - started < 5000, 'the timeout bounds the request');
  } finally {
    await server.close();
  }
});

test('a proxy that is not listening is a clear GridProxyError', async () => {
  const server = await serve(serveFixture);
  const url = server.url;
  await server.close();
  await assert.rejects(new GridProxyClient({ baseUrl: url, timeoutMs: 2000 }).findNodes(SIZES.small), /^GridProxyError: gridproxy\.findNodes: cannot reach http:\/\/127\.0\.0\.1:\d+\/nodes\?/);
});

test('bad client options are refused, naming the option', () => {
  assert.throws(() => new GridProxyClient({ baseUrl: 'gridproxy.grid.tf' }), TypeError);
  assert.throws(() => new GridProxyClient({ baseUrl: 'ftp://gridproxy.grid.tf' }), /baseUrl must use http or https/);
  assert.throws(() => new GridProxyClient({ baseUrl: 'https://gridproxy.grid.tf', timeoutMs: 0 }), /timeoutMs/);
  assert.throws(() => new GridProxyClient({ baseUrl: 'https://gridproxy.grid.tf', pageSize: 5000 }), /pageSize/);
  assert.equal(new GridProxyClient({ baseUrl: 'https://gridproxy.grid.tf//' }).baseUrl, 'https://gridproxy.grid.tf');
});

test('nodesQuery refuses offers the grid cannot size', () => {
  assert.throws(() => nodesQuery({ cpu: 0, memoryGb: 2, diskGb: 25 }), /offer\.cpu/);
  assert.throws(() => nodesQuery({ cpu: 1, memoryGb: 0, diskGb: 25 }), /offer\.memoryGb/);
  assert.throws(() => nodesQuery({ cpu: 1, memoryGb: 2, diskGb: Number.NaN }), /offer\.diskGb/);
  assert.throws(() => nodesQuery(SIZES.small, { farmIds: [0] }), /farmIds/);
});

test('parseNodes reads a node whose features are null as having none, so it is never a candidate', () => {
  const node = { ...(fixture.response[0] as object), features: null };
  const [parsed] = parseNodes([node]);
  assert.deepEqual(parsed?.features, []);
  assert.deepEqual(candidatesFrom(parseNodes([node]), SIZES.small), []);
  assert.equal(candidatesFrom(parseNodes([fixture.response[0]]), SIZES.small).length, 1);
});
