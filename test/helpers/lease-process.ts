// A gateway's lease alone in its own process (createLease, as Gateway.start makes it), printing each role change as a JSON line: the other gateway of the lease-worker tests.
import { pino } from 'pino';
import { createLease } from '../../src/gateway/ha/create-lease.js';

/** One line of this process's output. */
export type LeaseProcessLine = { readonly event: 'started' | 'active' | 'standby'; readonly role: string; readonly token?: number; readonly atMs: number };

const databaseUrl = process.env.HYPHA_TEST_LEASE_DB ?? '';
const url = process.env.HYPHA_TEST_LEASE_URL ?? 'http://b';
const takeoverMs = Number(process.env.HYPHA_TEST_LEASE_TAKEOVER_MS ?? 2000);
const stallMs = Number(process.env.HYPHA_TEST_LEASE_STALL_MS ?? 20_000);
const say = (line: LeaseProcessLine): boolean => process.stdout.write(`${JSON.stringify(line)}\n`);

const { lease } = createLease({ takeoverMs, stallMs, databaseUrl }, url, pino({ level: 'silent' }));
lease.signals.on('active', (token) => say({ event: 'active', role: lease.role(), token, atMs: Date.now() }));
lease.signals.on('standby', () => say({ event: 'standby', role: lease.role(), atMs: Date.now() }));
process.once('SIGTERM', () => void lease.close().then(() => process.exit(0)));
await lease.start();
say({ event: 'started', role: lease.role(), atMs: Date.now() });
