import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isRetriable } from '../core/retry.ts';
import { ERROR_CLASSES, ProviderError } from './provider.ts';

test('a provider error is retriable exactly when its class is the provider’s fault', () => {
  const retriable = ERROR_CLASSES.filter((errorClass) =>
    isRetriable(new ProviderError(errorClass, 'X', 'x')),
  );
  assert.deepEqual(retriable, ['retryable', 'throttled']);
});
