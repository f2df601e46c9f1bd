/**
 * Silent failure end to end through Kafka: a bridge (test/support/bridge-harness.ts, its routes
 * weighted by a HealthBoard fed from `provider.health` by routing/health-feed.ts)
 * sends through two Twilio fakes; the test plays the receipt webhook, publishing delivered
 * receipts for what each provider took — until one provider stops delivering. The monitor
 * (startMonitor, its windows tuned to seconds) must alert once, publish a low health on
 * `provider.health`, and the bridge must then send that provider a much smaller share.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Registry } from 'prom-client';
import { KafkaBus } from '../../core/bus/kafka-bus.ts';
import { loadConfig } from '../../core/config.ts';
import { eventBase } from '../../core/events.ts';
import { createLogger } from '../../core/logger.ts';
import type { MessageRequested, ReceiptReceived } from '../../core/message.ts';
import { HealthBoard } from '../../core/provider-health.ts';
import { topicSpecs } from '../../core/runtime.ts';
import { Topics } from '../../core/topics.ts';
import type { AlertNotification } from '../../alerting/notification.ts';
import { Baselines } from '../../alerting/baseline.ts';
import { HealthModel } from '../../monitor/src/health-model.ts';
import { type RunningMonitor, startMonitor } from '../../monitor/src/monitor.ts';
import type { Notifier } from '../../alerting/notifier.ts';
import { Traffic } from '../../monitor/src/traffic.ts';
import { followProviderHealth } from '../../routing/health-feed.ts';
import { type BridgeHarness, startBridgeHarness } from '../support/bridge-harness.ts';
import { TEST_KAFKA_BROKERS, uniqueSuffix } from '../support/infra.ts';
import { sleep, waitFor } from '../support/wait.ts';

class RecordingNotifier implements Notifier {
  readonly sent: AlertNotification[] = [];
  async notify(notification: AlertNotification): Promise<void> {
    this.sent.push(notification);
  }
}

const suffix = uniqueSuffix();
const GOOD = `good-${suffix}`;
const SILENT = `silent-${suffix}`;
const logger = createLogger({ level: 'silent' });
const bus = new KafkaBus({ brokers: TEST_KAFKA_BROKERS, clientId: 'monitor-health-test', logger });
const board = new HealthBoard();
const notifier = new RecordingNotifier();
let harness: BridgeHarness;
let monitor: RunningMonitor;
let feed: { close(): Promise<void> };
let pump: NodeJS.Timeout;
let failing = false;

before(async () => {
  await bus.ensureTopics(topicSpecs(6));
  feed = await followProviderHealth(bus, board, logger, `monitor-health-test-${suffix}`);
  harness = await startBridgeHarness({ providers: [{ name: GOOD }, { name: SILENT }], health: board });
  const baselines = new Baselines({ warmupMs: 4_000, minIntervalMs: 1_000 });
  monitor = await startMonitor({
    bus,
    logger,
    registry: new Registry(),
    settings: { ...loadConfig({}).monitor, tickMs: 1_000 },
    setup: {
      channels: ['ops'],
      policies: [],
      layers: {
        defaults: [],
        config: [
          {
            id: 'delivered-rate-drop',
            metric: 'delivered_rate',
            window: '10s',
            belowBaseline: 0.6,
            minSamples: 10,
            for: '2s',
            clearFor: '3s',
            severity: 'critical',
          },
        ],
      },
      defaultChannels: ['ops'],
      canary: undefined,
    },
    notifier,
    models: {
      traffic: new Traffic({ receiptGraceMs: 1_000, bucketMs: 1_000, horizonMs: 120_000 }),
      baselines,
      health: new HealthModel({
        baselines,
        windowsMs: { delivered_rate: [5_000, 10_000], otp_conversion_rate: [10_000] },
        minSamples: 10,
        refreshMs: 2_000,
      }),
    },
    // The broker is shared with other suites: read only this run's providers.
    accept: (record) => {
      const provider = (JSON.parse(record.value) as { provider?: unknown }).provider;
      return provider === GOOD || provider === SILENT;
    },
    groupId: `monitor-health-test-${suffix}`,
  });
  // The receipt webhook: a delivered receipt for each submission, except the silent provider's
  // once it fails.
  let answered = 0;
  pump = setInterval(() => {
    const fresh = harness.outcomes.slice(answered);
    answered += fresh.length;
    const receipts = fresh.flatMap((o) => {
      if (o.type !== 'message.submitted' || (failing && o.provider === SILENT)) return [];
      const receipt: ReceiptReceived = {
        ...eventBase(o.messageId, o.tenantId),
        type: 'receipt.received',
        provider: o.provider,
        providerMessageId: o.providerMessageId,
        status: 'delivered',
        providerStatus: 'delivered',
      };
      return [{ key: o.messageId, value: JSON.stringify(receipt) }];
    });
    if (receipts.length > 0) void bus.publish(Topics.receipts, receipts);
  }, 100);
});

after(async () => {
  clearInterval(pump);
  await monitor?.close();
  await harness?.close();
  await feed?.close();
  await bus.close();
});

/** Sends `perSecond` messages a second for `seconds` and waits for their outcomes. */
async function traffic(seconds: number, perSecond = 10): Promise<{ good: number; silent: number }> {
  const before = { good: harness.requestsTo(GOOD), silent: harness.requestsTo(SILENT) };
  const sent: MessageRequested[] = [];
  for (let s = 0; s < seconds; s++) {
    const batch = Array.from({ length: perSecond }, (_, i) => ({
      to: `+1415555${String(100 + ((s * perSecond + i) % 100)).padStart(4, '0')}`,
      body: `monitor test ${s}.${i}`,
    }));
    sent.push(...(await harness.publish(batch)));
    await sleep(1_000);
  }
  await waitFor(() => harness.outcomesOf(sent).length >= sent.length, 20_000, 'outcomes of the traffic');
  return {
    good: harness.requestsTo(GOOD) - before.good,
    silent: harness.requestsTo(SILENT) - before.silent,
  };
}

test('a provider that stops delivering is alerted on once, its health falls on provider.health, and the bridge sends it less', async (t) => {
  const healthy = await traffic(12);
  const healthyShare = healthy.silent / (healthy.good + healthy.silent);
  assert.ok(healthyShare > 0.3 && healthyShare < 0.7, `equal weights share the traffic (${healthyShare})`);
  assert.equal(board.health(SILENT, 'US'), 1);
  assert.equal(notifier.sent.length, 0);

  failing = true;
  const degrade = traffic(20);
  await waitFor(() => board.health(SILENT, 'US') < 0.5, 30_000, 'a low health for the silent provider');
  await degrade;
  const verdict = board.snapshot().find((v) => v.provider === SILENT);
  assert.match(verdict!.reason, /degraded: delivered rate/);
  assert.equal(board.health(GOOD, 'US'), 1, 'the other provider stays healthy');

  const firing = notifier.sent.filter((n) => n.kind === 'firing');
  assert.equal(firing.length, 1, 'exactly one alert');
  assert.deepEqual(firing[0]!.labels, { provider: SILENT, country: 'US', rule: 'delivered-rate-drop' });

  const degraded = await traffic(6);
  const degradedShare = degraded.silent / (degraded.good + degraded.silent);
  t.diagnostic(`silent provider's share ${healthyShare.toFixed(2)} → ${degradedShare.toFixed(2)}`);
  assert.ok(
    degradedShare < healthyShare / 2,
    `share ${healthyShare.toFixed(2)} → ${degradedShare.toFixed(2)}`,
  );
});
