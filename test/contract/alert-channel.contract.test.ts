/**
 * The AlertChannel contract: every channel type, against a local fake of its receiver speaking
 * the receiver's real format (signatures and keys checked), must deliver, and must fail with a
 * ChannelError whose `retriable` says the truth when the receiver is down, sick, hanging or
 * refuses our credentials — which is what the chain's fallback decides by.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MemoryCache } from '../../core/cache/memory-cache.ts';
import { loadConfig } from '../../core/config.ts';
import { createLogger } from '../../core/logger.ts';
import { type AlertNotification } from '../../alerting/notification.ts';
import { type AlertChannel, ChannelError } from '../../monitor/src/channels/channel.ts';
import { type ChannelDefinition, createChannel } from '../../monitor/src/channels/registry.ts';
import { startDingtalkFake } from '../fakes/dingtalk-fake.ts';
import { startFeishuFake } from '../fakes/feishu-fake.ts';
import type { ReceiverMode } from '../fakes/http-receiver.ts';
import { startPagerdutyFake } from '../fakes/pagerduty-fake.ts';
import { startSlackFake } from '../fakes/slack-fake.ts';
import { startSmtpFake } from '../fakes/smtp-fake.ts';
import { startTwilioFake } from '../fakes/twilio-fake.ts';
import { startWebhookReceiver } from '../fakes/webhook-receiver.ts';
import { startWecomFake } from '../fakes/wecom-fake.ts';

interface Receiver {
  definition: ChannelDefinition;
  /** What the receiver took, as text its users would read. */
  received(): string[];
  setMode(mode: ReceiverMode): Promise<void>;
  /** The same receiver with credentials it refuses; absent where refusing is not permanent. */
  misconfigured?: ChannelDefinition;
  close(): Promise<void>;
}

const ON_CALL = '+14155550142';

const targets: Record<string, () => Promise<Receiver>> = {
  slack: async () => {
    const fake = await startSlackFake();
    return {
      definition: { name: 'ops-slack', type: 'slack', url: fake.url },
      received: () => fake.messages.map((m) => `${m.text ?? ''} ${JSON.stringify(m.blocks ?? [])}`),
      setMode: (mode) => fake.setMode(mode),
      misconfigured: { name: 'ops-slack', type: 'slack', url: fake.revokedUrl },
      close: () => fake.close(),
    };
  },
  dingtalk: async () => {
    const fake = await startDingtalkFake({ secret: 'SEC0123456789abcdef0123456789abcdef' });
    return {
      definition: { name: 'ops-dingtalk', type: 'dingtalk', url: fake.webhookUrl, secret: fake.secret },
      received: () =>
        fake.messages.map((m) => `${m.markdown?.title ?? ''}\n${m.markdown?.text ?? m.text?.content ?? ''}`),
      setMode: (mode) => fake.setMode(mode),
      misconfigured: { name: 'ops-dingtalk', type: 'dingtalk', url: fake.webhookUrl, secret: 'SECwrong' },
      close: () => fake.close(),
    };
  },
  wecom: async () => {
    const fake = await startWecomFake();
    return {
      definition: { name: 'ops-wecom', type: 'wecom', url: fake.webhookUrl },
      received: () => fake.messages.map((m) => m.markdown?.content ?? m.text?.content ?? ''),
      setMode: (mode) => fake.setMode(mode),
      misconfigured: {
        name: 'ops-wecom',
        type: 'wecom',
        url: `${fake.url}/cgi-bin/webhook/send?key=revoked`,
      },
      close: () => fake.close(),
    };
  },
  feishu: async () => {
    const fake = await startFeishuFake({ secret: 'feishuSecret0123456789' });
    return {
      definition: {
        name: 'ops-feishu',
        type: 'feishu',
        url: fake.webhookUrl,
        secret: 'feishuSecret0123456789',
      },
      received: () => fake.messages.map((m) => m.content?.text ?? ''),
      setMode: (mode) => fake.setMode(mode),
      misconfigured: { name: 'ops-feishu', type: 'feishu', url: fake.webhookUrl, secret: 'not-the-secret' },
      close: () => fake.close(),
    };
  },
  pagerduty: async () => {
    const fake = await startPagerdutyFake();
    return {
      definition: {
        name: 'ops-pagerduty',
        type: 'pagerduty',
        url: fake.eventsUrl,
        routingKey: fake.routingKey,
      },
      received: () =>
        fake.events.map((e) => `${e.event_action} ${e.dedup_key ?? ''} ${e.payload?.summary ?? ''}`),
      setMode: (mode) => fake.setMode(mode),
      misconfigured: {
        name: 'ops-pagerduty',
        type: 'pagerduty',
        url: fake.eventsUrl,
        routingKey: 'R0WR0NGKEY000000000000000000000Z',
      },
      close: () => fake.close(),
    };
  },
  webhook: async () => {
    const fake = await startWebhookReceiver();
    return {
      definition: { name: 'ops-webhook', type: 'webhook', url: fake.hookUrl, secret: fake.secret },
      received: () =>
        fake.deliveries.map(
          (d) => `${String(d.notification.kind).toUpperCase()} ${JSON.stringify(d.notification)}`,
        ),
      setMode: (mode) => fake.setMode(mode),
      misconfigured: {
        name: 'ops-webhook',
        type: 'webhook',
        url: fake.hookUrl,
        secret: 'whsec_some_other_secret',
      },
      close: () => fake.close(),
    };
  },
  email: async () => {
    const fake = await startSmtpFake({ user: 'pigeon', password: 's3cret' });
    const definition = {
      name: 'ops-email',
      type: 'email',
      host: fake.host,
      port: fake.port,
      user: 'pigeon',
      password: 's3cret',
      from: 'Pigeon <alerts@pigeon.example>',
      to: ['oncall@pigeon.example'],
    };
    return {
      definition,
      received: () => fake.messages.map((m) => `${m.headers.subject ?? ''}\n${m.body}`),
      setMode: (mode) => fake.setMode(mode === 'error' ? 'tempfail' : mode),
      misconfigured: { ...definition, password: 'wrong' },
      close: () => fake.close(),
    };
  },
  sms: async () => {
    const fake = await startTwilioFake();
    return {
      definition: {
        name: 'oncall-sms',
        type: 'sms',
        to: [ON_CALL],
        provider: {
          name: 'twilio-pages',
          type: 'twilio',
          senderId: '+14155550100',
          options: { accountSid: fake.accountSid, authToken: fake.authToken, baseUrl: fake.url },
        },
      },
      received: () => fake.accepted.map((m) => `${m.to} ${m.body}`),
      setMode: async (mode) => {
        const faults = {
          up: undefined,
          error: { kind: 'status', status: 503 },
          hang: { kind: 'hang' },
          refuse: { kind: 'refuse' },
        } as const;
        await fake.setFault(faults[mode]);
      },
      close: () => fake.close(),
    };
  },
};

