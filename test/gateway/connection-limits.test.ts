// Connection caps on a real server and real sockets: one source cannot hold more than its share, and the total is bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { ConnectionLimiter, connectionKeyOf } from '../../src/gateway/http/connection-limits.js';

/** A kept-open connection from `localAddress`, and whether the server answered a request on it. */
async function open(port: number, localAddress: string): Promise<{ socket: Socket; answered: boolean }> {
  const socket = connect({ host: '127.0.0.1', port, localAddress });
  socket.on('error', () => undefined);
  const answered = await new Promise<boolean>((resolve) => {
    socket.once('connect', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    socket.once('data', (d: Buffer) => resolve(d.toString('latin1').startsWith('HTTP/1.1 200')));
    socket.once('close', () => resolve(false));
  });
  return { socket, answered };
}

test('the per-source cap refuses one source\'s extra connections while others are still served; the total cap holds', async (t) => {
  const server = createServer((_req, res) => res.end('ok'));
  server.keepAliveTimeout = 60_000;
  const limiter = new ConnectionLimiter({ maxConnections: 5, maxConnectionsPerSubnet: 2 });
  limiter.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const sockets: Socket[] = [];
  t.after(async () => {
    for (const s of sockets) s.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const from = async (address: string): Promise<boolean> => {
    const c = await open(port, address);
    sockets.push(c.socket);
    return c.answered;
  };

  // All of 127.0.0.0/8 is loopback on Linux: each address is a separate source here.
  assert.equal(await from('127.0.0.2'), true);
  assert.equal(await from('127.0.0.2'), true);
  assert.equal(await from('127.0.0.2'), false, 'a third connection from the same source is refused');
  assert.equal(limiter.openFor('127.0.0.2'), 2);
  assert.equal(await from('127.0.0.3'), true, 'another source is still served');
  assert.equal(await from('127.0.0.3'), true);
  assert.equal(await from('127.0.0.4'), true);
  assert.equal(await from('127.0.0.5'), false, 'past the total of 5, Node drops the connection');
  assert.equal(limiter.refusedTotal(), 2);

  // A closed connection frees its place.
  (sockets[0] as Socket).destroy();
  // The server sees the close a moment after the client: wait for its count, not for a time.
  while (limiter.openFor('127.0.0.2') !== 1) await new Promise((r) => setImmediate(r));
  assert.equal(await from('127.0.0.2'), true, 'once one of its connections closed, the source may open another');
});

test('connections are counted per /64 for IPv6 peers', () => {
  assert.equal(connectionKeyOf('5a1:2b3:c4d5:e6f7::1'), connectionKeyOf('5a1:2b3:c4d5:e6f7:ffff:1:2:3'));
  assert.notEqual(connectionKeyOf('5a1:2b3:c4d5:e6f7::1'), connectionKeyOf('5a1:2b3:c4d5:e6f8::1'));
  assert.equal(connectionKeyOf('127.0.0.2'), '127.0.0.2');
  assert.equal(connectionKeyOf('::ffff:127.0.0.2'), '::ffff:127.0.0.2');
});
