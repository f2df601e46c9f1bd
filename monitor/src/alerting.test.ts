/**
 * The monitor's brain end to end, on an injected clock: synthetic traffic through the Observer,
 * ticks of Alerting, incidents stored in a real SQLite store, notifications recorded by a
 * Notifier of the test's own.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Registry } from 'prom-client';
import type { ConsumedRecord } from '../../core/bus/bus.ts';
import { loadConfig } from '../../core/config.ts';
import { eventBase } from '../../core/events.ts';
import { newId } from '../../core/ids.ts';
import { MemoryCache } from '../../core/cache/memory-cache.ts';
import { createLogger } from '../../core/logger.ts';
import type { MessageSubmitted, ReceiptReceived } from '../../core/message.ts';
import type { ProviderHealth } from '../../core/provider-health.ts';
import { SqliteStore } from '../../core/store/sqlite-store.ts';
import { Topics } from '../../core/topics.ts';
import type { AlertingSetup } from '../../alerting/config.ts';
import { Alerting } from './alerting.ts';
import { Baselines } from '../../alerting/baseline.ts';
import type { AlertNotification } from '../../alerting/notification.ts';
import { HealthModel } from './health-model.ts';
import { Leadership } from './leader.ts';
import { Liveness } from './liveness.ts';
import { MonitorMetrics } from './metric-source.ts';
import type { Notifier } from '../../alerting/notifier.ts';
import { Observer } from './observer.ts';
import { OtpConversion } from './otp-conversion.ts';
import { defaultRules } from '../../alerting/default-rules.ts';
import { ReceiptSampler } from './sampling.ts';
import { Traffic } from './traffic.ts';

class RecordingNotifier implements Notifier {
  readonly sent: Array<{ notification: AlertNotification; channels: readonly string[] }> = [];
  async notify(notification: AlertNotification, channels: readonly string[]): Promise<void> {
    this.sent.push({ notification, channels });
  }
}

const dir = mkdtempSync(join(tmpdir(), 'pigeon-monitor-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function brain(
  name: string,
  clock: { now: number },
  shared: { store?: SqliteStore; cache?: MemoryCache; holder?: string } = {},
) {
  const now = () => clock.now;
  const logger = createLogger({ level: 'silent' });
  const registry = new Registry();
  const traffic = new Traffic({ receiptGraceMs: 30_000, now });
  const baselines = new Baselines();
  const health = new HealthModel({ baselines, floors: loadConfig({}).monitor.floors });
  const liveness = new Liveness({ now });
  const sampler = new ReceiptSampler();
  const observer = new Observer(
    { traffic, conversion: new OtpConversion({ now }), liveness, sampler },
    registry,
    logger,
  );
  const setup: AlertingSetup = {
    channels: ['ops-chat'],
    policies: [],
    layers: { defaults: defaultRules(), config: [] },
    defaultChannels: ['ops-chat'],
    canary: undefined,
  };
  const notifier = new RecordingNotifier();
  const published: ProviderHealth[] = [];
  const db = shared.store ?? new SqliteStore(join(dir, `${name}.db`));
  await db.migrate();
  const alerting = new Alerting({
    setup,
    notifier,
    metrics: new MonitorMetrics({ traffic, health, liveness, sampler, lag: () => [], now }),
    traffic,
    health,
    baselines,
    store: db,
    leadership: shared.cache ? new Leadership(shared.cache, shared.holder ?? name, 30_000) : undefined,
    publishHealth: async (verdicts) => {
      published.push(...verdicts);
    },
    registry,
    logger,
    now,
  });
  return { observer, alerting, notifier, published, store: db, registry };
}

let offset = 0;
function record(topic: string, key: string, value: object, at: number): ConsumedRecord {
  return { topic, partition: 0, offset: String(offset++), key, value: JSON.stringify(value), timestamp: at };
}

/**
 * Two providers to two countries, 2 messages a second each; receipts come 5 s after submission
 * for 95 % of messages — except where `silent` says a provider × country delivers nothing.
 */
