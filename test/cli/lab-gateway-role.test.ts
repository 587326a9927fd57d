// `hypha lab status` roles from a live gateway's answer: a slow or failing gateway is unresponsive, never reported down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { roleOfAnswer } from '../../src/lab/lab-gateways.js';

test('a standby\'s 503 naming itself is standby', () => {
  assert.equal(roleOfAnswer('{"error":{"code":"standby","message":"this gateway is a standby"}}\n503'), 'standby');
});

test('any answer below 500 from a live gateway is the active one', () => {
  for (const status of [200, 302, 404]) assert.equal(roleOfAnswer(`<html></html>\n${status}`), 'active', String(status));
});

test('a 5xx other than the standby\'s, or no status at all, is unresponsive (the process lives: not down)', () => {
  assert.equal(roleOfAnswer('{"error":{"code":"unavailable","message":"not the standby"}}\n503'), 'unresponsive');
  assert.equal(roleOfAnswer('\n500'), 'unresponsive');
  assert.equal(roleOfAnswer('\n000'), 'unresponsive');
  assert.equal(roleOfAnswer(''), 'unresponsive');
});
