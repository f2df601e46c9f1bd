import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeEvent } from '../../core/events.ts';
import type { MessageRequested } from '../../core/message.ts';
import { Canary, CANARY_TENANT } from './canary.ts';

function canary() {
  const clock = { now: 1_700_000_000_000 };
  const published: MessageRequested[] = [];
  const results: string[] = [];
  const c = new Canary({
    targets: [
      { provider: 'twilio', country: 'GB', to: '+447400123456' },
      { provider: 'vonage', country: 'GB', to: '+447400123456' },
    ],
    intervalMs: 5 * 60_000,
    timeoutMs: 2 * 60_000,
    publish: async (m) => {
      published.push(m);
    },
    now: () => clock.now,
  });
  c.onResult.push((t, r, ms) => results.push(`${t.provider}:${r}${ms === undefined ? '' : `:${ms}`}`));
  return { clock, published, results, c };
}

test('probes each target once per interval, pinned to its provider and recognisable', async () => {
  const { clock, published, c } = canary();
  await c.tick();
  await c.tick();
  assert.equal(published.length, 2);
  const probe = published[0]!;
  assert.equal(probe.tenantId, CANARY_TENANT);
  assert.equal(probe.provider, 'twilio');
  assert.equal(probe.lane, 'normal');
  assert.equal(probe.country, 'GB');
  assert.equal(Date.parse(probe.expiresAt) - clock.now, 120_000, 'expires with the probe timeout');
  assert.equal(decodeEvent(JSON.stringify(probe)).type, 'message.requested', 'a valid event');
  clock.now += 5 * 60_000;
  await c.tick();
  assert.equal(published.length, 4);
});

test('measures publish to delivered receipt; no receipt in time is a failure', async () => {
  const { clock, published, results, c } = canary();
  await c.tick();
  const [first, second] = published;
  clock.now += 3_000;
  c.submitted(first!.messageId, clock.now);
  clock.now += 4_000;
  c.receipt(first!.messageId, 'delivered', clock.now);
  clock.now += 2 * 60_000;
  await c.tick();
  assert.deepEqual(results, ['twilio:delivered:7000', 'vonage:timeout']);
  c.receipt(second!.messageId, 'delivered', clock.now);
  assert.equal(results.length, 2, 'a late receipt changes nothing');
  const series = c.series(15 * 60_000);
  assert.deepEqual(
    series.map((s) => [s.provider, s.finished, s.successRate]),
    [
      ['twilio', 1, 1],
      ['vonage', 1, 0],
    ],
  );
  assert.ok(series[0]!.latencyP95Seconds! > 5 && series[0]!.latencyP95Seconds! <= 10);
});

test('a probe the bridge failed or a provider reported undelivered counts as failed', async () => {
  const { published, results, c } = canary();
  await c.tick();
  c.failed(published[0]!.messageId);
  c.receipt(published[1]!.messageId, 'unknown', 0);
  c.receipt(published[1]!.messageId, 'undelivered', 0);
  assert.deepEqual(results, ['twilio:failed', 'vonage:undelivered']);
});