function trafficGenerator(clock: { now: number }) {
  const silent = new Set<string>();
  const due: Array<{ at: number; record: ConsumedRecord }> = [];
  const sent = new Map<string, number>();
  return {
    silent,
    /** Feeds one second of traffic into the observers. */
    second(...observers: Observer[]) {
      const feed = (r: ConsumedRecord) => {
        for (const observer of observers) observer.record(r);
      };
      for (const provider of ['a', 'b']) {
        for (const country of ['GB', 'FR']) {
          for (let i = 0; i < 2; i++) {
            const messageId = newId(clock.now);
            const n = sent.get(`${provider}/${country}`) ?? 0;
            sent.set(`${provider}/${country}`, n + 1);
            const submitted: MessageSubmitted = {
              ...eventBase(messageId, 'tenant', clock.now),
              type: 'message.submitted',
              provider,
              providerMessageId: `p-${messageId}`,
              attempt: 1,
              segments: 1,
              cost: 0.01,
              latencyMs: 80,
              country,
              class: 'transactional',
            };
            feed(record(Topics.outcomes, messageId, submitted, clock.now));
            if (!silent.has(`${provider}/${country}`) && n % 20 !== 0) {
              const receipt: ReceiptReceived = {
                ...eventBase(messageId, 'tenant', clock.now + 5_000),
                type: 'receipt.received',
                provider,
                providerMessageId: submitted.providerMessageId,
                status: 'delivered',
                providerStatus: 'DELIVRD',
              };
              due.push({
                at: clock.now + 5_000,
                record: record(Topics.receipts, messageId, receipt, clock.now + 5_000),
              });
            }
          }
        }
      }
      while (due.length > 0 && due[0]!.at <= clock.now) feed(due.shift()!.record);
    },
  };
}

type Brain = Awaited<ReturnType<typeof brain>>;

/** Runs traffic second by second through every brain, each ticking every 10 s, for `ms` or `until`. */
async function run(
  brains: Brain | Brain[],
  gen: ReturnType<typeof trafficGenerator>,
  clock: { now: number },
  ms: number,
  until?: () => boolean,
): Promise<number> {
  const all = Array.isArray(brains) ? brains : [brains];
  const start = clock.now;
  while (clock.now - start < ms) {
    clock.now += 1_000;
    gen.second(...all.map((b) => b.observer));
    if ((clock.now / 1000) % 10 === 0) for (const b of all) await b.alerting.tick();
    if (until?.()) break;
  }
  return clock.now - start;
}

test('a silent provider in one country raises exactly one alert within 2 minutes, health drops, and both recover', async () => {
  const clock = { now: 1_767_225_600_000 };
  const b = await brain('drop', clock);
  const gen = trafficGenerator(clock);
  await run(b, gen, clock, 30 * 60_000);
  assert.equal(b.notifier.sent.length, 0, 'nothing while healthy');
  assert.equal(b.published.length, 0, 'healthy is the default: nothing published');

  gen.silent.add('a/GB');
  const firing = () => b.notifier.sent.filter((s) => s.notification.kind === 'firing');
  const took = await run(b, gen, clock, 5 * 60_000, () => firing().length > 0);
  assert.ok(took <= 120_000, `alerted after ${took / 1000} s`);
  await run(b, gen, clock, 5 * 60_000);
  assert.equal(b.notifier.sent.length, 1, 'exactly one notification for the incident');
  const { notification, channels } = b.notifier.sent[0]!;
  assert.deepEqual(channels, ['ops-chat']);
  assert.equal(notification.ruleId, 'delivered-rate-drop');
  assert.equal(notification.severity, 'critical');
  assert.deepEqual(notification.labels, { provider: 'a', country: 'GB', rule: 'delivered-rate-drop' });
  assert.match(notification.title, /^Delivered rate of a to GB is \d+ % \(baseline 9\d %\)$/);

  const dropped = b.published.filter((h) => h.provider === 'a' && h.country === 'GB');
  assert.ok(dropped.length > 0 && dropped[0]!.health < 0.6, `first health ${dropped[0]?.health}`);
  assert.ok(Math.min(...dropped.map((h) => h.health)) < 0.1, 'down to about nothing');
  assert.ok(
    b.published.every((h) => h.provider === 'a' && h.country === 'GB'),
    'no other provider or country judged unhealthy',
  );
  const stored = await b.store.listIncidents({ open: true, limit: 10 });
  assert.equal(stored.length, 1);
  assert.equal(stored[0]!.id, notification.incidentId);
  assert.equal(stored[0]!.state, 'firing');

  gen.silent.clear();
  const resolvedIn = await run(b, gen, clock, 10 * 60_000, () => b.notifier.sent.length > 1);
  assert.ok(resolvedIn <= 4 * 60_000, `resolved after ${resolvedIn / 1000} s`);
  assert.deepEqual(
    b.notifier.sent.map((s) => s.notification.kind),
    ['firing', 'resolved'],
  );
  assert.equal(b.notifier.sent[1]!.notification.incidentId, notification.incidentId);
  assert.equal((await b.store.getIncident(notification.incidentId))?.state, 'resolved');

  await run(b, gen, clock, 15 * 60_000);
  const recovery = b.published.filter(
    (h) => Date.parse(h.occurredAt) > Date.parse(dropped.at(-1)!.occurredAt),
  );
  assert.equal(recovery.at(-1)?.health, 1, 'health back to 1');
  for (let i = 1; i < recovery.length; i++) {
    assert.ok(recovery[i]!.health >= recovery[i - 1]!.health, 'recovers without going back down');
  }
  assert.ok(recovery.length >= 5, 'in several steps');
  assert.equal(b.notifier.sent.length, 2, 'and no further notification');
});

