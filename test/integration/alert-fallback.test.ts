/**
 * The notifier end to end from a PIGEON_CONFIG file: channels built from `alerts.channels`, a
 * failing channel falling back to the next one, per-channel timeouts, the metrics, and an SMS
 * channel paging whoever a roster in the store has on call.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { Registry } from 'prom-client';
import { MemoryCache } from '../../core/cache/memory-cache.ts';
import { loadConfig } from '../../core/config.ts';
import { createLogger } from '../../core/logger.ts';
import { createRegistry } from '../../core/metrics.ts';
import { SqliteStore } from '../../core/store/sqlite-store.ts';
import type { AlertNotification } from '../../alerting/notification.ts';
import {
  type ChannelNotifier,
  createNotifier,
  NotificationUndeliveredError,
} from '../../monitor/src/channels/index.ts';
import { type DingtalkFake, startDingtalkFake } from '../fakes/dingtalk-fake.ts';
import { type PagerdutyFake, startPagerdutyFake } from '../fakes/pagerduty-fake.ts';
import { type SlackFake, startSlackFake } from '../fakes/slack-fake.ts';
import { startTwilioFake, type TwilioFake } from '../fakes/twilio-fake.ts';

const ON_CALL = '+14155550177';

function notification(kind: AlertNotification['kind'] = 'firing'): AlertNotification {
  return {
    incidentId: `inc-${Math.random().toString(36).slice(2, 10)}`,
    ruleId: 'provider-down',
    kind,
    severity: 'critical',
    title: 'All providers for GB failing',
    summary: 'twilio-main and vonage-eu refused every send for 5 min.',
    labels: { country: 'GB' },
    startedAt: new Date().toISOString(),
  };
}

async function metric(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const found = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const value = found?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return Number(value?.value ?? 0);
}

describe('alert channel chain from PIGEON_CONFIG', () => {
  let slack: SlackFake;
  let dingtalk: DingtalkFake;
  let pagerduty: PagerdutyFake;
  let twilio: TwilioFake;
  let notifier: ChannelNotifier;
  let registry: Registry;
  let store: SqliteStore;
  let dir: string;

  before(async () => {
    [slack, dingtalk, pagerduty, twilio] = await Promise.all([
      startSlackFake(),
      startDingtalkFake({ secret: 'SECc0ffee0123456789' }),
      startPagerdutyFake(),
      startTwilioFake(),
    ]);
    dir = mkdtempSync(join(tmpdir(), 'pigeon-alerts-'));
    const file = join(dir, 'pigeon.json');
    writeFileSync(
      file,
      JSON.stringify({
        providers: [
          {
            name: 'twilio-pages',
            type: 'twilio',
            senderId: '+14155550100',
            options: {
              accountSid: twilio.accountSid,
              authToken: { $env: 'TWILIO_TOKEN' },
              baseUrl: twilio.url,
            },
          },
        ],
        alerts: {
          channels: [
            { name: 'ops-slack', type: 'slack', url: slack.url, timeoutMs: 500 },
            {
              name: 'ops-dingtalk',
              type: 'dingtalk',
              url: dingtalk.webhookUrl,
              secret: { $env: 'DINGTALK_SECRET' },
            },
            { name: 'pd', type: 'pagerduty', url: pagerduty.eventsUrl, routingKey: pagerduty.routingKey },
            { name: 'oncall-sms', type: 'sms', provider: 'twilio-pages', roster: 'default' },
          ],
        },
      }),
    );
    const config = loadConfig({
      LOG_LEVEL: 'silent',
      PIGEON_CONFIG: file,
      TWILIO_TOKEN: twilio.authToken,
      DINGTALK_SECRET: 'SECc0ffee0123456789',
    });
    store = new SqliteStore(join(dir, 'pigeon.db'));
    await store.migrate();
    await store.putRoster({
      tenantId: config.bootstrapTenant,
      name: 'default',
      updatedAt: Date.now(),
      roster: {
        name: 'default',
        timezone: 'UTC',
        members: [{ name: 'ana', phone: ON_CALL }],
        rotation: { period: 'weekly', handoffTime: '09:00', start: '2026-01-05' },
        overrides: [],
      },
    });
    registry = createRegistry('monitor');
    notifier = createNotifier(config, {
      logger: createLogger({ level: 'silent' }),
      registry,
      cache: new MemoryCache(),
      store,
    });
  });

  beforeEach(async () => {
    await Promise.all([
      slack.setMode('up'),
      dingtalk.setMode('up'),
      pagerduty.setMode('up'),
      twilio.setFault(undefined),
    ]);
  });

  after(async () => {
    await notifier?.close();
    await store?.close();
    await Promise.all([slack?.close(), dingtalk?.close(), pagerduty?.close(), twilio?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('with every channel up, the first one in the chain takes it and the others see nothing', async () => {
    const before = { slack: slack.messages.length, dingtalk: dingtalk.messages.length };
    await notifier.notify(notification(), ['ops-slack', 'ops-dingtalk']);
    assert.equal(slack.messages.length, before.slack + 1);
    assert.equal(dingtalk.messages.length, before.dingtalk);
  });

  test('Slack receiver down → the next channel gets it', async () => {
    await slack.setMode('refuse');
    const n = notification();
    const before = { slack: slack.messages.length, dingtalk: dingtalk.messages.length };
    const sentBefore = await metric(registry, 'pigeon_alert_notifications_total', {
      channel: 'ops-dingtalk',
      result: 'sent',
    });
    const failedBefore = await metric(registry, 'pigeon_alert_notifications_total', {
      channel: 'ops-slack',
      result: 'failed',
    });

    const result = await notifier.deliver(n, ['ops-slack', 'ops-dingtalk']);
    assert.equal(result.channel, 'ops-dingtalk');
    assert.deepEqual(
      result.attempts.map((a) => [a.channel, a.result]),
      [
        ['ops-slack', 'failed'],
        ['ops-dingtalk', 'sent'],
      ],
    );
    assert.equal(slack.messages.length, before.slack);
    assert.equal(dingtalk.messages.length, before.dingtalk + 1);
    assert.match(dingtalk.messages.at(-1)!.markdown!.title, /All providers for GB failing/);
    assert.equal(
      await metric(registry, 'pigeon_alert_notifications_total', {
        channel: 'ops-slack',
        type: 'slack',
        result: 'failed',
      }),
      failedBefore + 1,
    );
    assert.equal(
      await metric(registry, 'pigeon_alert_notifications_total', {
        channel: 'ops-dingtalk',
        type: 'dingtalk',
        result: 'sent',
      }),
      sentBefore + 1,
    );
  });

  test('a Slack that hangs is abandoned after its timeoutMs and the next channel gets it', async () => {
    await slack.setMode('hang');
    const started = Date.now();
    const result = await notifier.deliver(notification(), ['ops-slack', 'ops-dingtalk']);
    const elapsed = Date.now() - started;
    assert.equal(result.channel, 'ops-dingtalk');
    assert.equal(result.attempts[0]!.result, 'timeout');
    assert.ok(elapsed >= 450 && elapsed < 3000, `fell back after ${elapsed} ms (timeoutMs 500)`);
  });

  test('a throttled DingTalk (errcode 130101) falls back too, to PagerDuty', async () => {
    dingtalk.setRateLimit(0);
    try {
      await slack.setMode('error');
      const result = await notifier.deliver(notification(), ['ops-slack', 'ops-dingtalk', 'pd']);
      assert.equal(result.channel, 'pd');
      assert.deepEqual(
        result.attempts.map((a) => a.result),
        ['failed', 'failed', 'sent'],
      );
    } finally {
      dingtalk.setRateLimit(20);
    }
  });

  test('the SMS channel pages whoever the roster has on call, straight through the provider', async () => {
    const before = twilio.accepted.length;
    await notifier.notify(notification(), ['oncall-sms']);
    assert.equal(twilio.accepted.length, before + 1);
    const page = twilio.accepted.at(-1)!;
    assert.equal(page.to, ON_CALL);
    assert.equal(page.from, '+14155550100');
    assert.match(page.body, /^\[FIRING critical\] All providers for GB failing - twilio-main and vonage-eu/);
  });

  test('an empty chain means every channel, in configuration order', async () => {
    await slack.setMode('refuse');
    const result = await notifier.deliver(notification(), []);
    assert.equal(result.channel, 'ops-dingtalk');
  });

  test('when every channel fails, notify rejects (retriable) and the loss is counted', async () => {
    await Promise.all([
      slack.setMode('refuse'),
      dingtalk.setMode('error'),
      pagerduty.setMode('refuse'),
      twilio.setFault({ kind: 'refuse' }),
    ]);
    const before = await metric(registry, 'pigeon_alert_notifications_undelivered_total', {
      kind: 'escalation',
    });
    await assert.rejects(notifier.notify(notification('escalation'), []), (err: unknown) => {
      assert.ok(err instanceof NotificationUndeliveredError);
      assert.equal(err.retriable, true);
      assert.deepEqual(
        err.attempts.map((a) => a.channel),
        ['ops-slack', 'ops-dingtalk', 'pd', 'oncall-sms'],
      );
      return true;
    });
    assert.equal(
      await metric(registry, 'pigeon_alert_notifications_undelivered_total', { kind: 'escalation' }),
      before + 1,
    );
  });

  test('a channel name nobody configured is skipped, counted and logged', async () => {
    const result = await notifier.deliver(notification(), ['ops-teams', 'ops-dingtalk']);
    assert.equal(result.channel, 'ops-dingtalk');
    assert.equal(
      await metric(registry, 'pigeon_alert_notifications_total', { channel: 'ops-teams', result: 'unknown' }),
      1,
    );
  });
});
