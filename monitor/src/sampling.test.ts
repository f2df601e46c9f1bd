import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newId } from '../../core/ids.ts';
import { ReceiptSampler } from './sampling.ts';

test('below the threshold every receipt is read', () => {
  const sampler = new ReceiptSampler({ threshold: 100, ratio: 0.1 });
  sampler.recordLag(0, 60);
  sampler.recordLag(1, 39);
  assert.equal(sampler.active, false);
  assert.ok(Array.from({ length: 100 }, () => sampler.keep(newId(), 'marketing')).every(Boolean));
});

test('over the threshold, bulk receipts are sampled and OTP, alert and unknown ones never', () => {
  const sampler = new ReceiptSampler({ threshold: 100, ratio: 0.1 });
  sampler.recordLag(0, 60);
  sampler.recordLag(1, 40);
  assert.equal(sampler.active, true);
  const ids = Array.from({ length: 20_000 }, () => newId());
  const kept = ids.filter((id) => sampler.keep(id, 'marketing')).length;
  assert.ok(kept > 1_600 && kept < 2_400, `kept ${kept} of 20,000 at 10 %`);
  assert.ok(ids.every((id) => sampler.keep(id, 'otp')));
  assert.ok(ids.every((id) => sampler.keep(id, 'alert')));
  assert.ok(ids.every((id) => sampler.keep(id, undefined)));
  assert.equal(
    sampler.keep(ids[0]!, 'transactional'),
    sampler.keep(ids[0]!, 'transactional'),
    'deterministic',
  );
});

test('sampling stops only once the backlog fell to half the threshold', () => {
  const sampler = new ReceiptSampler({ threshold: 100 });
  sampler.recordLag(0, 150);
  sampler.recordLag(0, 60);
  assert.equal(sampler.active, true);
  sampler.recordLag(0, 49);
  assert.equal(sampler.active, false);
});