test('one replica acts; an acknowledgement through the store stops escalation; the standby takes over without repeating', async () => {
  const clock = { now: 1_767_225_600_000 };
  const cache = new MemoryCache({ now: () => clock.now });
  const first = await brain('takeover', clock, { cache });
  const second = await brain('takeover-standby', clock, { cache, store: first.store });
  const gen = trafficGenerator(clock);
  await run([first, second], gen, clock, 20 * 60_000);
  gen.silent.add('b/FR');
  await run([first, second], gen, clock, 3 * 60_000);
  assert.equal(first.notifier.sent.length, 1);
  assert.equal(second.notifier.sent.length, 0, 'the standby says nothing');
  assert.equal(second.published.length, 0, 'nor publishes health');
  const { incidentId, summary } = first.notifier.sent[0]!.notification;
  const code = /ACK (\d{4})/.exec(summary)![1]!;
  const acked = await first.store.acknowledgeIncident(code, 'sms:+447400123456', clock.now);
  assert.equal(acked?.id, incidentId);
  await run([first, second], gen, clock, 20_000);
  assert.equal(first.alerting.engine.list()[0]!.ackedBy, 'sms:+447400123456', 'read back from the store');

  // The acting replica dies; its lease lapses and the standby, warm, carries on.
  await run(second, gen, clock, 60_000);
  assert.equal(second.alerting.isLeader, true);
  const restored = second.alerting.engine.list();
  assert.deepEqual(
    restored.map((i) => [i.id, i.ackedBy]),
    [[incidentId, 'sms:+447400123456']],
  );
  assert.ok(
    second.published.some((h) => h.provider === 'b' && h.country === 'FR' && h.health < 0.5),
    'repeats the verdict',
  );
  assert.equal(second.notifier.sent.length, 0, 'the firing notice is not sent again');
  gen.silent.clear();
  await run(second, gen, clock, 5 * 60_000);
  assert.deepEqual(
    second.notifier.sent.map((s) => [s.notification.kind, s.notification.incidentId]),
    [['resolved', incidentId]],
  );
});

test('a service that goes silent raises an alert, and one for having no instance left; both resolve when it is back', async () => {
  const clock = { now: 1_767_225_600_000 };
  const b = await brain('silence', clock);
  const beat = (service: string, instance: string) =>
    b.observer.record(
      record(
        Topics.heartbeats,
        `${service}/${instance}`,
        {
          schemaVersion: 1,
          type: 'service.heartbeat',
          service,
          instance,
          at: new Date(clock.now).toISOString(),
          startedAt: new Date(clock.now).toISOString(),
          intervalMs: 10_000,
        },
        clock.now,
      ),
    );
  const live = new Set(['persister/p1', 'api/a1', 'api/a2']);
  const runFor = async (ms: number) => {
    for (let t = 0; t < ms; t += 10_000) {
      clock.now += 10_000;
      for (const key of live) beat(...(key.split('/') as [string, string]));
      await b.alerting.tick();
    }
  };
  await runFor(5 * 60_000);
  assert.equal(b.notifier.sent.length, 0);
  live.delete('persister/p1');
  live.delete('api/a2');
  await runFor(2 * 60_000);
  const fired = b.notifier.sent.map(
    (s) => `${s.notification.kind} ${s.notification.ruleId} ${s.notification.labels.service}`,
  );
  assert.deepEqual(fired.sort(), [
    'firing service-down persister',
    'firing service-instance-silent api',
    'firing service-instance-silent persister',
  ]);
  live.add('persister/p1');
  live.add('api/a2');
  await runFor(3 * 60_000);
  assert.deepEqual(
    b.notifier.sent
      .filter((s) => s.notification.kind === 'resolved')
      .map((s) => s.notification.ruleId)
      .sort(),
    ['service-down', 'service-instance-silent', 'service-instance-silent'],
  );
});
