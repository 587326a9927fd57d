// The pure rules behind what a customer whose funds ran out is told: the runway, what is due and by when, the order's state, the fund answer.
import { deploymentRecord } from '../helpers/deployment-record.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runwayOf, positionOf } from '../../src/gateway/billing/funds.js';
import { adviceOf, depositFor, fundsDue, fundsDueView } from '../../src/gateway/billing/grace-due.js';
import { deploymentView } from '../../src/gateway/deployments/deployment-service.js';
import { orderStateOf } from '../../src/gateway/orders/order-service.js';
import { fundedSummary } from '../../src/gateway/http/admin-routes.js';
import { axisTime } from '../../src/gateway/admin/status-page-render.js';
import type { DeploymentRecord, OrderRecord } from '../../src/gateway/store/records.js';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const ALICE = 'uhCAkAlice';


/** An active VM of alice's. */
const deployment = (id: string, extra: Partial<DeploymentRecord> = {}): DeploymentRecord => deploymentRecord(id, { customer: ALICE, farmer: 'uhCAkFarmer', myceliumIp: '4ab:1::ff0f:1', name: 'vm', ...extra }, T0);

test('runway: hours at the current burn; none while charges are unpaid (the VMs are in grace)', () => {
  const low = 24 * HOUR;
  assert.deepEqual(runwayOf(1_200_000n, 50_000n, 0n, low), { runwayHours: 24, lowFunds: false });
  assert.deepEqual(runwayOf(1_000_000n, 50_000n, 0n, low), { runwayHours: 20, lowFunds: true });
  assert.deepEqual(runwayOf(10_000_000n, 50_000n, 1n, low), { lowFunds: true }, 'arrears: no runway is promised');
  assert.deepEqual(runwayOf(0n, 0n, 0n, low), { lowFunds: false });
  assert.deepEqual(runwayOf(0n, 0n, 5n, low), { lowFunds: true });
});

test('depositFor rounds a price for a duration up to a micro-unit', () => {
  assert.equal(depositFor('0.050000', 24 * HOUR), 1_200_000n);
  assert.equal(depositFor('0.000001', HOUR / 2), 1n, 'half a micro-unit rounds up');
  assert.equal(depositFor('0.050000', 0), 0n);
});

