import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { classifySubmitStatus } from './status.ts';

describe('SMPP submit status', () => {
  test('throttling answers carry a pause for the bridge', () => {
    const options = { throttledRetryAfterMs: 1000, queueFullRetryAfterMs: 5000 };
    assert.equal(classifySubmitStatus(0x58, options).retryAfterMs, 1000);
    assert.equal(classifySubmitStatus(0x14, options).retryAfterMs, 5000);
    assert.equal(classifySubmitStatus(0x0b, options).retryAfterMs, undefined);
  });
});
