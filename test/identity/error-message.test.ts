// errorMessage: the text of whatever a catch receives, an Error or anything else thrown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorMessage } from '../../src/identity/error-message.js';

test('errorMessage of an Error is its message, without the name', () => {
  assert.equal(errorMessage(new RangeError('amount must be positive')), 'amount must be positive');
});

test('errorMessage of a thrown string is the string', () => {
  assert.equal(errorMessage('connection refused'), 'connection refused');
});

test('errorMessage of a plain object or undefined is its String form, never undefined', () => {
  assert.equal(errorMessage({ code: 'E1' }), '[object Object]');
  assert.equal(errorMessage(undefined), 'undefined');
  assert.equal(errorMessage(null), 'null');
});
