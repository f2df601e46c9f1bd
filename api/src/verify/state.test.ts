import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VERIFICATION_STATUSES } from '../../../core/verification.ts';
import { MAX_CHECKS } from './policy.ts';
import { canTransition, statusAt, VERIFICATION_TRANSITIONS } from './state.ts';

test('every status is in the table, and only pending ever changes', () => {
  assert.deepEqual(Object.keys(VERIFICATION_TRANSITIONS).sort(), [...VERIFICATION_STATUSES].sort());
  for (const from of VERIFICATION_STATUSES) {
    for (const to of VERIFICATION_STATUSES) {
      assert.equal(canTransition(from, to), from === 'pending', `${from} → ${to}`);
    }
  }
});

test('expiry and exhausted checks are derived from a stored pending verification', () => {
  const t = 1_000;
  assert.equal(statusAt({ stored: 'pending', expiresAt: t + 1, checks: 0 }, t), 'pending');
  assert.equal(statusAt({ stored: 'pending', expiresAt: t, checks: 0 }, t), 'expired');
  assert.equal(statusAt({ stored: 'pending', expiresAt: t + 1, checks: MAX_CHECKS }, t), 'max_attempts');
  assert.equal(statusAt({ stored: 'pending', expiresAt: t, checks: MAX_CHECKS }, t), 'max_attempts');
  for (const stored of ['approved', 'canceled'] as const) {
    assert.equal(statusAt({ stored, expiresAt: t, checks: MAX_CHECKS }, t + 1), stored, 'final states stay');
  }
});
