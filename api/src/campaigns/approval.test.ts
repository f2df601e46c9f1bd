import assert from 'node:assert/strict';
import { test } from 'node:test';
import { approvalDecision } from './approval.ts';

test('without thresholds no campaign waits for approval', () => {
  assert.deepEqual(approvalDecision(undefined, { recipients: 5_000_000, estimatedCost: 1e9 }), {
    required: false,
  });
  assert.deepEqual(
    approvalDecision({ maxRecipients: null, maxCost: null }, { recipients: 9, estimatedCost: 9 }),
    {
      required: false,
    },
  );
});

test('a campaign above either threshold waits, one at it does not', () => {
  const settings = { maxRecipients: 10_000, maxCost: 100 };
  assert.equal(approvalDecision(settings, { recipients: 10_000, estimatedCost: 100 }).required, false);
  const many = approvalDecision(settings, { recipients: 10_001, estimatedCost: 1 });
  assert.deepEqual(many, { required: true, reason: '10001 recipients > the approval threshold of 10000' });
  const dear = approvalDecision(settings, { recipients: 1, estimatedCost: 100.01 });
  assert.deepEqual(dear, { required: true, reason: 'estimated cost 100.01 > the approval threshold of 100' });
  assert.equal(
    approvalDecision({ maxRecipients: 0, maxCost: null }, { recipients: 1, estimatedCost: 0 }).required,
    true,
  );
});
