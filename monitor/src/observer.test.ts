import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import type { ConsumedBatch, ConsumedRecord } from '../../core/bus/bus.ts';
import { eventBase } from '../../core/events.ts';
import { newId } from '../../core/ids.ts';
import { createLogger } from '../../core/logger.ts';
import type { AttemptFailed, MessageClass, MessageSubmitted, ReceiptReceived } from '../../core/message.ts';
import { Topics } from '../../core/topics.ts';
import { verificationEvent } from '../../core/verification.ts';
import { Canary, CANARY_TENANT } from './canary.ts';
import { Liveness } from './liveness.ts';
import { Observer } from './observer.ts';
import { OtpConversion } from './otp-conversion.ts';
import { ReceiptSampler } from './sampling.ts';
import { Traffic } from './traffic.ts';

const T0 = 1_767_225_600_000;

function observer(options: { canary?: Canary } = {}) {
  const clock = { now: T0 };
  const now = () => clock.now;
  const registry = new Registry();
  const traffic = new Traffic({ receiptGraceMs: 30_000, now });
  const sampler = new ReceiptSampler({ threshold: 10_000, ratio: 0.1 });
  const liveness = new Liveness({ now });
  const o = new Observer(
    { traffic, conversion: new OtpConversion({ now }), liveness, sampler, canary: options.canary },
    registry,
    createLogger({ level: 'silent' }),
  );
  return { clock, o, traffic, sampler, registry, liveness };
}

let offset = 0;
function rec(topic: string, key: string, value: unknown, at = T0): ConsumedRecord {
  return { topic, key, value: JSON.stringify(value), partition: 0, offset: String(offset++), timestamp: at };
}

function batch(topic: string, records: ConsumedRecord[], lag: number): ConsumedBatch {
  return { topic, partition: 0, records, lag, heartbeat: async () => {}, isStale: () => false };
}

function submitted(messageClass: MessageClass, at = T0, provider = 'p'): MessageSubmitted {
  return {
    ...eventBase(newId(at), 't', at),
    type: 'message.submitted',
    provider,
    providerMessageId: newId(at),
    attempt: 1,
    segments: 1,
    cost: 0,
    latencyMs: 100,
    country: 'DE',
    class: messageClass,
  };
}

function receipt(s: MessageSubmitted, status: ReceiptReceived['status'], at = T0 + 5_000): ReceiptReceived {
  return {
    ...eventBase(s.messageId, s.tenantId, at),
    type: 'receipt.received',
    provider: s.provider,
    providerMessageId: s.providerMessageId,
    status,
    providerStatus: status,
  };
}

test('under a receipt backlog bulk receipts are sampled, OTP receipts stay exact, and rates stay true', async () => {
  const { clock, o, traffic, sampler, registry } = observer();
  const bulk = Array.from({ length: 5_000 }, () => submitted('marketing'));
  const otp = Array.from({ length: 300 }, () => submitted('otp'));
  o.batch(
    batch(
      Topics.outcomes,
      [...bulk, ...otp].map((s) => rec(Topics.outcomes, s.messageId, s)),
      0,
    ),
  );
  // 80 % of bulk and 90 % of OTP messages delivered, arriving while 50,000 receipts wait behind.
  const receipts = [
    ...bulk.map((s, i) => receipt(s, i % 5 === 0 ? 'undelivered' : 'delivered')),
    ...otp.map((s, i) => receipt(s, i % 10 === 0 ? 'expired' : 'delivered')),
  ].map((r) => rec(Topics.receipts, r.messageId, r));
  o.batch(batch(Topics.receipts, receipts, 50_000));
  assert.equal(sampler.active, true);

  clock.now += 60_000;
  const byClass = Object.fromEntries(
    traffic.series(900_000, ['class']).map((s) => [s.labels.class, s.stats]),
  );
  assert.equal(byClass.otp!.delivered, 270, 'every OTP receipt read');
  assert.equal(byClass.otp!.matured, 300);
  const bulkStats = byClass.marketing!;
  assert.ok(bulkStats.matured > 350 && bulkStats.matured < 650, `about 10 % read: ${bulkStats.matured}`);
  assert.ok(Math.abs(bulkStats.deliveredRate! - 0.8) < 0.06, `rate unbiased: ${bulkStats.deliveredRate}`);

  const metrics = await registry.getMetricsAsJSON();
  const sampled = metrics.find((m) => m.name === 'pigeon_monitor_receipts_sampled_out_total')!;
  const sampledOut = sampled.values.find((v) => v.labels.class === 'marketing')?.value ?? 0;
  assert.equal(sampledOut + bulkStats.matured, 5_000, 'every bulk receipt counted, read or not');
  assert.ok(!sampled.values.some((v) => v.labels.class === 'otp'));
  const read = metrics.find((m) => m.name === 'pigeon_monitor_receipts_total')!;
  const total = read.values.reduce((n, v) => n + v.value, 0);
  assert.equal(total, 300 + bulkStats.matured, 'sampled-out receipts were not even parsed');
});