test('what is due in grace: arrears plus the deposit for the running VMs, less what the agreement holds, by the earliest grace end', () => {
  const deployments = [
    deployment('dep_a', { state: 'grace', graceSinceMs: T0, graceUntilMs: T0 + 72 * HOUR }),
    deployment('dep_b', { state: 'grace', graceSinceMs: T0, graceUntilMs: T0 + 70 * HOUR, pricePerHour: '0.100000' }),
    deployment('dep_gone', { state: 'deprovisioned' }),
    deployment('dep_other', { customer: 'uhCAkBob' }),
  ];
  const due = fundsDue({ customer: ALICE, deployments, availableMicros: 30_000n, arrearsMicros: 150_000n, keepUpMs: 24 * HOUR });
  assert.equal(due.keepUpMicros, 1_200_000n + 2_400_000n);
  assert.equal(due.dueMicros, 150_000n + 3_600_000n - 30_000n);
  assert.deepEqual(due.inGrace, ['dep_a', 'dep_b']);
  assert.equal(due.deprovisionAtMs, T0 + 70 * HOUR);
  const view = fundsDueView(due, 'SPORE');
  assert.equal(view.pay, '3.720000');
  assert.equal(view.arrears, '0.150000');
  assert.deepEqual(view.keepUp, { hours: 24, amount: '3.600000' });
  assert.equal(view.by, new Date(T0 + 70 * HOUR).toISOString());
  const advice = adviceOf(due, 'SPORE');
  assert.match(advice, /^2 VM\(s\) are in grace/);
  assert.match(advice, /pay 3\.720000 SPORE/);
  assert.match(advice, /0\.150000 SPORE of arrears plus 3\.600000 SPORE to keep your VMs up for 24 h, less the 0\.030000 SPORE/);
  assert.match(advice, /before 2026-01-03T22:00:00\.000Z/);
  assert.match(advice, /Paying only the arrears ends grace until the next period's charge is refused/);
});

test('nothing is due when the agreement covers arrears and the deposit; advice is then empty', () => {
  const due = fundsDue({ customer: ALICE, deployments: [deployment('dep_a')], availableMicros: 5_000_000n, arrearsMicros: 0n, keepUpMs: 24 * HOUR });
  assert.equal(due.dueMicros, 0n);
  assert.equal(adviceOf(due, 'SPORE'), '');
  const short = fundsDue({ customer: ALICE, deployments: [deployment('dep_a')], availableMicros: 200_000n, arrearsMicros: 0n, keepUpMs: 24 * HOUR });
  assert.equal(short.dueMicros, 1_000_000n);
  assert.match(adviceOf(short, 'SPORE'), /will run out of funds within 24 h: pay 1\.000000 SPORE/);
});

test('positionOf: the one rule for /v1/balance and the admin counters', () => {
  const src = { lowRunwayMs: 24 * HOUR, depositMs: 24 * HOUR, deployments: () => [deployment('dep_a', { state: 'grace', graceUntilMs: T0 + HOUR })], arrearsOf: () => 50_000n };
  const p = positionOf(src, ALICE, 10_000n);
  assert.deepEqual(p.runway, { lowFunds: true });
  assert.equal(p.due.dueMicros, 50_000n + 1_200_000n - 10_000n);
});

test('an order follows its deployment once handed over', () => {
  const order: OrderRecord = { id: 'ord_1', customer: ALICE, offer: 'small', name: 'vm', sshKeys: [], pricePerHour: '0.050000', deposit: '1.200000', unit: 'SPORE', state: 'active', createdAtMs: T0, expiresAtMs: T0 + HOUR, deployment: 'dep_a', attempts: [] };
  assert.equal(orderStateOf(order, deployment('dep_a')), 'active');
  assert.equal(orderStateOf(order, deployment('dep_a', { state: 'grace' })), 'grace');
  assert.equal(orderStateOf(order, deployment('dep_a', { state: 'deprovisioned' })), 'deprovisioned');
  assert.equal(orderStateOf({ ...order, state: 'awaiting_payment' }, undefined), 'awaiting_payment');
  assert.equal(orderStateOf({ ...order, state: 'failed' }, deployment('dep_a', { state: 'grace' })), 'failed', 'only a handed-over order follows');
});

test('a deployment view: no ssh once deprovisioned; toPay only in grace', () => {
  const totals = { upSeconds: 0, chargedMicros: 0n, arrearsMicros: 0n };
  const toPay = { pay: '1.000000', unit: 'SPORE', arrears: '1.000000', keepUp: { hours: 0, amount: '0.000000' }, available: '0.000000', deployments: ['dep_a'], advice: '' };
  assert.equal(deploymentView(deployment('dep_a'), totals, toPay).ssh, 'ssh root@4ab:1::ff0f:1');
  assert.equal(deploymentView(deployment('dep_a'), totals, toPay).toPay, undefined);
  assert.deepEqual(deploymentView(deployment('dep_a', { state: 'grace', graceUntilMs: T0 }), totals, toPay).toPay, toPay);
  const gone = deploymentView(deployment('dep_a', { state: 'deprovisioned', endedAtMs: T0, endReason: 'out_of_funds' }), totals);
  assert.equal('ssh' in gone, false);
  assert.equal(gone.endReason, 'out_of_funds');
});

test('the fund answer says what was paid, which VMs resumed, and what is still needed', () => {
  const dueAfter = fundsDue({ customer: ALICE, deployments: [deployment('dep_a')], availableMicros: 0n, arrearsMicros: 0n, keepUpMs: 24 * HOUR });
  const onlyArrears = fundedSummary({ arrearsPaidMicros: 100_000n, resumed: ['dep_a'], stillInGrace: [], ended: [], due: dueAfter }, 'SPORE');
  assert.match(onlyArrears, /^paid 0\.100000 SPORE of arrears; 1 VM\(s\) left grace and resumed \(dep_a\)\./);
  assert.match(onlyArrears, /Still needed: .*pay 1\.200000 SPORE/);
  const notEnough = fundedSummary({ arrearsPaidMicros: 0n, resumed: [], stillInGrace: ['dep_a'], ended: [], due: null }, 'SPORE');
  assert.match(notEnough, /1 VM\(s\) are still in grace \(dep_a\): the arrears are not all paid\.$/);
  assert.equal(fundedSummary({ arrearsPaidMicros: 0n, resumed: [], stillInGrace: [], ended: [], due: null }, 'SPORE'), 'no arrears were due and no VM was in grace.');
  const tooLate = fundedSummary({ arrearsPaidMicros: 100_000n, resumed: [], stillInGrace: [], ended: ['dep_a'], due: null }, 'SPORE');
  assert.match(tooLate, /^paid 0\.100000 SPORE of arrears; 1 VM\(s\) had already been deprovisioned when the funds were counted \(dep_a\): order a new one\.$/);
});

test('the revenue chart axis shows the date, not only the time', () => {
  assert.equal(axisTime('2026-11-28T07:00:00.000Z'), '2026-11-28 07:00Z');
  assert.equal(axisTime(null), '');
});