const deps = {
  config: loadConfig({ LOG_LEVEL: 'silent' }),
  logger: createLogger({ level: 'silent' }),
  cache: new MemoryCache(),
};

function notification(kind: AlertNotification['kind'] = 'firing'): AlertNotification {
  return {
    incidentId: `inc-${Math.random().toString(36).slice(2, 10)}`,
    ruleId: 'delivery-rate-drop',
    kind,
    severity: 'critical',
    title: 'Delivered rate of twilio-main to GB dropped to 41 % (baseline 96 %)',
    summary: 'Delivered 41 % of 1,212 messages in the last 10 min.\nCheck the provider status page.',
    labels: { provider: 'twilio-main', country: 'GB' },
    startedAt: '2026-01-05T10:00:00.000Z',
    ...(kind === 'resolved' ? { resolvedAt: '2026-01-05T10:20:00.000Z' } : {}),
    url: 'https://grafana.example.com/d/pigeon',
  };
}

async function rejection(promise: Promise<unknown>): Promise<ChannelError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ChannelError, `a ChannelError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the send to fail');
}

for (const [type, start] of Object.entries(targets)) {
  describe(`${type} channel contract`, () => {
    let receiver: Receiver;
    let channel: AlertChannel;

    before(async () => {
      receiver = await start();
      channel = createChannel(receiver.definition, deps).channel;
      assert.equal(channel.type, type);
      assert.equal(channel.name, receiver.definition.name);
    });

    after(async () => {
      await channel?.close?.();
      await receiver?.close();
    });

    test('delivers a firing notification whose title the receiver shows', async () => {
      const n = notification();
      const before = receiver.received().length;
      await channel.send(n, AbortSignal.timeout(5000));
      const got = receiver.received().slice(before);
      assert.equal(got.length, 1, 'exactly one delivery');
      assert.ok(got[0]!.includes('FIRING') || got[0]!.includes('trigger'), got[0]);
      assert.ok(got[0]!.includes('twilio-main'), got[0]);
    });

    test('delivers a resolved notification', async () => {
      const n = notification('resolved');
      const before = receiver.received().length;
      await channel.send(n, AbortSignal.timeout(5000));
      const got = receiver.received().slice(before);
      assert.equal(got.length, 1);
      assert.ok(got[0]!.includes('RESOLVED') || got[0]!.startsWith(`resolve ${n.incidentId}`), got[0]);
    });

    test('a receiver that refuses connections fails at once, retriable', async () => {
      await receiver.setMode('refuse');
      try {
        const started = Date.now();
        const error = await rejection(channel.send(notification(), AbortSignal.timeout(5000)));
        assert.equal(error.retriable, true);
        assert.ok(Date.now() - started < 2000, 'did not wait for a timeout');
      } finally {
        await receiver.setMode('up');
      }
    });

    test('a sick receiver (5xx, or a temporary SMTP failure) fails retriable', async () => {
      await receiver.setMode('error');
      try {
        const error = await rejection(channel.send(notification(), AbortSignal.timeout(5000)));
        assert.equal(error.retriable, true);
      } finally {
        await receiver.setMode('up');
      }
    });

    test('a receiver that never answers is given up when the signal aborts', async () => {
      await receiver.setMode('hang');
      try {
        const started = Date.now();
        const error = await rejection(channel.send(notification(), AbortSignal.timeout(300)));
        assert.equal(error.retriable, true);
        assert.ok(Date.now() - started < 2000, `gave up after ${Date.now() - started} ms`);
      } finally {
        await receiver.setMode('up');
      }
    });

    test('after an outage the same channel delivers again', async () => {
      const before = receiver.received().length;
      await channel.send(notification(), AbortSignal.timeout(5000));
      assert.equal(receiver.received().length, before + 1);
    });

    test('credentials the receiver refuses fail for good (not retriable)', async (t) => {
      if (!receiver.misconfigured) {
        t.diagnostic('a refusal by one SMS provider is retriable by design: another may deliver');
        return;
      }
      const wrong = createChannel(receiver.misconfigured, deps).channel;
      try {
        const before = receiver.received().length;
        const error = await rejection(wrong.send(notification(), AbortSignal.timeout(5000)));
        assert.equal(error.retriable, false, error.message);
        assert.equal(receiver.received().length, before, 'nothing delivered');
      } finally {
        await wrong.close?.();
      }
    });
  });
}