test('without a backlog every receipt is read', () => {
  const { clock, o, traffic } = observer();
  const bulk = Array.from({ length: 100 }, () => submitted('marketing'));
  o.batch(
    batch(
      Topics.outcomes,
      bulk.map((s) => rec(Topics.outcomes, s.messageId, s)),
      0,
    ),
  );
  o.batch(
    batch(
      Topics.receipts,
      bulk.map((s) => rec(Topics.receipts, s.messageId, receipt(s, 'delivered'))),
      3,
    ),
  );
  clock.now += 60_000;
  assert.equal(traffic.series(900_000, [])[0]!.stats.delivered, 100);
});

test('a provider whose refusals were failed over elsewhere still shows its failed submits', () => {
  const { clock, o, traffic } = observer();
  const carried = Array.from({ length: 10 }, () => submitted('otp', T0, 'good'));
  const refusals: AttemptFailed[] = carried.map((s) => ({
    ...eventBase(s.messageId, s.tenantId, T0),
    type: 'attempt.failed',
    provider: 'bad',
    attempt: 1,
    errorClass: 'retryable',
    errorCode: '503',
    reason: 'service unavailable',
    sent: 'no',
    requestedAt: new Date(T0 - 50).toISOString(),
    latencyMs: 50,
    country: 'DE',
    class: 'otp',
  }));
  o.batch(
    batch(
      Topics.outcomes,
      carried.flatMap((s, i) => [
        rec(Topics.outcomes, s.messageId, refusals[i]),
        rec(Topics.outcomes, s.messageId, { ...s, attempt: 2 }),
      ]),
      0,
    ),
  );
  clock.now += 1_000;
  const byProvider = new Map(traffic.series(60_000, ['provider']).map((s) => [s.labels.provider, s.stats]));
  assert.equal(byProvider.get('bad')?.submitFailed, 10);
  assert.equal(byProvider.get('bad')?.submitSuccessRate, 0);
  assert.equal(byProvider.get('good')?.submitSuccessRate, 1);
});

test('canary probes are kept out of the customer traffic and settle their probe', async () => {
  const clock = { now: T0 };
  const published: string[] = [];
  const canary = new Canary({
    targets: [{ provider: 'p', country: 'DE', to: '+4915112345678' }],
    publish: async (m) => {
      published.push(m.messageId);
    },
    now: () => clock.now,
  });
  const results: string[] = [];
  canary.onResult.push((_t, r) => results.push(r));
  const { o, traffic } = observer({ canary });
  await canary.tick();
  const probe = { ...submitted('transactional'), messageId: published[0]!, tenantId: CANARY_TENANT };
  o.record(rec(Topics.outcomes, probe.messageId, probe));
  o.record(rec(Topics.receipts, probe.messageId, receipt(probe, 'delivered')));
  assert.deepEqual(results, ['delivered']);
  assert.deepEqual(traffic.series(900_000, []), [], 'no customer traffic');
});

test('verification events join submissions into OTP conversion per provider and country', () => {
  const { clock, o, traffic } = observer();
  const s = submitted('otp');
  o.record(rec(Topics.outcomes, s.messageId, s));
  const where = { verificationId: 'v1', messageId: s.messageId, country: 'DE' };
  o.record(rec(Topics.otpEvents, 'v1', verificationEvent('verification.sent', 't', T0, where)));
  o.record(
    rec(
      Topics.otpEvents,
      'v1',
      verificationEvent('verification.approved', 't', T0 + 20_000, { ...where, method: 'sms' }),
    ),
  );
  clock.now += 60_000;
  const [series] = traffic.series(900_000, ['provider', 'country'], { class: 'otp' });
  assert.deepEqual(
    [series!.stats.otpSent, series!.stats.otpApproved, series!.stats.conversionRate],
    [1, 1, 1],
  );
});

test('heartbeats feed liveness; a malformed one is skipped', () => {
  const { o, liveness } = observer();
  const beat = {
    schemaVersion: 1,
    type: 'service.heartbeat',
    service: 'persister',
    instance: 'pod-1',
    at: new Date(T0).toISOString(),
    startedAt: new Date(T0).toISOString(),
    intervalMs: 10_000,
  };
  o.record(rec(Topics.heartbeats, 'persister/pod-1', beat));
  o.record(rec(Topics.heartbeats, 'x', { nope: true }));
  assert.deepEqual(liveness.serviceCounts(), [{ service: 'persister', instances: 1 }]);
});
