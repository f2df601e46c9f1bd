import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { MemoryCache } from '../../../core/cache/memory-cache.ts';
import { loadConfig } from '../../../core/config.ts';
import { isPigeonError } from '../../../core/errors.ts';
import { createLogger } from '../../../core/logger.ts';
import type { AlertNotification } from '../../../alerting/notification.ts';
import { dingtalkSign, signedDingtalkUrl } from './dingtalk.ts';
import { feishuSign } from './feishu.ts';
import { pagerdutyEvent } from './pagerduty.ts';
import { type ChannelDefinition, createChannel, createChannels } from './registry.ts';
import { headline, markdownText, plainText, smsText, truncateBytes } from './render.ts';
import { slackMessage } from './slack.ts';
import { signatureHeader, verifySignatureHeader } from '../../../core/signature.ts';
import { SIMULATOR_ENV } from '../../../test/support/simulator-env.ts';

const n: AlertNotification = {
  incidentId: '01JH8ZQ3M0PIGEONINCIDENT01',
  ruleId: 'provider-down',
  kind: 'firing',
  severity: 'critical',
  title: 'twilio-main failing: 87 % of sends refused',
  summary: 'Refused 174 of 200 sends in 5 min (threshold 50 %).\nBreaker open since 10:02.',
  labels: { provider: 'twilio-main', service: 'supplier-bridge' },
  startedAt: '2026-01-05T10:00:00.000Z',
  url: 'https://grafana.example.com/d/pigeon?var-provider=twilio-main',
};

describe('signatures', () => {
  test('DingTalk: the one published vector (timestamp 1700000000000, secret "secret")', () => {
    // From the `dingding` crate's tests; DingTalk's own docs give no fixed output.
    assert.equal(
      dingtalkSign('secret', '1700000000000'),
      'OuzzJR5%2BxZ4%2FEYwqtNt6sMYZQMTa%2FHEGvc9miJe7XzY%3D',
    );
    assert.equal(
      signedDingtalkUrl('https://oapi.dingtalk.com/robot/send?access_token=abc', 'secret', 1_700_000_000_000),
      'https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1700000000000&sign=OuzzJR5%2BxZ4%2FEYwqtNt6sMYZQMTa%2FHEGvc9miJe7XzY%3D',
    );
  });

  test('Feishu: keyed by "timestamp\\nsecret" over an empty message, not the other way round', () => {
    // No published vector exists; this pins the documented construction against the DingTalk one.
    const expected = createHmac('sha256', '1599360473\nmysecret').update(Buffer.alloc(0)).digest('base64');
    assert.equal(feishuSign('mysecret', '1599360473'), expected);
    assert.notEqual(
      feishuSign('mysecret', '1599360473'),
      decodeURIComponent(dingtalkSign('mysecret', '1599360473')),
    );
  });

  test('webhook: a signature verifies for five minutes, for its body and secret only', () => {
    const body = '{"type":"alert.notification"}';
    const now = 1_767_225_600_000;
    const header = signatureHeader('whsec_0123456789abcdef', body, now / 1000);
    assert.match(header, /^t=1767225600,v1=[0-9a-f]{64}$/);
    assert.equal(verifySignatureHeader('whsec_0123456789abcdef', header, body, now + 299_000), true);
    assert.equal(
      verifySignatureHeader('whsec_0123456789abcdef', header, body, now + 301_000),
      false,
      'stale',
    );
    assert.equal(
      verifySignatureHeader('whsec_0123456789abcdef', header, `${body} `, now),
      false,
      'body changed',
    );
    assert.equal(verifySignatureHeader('whsec_other_secret_00', header, body, now), false, 'other secret');
    assert.equal(verifySignatureHeader('whsec_0123456789abcdef', undefined, body, now), false);
    const rotated = `${header},v1=${'0'.repeat(64)}`;
    assert.equal(
      verifySignatureHeader('whsec_0123456789abcdef', rotated, body, now),
      true,
      'any v1 may match',
    );
  });
});

describe('payloads', () => {
  test('PagerDuty: trigger carries the incident as dedup_key; resolve carries only the key', () => {
    const settings = { routingKey: 'R'.repeat(32), source: 'pigeon-prod' };
    const trigger = pagerdutyEvent(n, settings);
    assert.equal(trigger.event_action, 'trigger');
    assert.equal(trigger.dedup_key, n.incidentId);
    assert.deepEqual(trigger.links, [{ href: n.url, text: 'Details' }]);
    const payload = trigger.payload as Record<string, unknown>;
    assert.equal(payload.severity, 'critical');
    assert.equal(payload.source, 'supplier-bridge', 'the service label names the source');
    assert.equal(payload.component, 'twilio-main');
    assert.equal(payload.class, 'provider-down');
    assert.deepEqual(pagerdutyEvent({ ...n, kind: 'resolved' }, settings), {
      routing_key: settings.routingKey,
      event_action: 'resolve',
      dedup_key: n.incidentId,
    });
    const long = pagerdutyEvent({ ...n, title: 'x'.repeat(2000) }, settings).payload as { summary: string };
    assert.equal(long.summary.length, 1024);
  });

  test('Slack: a text fallback and blocks, with mrkdwn special characters escaped', () => {
    const message = slackMessage({ ...n, title: 'p95 > 2 s & rising <fast>' }) as {
      text: string;
      blocks: Array<{ text?: { text: string } }>;
    };
    assert.equal(message.text, '[FIRING critical] p95 > 2 s & rising <fast>');
    assert.equal(message.blocks[0]!.text!.text, '*[FIRING critical] p95 &gt; 2 s &amp; rising &lt;fast&gt;*');
  });

  test('texts: headline by kind, plain, markdown and a short ASCII page', () => {
    assert.equal(
      headline({ ...n, kind: 'reminder' }),
      '[STILL FIRING critical] twilio-main failing: 87 % of sends refused',
    );
    assert.equal(
      headline({ ...n, kind: 'resolved' }),
      '[RESOLVED] twilio-main failing: 87 % of sends refused',
    );
    assert.match(
      plainText(n),
      /provider=twilio-main service=supplier-bridge\nStarted 2026-01-05T10:00:00.000Z\nhttps:/,
    );
    assert.match(markdownText(n), /^#### \[FIRING critical\]/);
    const page = smsText(n);
    assert.equal(
      page,
      '[FIRING critical] twilio-main failing: 87 % of sends refused - Refused 174 of 200 sends in 5 min (threshold 50 %).',
    );
    assert.equal(smsText({ ...n, summary: 'y'.repeat(500) }, 100).length, 100);
  });

  test('truncateBytes never splits a character', () => {
    const text = '告警'.repeat(2000);
    const cut = truncateBytes(text, 4096);
    assert.ok(Buffer.byteLength(cut) <= 4096);
    assert.ok(cut.endsWith('...'));
    assert.ok(!cut.includes('\uFFFD'));
  });
});

describe('configuration', () => {
  const deps = {
    config: loadConfig({ LOG_LEVEL: 'silent', ...SIMULATOR_ENV }),
    logger: createLogger({ level: 'silent' }),
    cache: new MemoryCache(),
  };
  const refuses = (definition: ChannelDefinition, pattern: RegExp) =>
    assert.throws(
      () => createChannel(definition, deps),
      (err: unknown) => isPigeonError(err) && err.code === 'PIGEON_ERR_CONFIG' && pattern.test(err.message),
    );

  test('a bad channel stops the start with a message naming the channel and the option', () => {
    refuses({ name: 'x', type: 'carrier-pigeon' }, /unknown type "carrier-pigeon".*slack, dingtalk/);
    refuses({ name: 'bad name!', type: 'slack', url: 'https://hooks.slack.com/x' }, /"name" must match/);
    refuses({ name: 's', type: 'slack' }, /"s" \(slack\): option "url"/);
    refuses({ name: 's', type: 'slack', url: 'ftp://x' }, /option "url" must be an http\(s\) URL/);
    refuses({ name: 's', type: 'slack', url: 'https://x', secert: 'oops' }, /option "secert" must be one of/);
    refuses({ name: 'd', type: 'dingtalk', url: 'https://x', accessToken: 'y' }, /one of the two/);
    refuses({ name: 'p', type: 'pagerduty', routingKey: 'short' }, /32-character/);
    refuses({ name: 'w', type: 'webhook', url: 'https://x', secret: 'short' }, /at least 16/);
    refuses({ name: 'e', type: 'email', host: 'smtp', from: 'a@b.c', to: [] }, /at least one address/);
    refuses({ name: 'm', type: 'sms', provider: 'nope', to: ['+14155550100'] }, /no "nope"/);
    refuses(
      { name: 'm', type: 'sms', provider: { name: 'sim', type: 'simulator' }, to: ['4155550100'] },
      /E\.164/,
    );
    refuses(
      { name: 'm', type: 'sms', provider: { name: 'sim', type: 'simulator' }, roster: 'default' },
      /where rosters can be read/,
    );
    refuses({ name: 't', type: 'wecom', key: 'k', timeoutMs: 5 }, /timeoutMs.*from 100/);
  });

  test('names are unique; every type builds from its documented options', () => {
    assert.throws(
      () =>
        createChannels(
          [
            { name: 'a', type: 'wecom', key: 'k' },
            { name: 'a', type: 'wecom', key: 'k' },
          ],
          deps,
        ),
      /declared twice/,
    );
    const built = createChannels(
      [
        { name: 'slack', type: 'slack', url: 'https://hooks.slack.com/services/T/B/X', channel: '#ops' },
        {
          name: 'ding',
          type: 'dingtalk',
          accessToken: 'abc',
          secret: 'SEC1',
          atMobiles: ['13800000000'],
          atAll: true,
        },
        { name: 'wecom', type: 'wecom', key: 'k' },
        { name: 'lark', type: 'feishu', token: 't', region: 'lark', secret: 's' },
        { name: 'pd', type: 'pagerduty', routingKey: 'R'.repeat(32), timeoutMs: 5000 },
        {
          name: 'hook',
          type: 'webhook',
          url: 'https://example.com/hook',
          secret: 'whsec_0123456789abcdef',
          headers: { 'X-Team': 'sre' },
        },
        {
          name: 'mail',
          type: 'email',
          host: 'smtp.example.com',
          port: 465,
          from: 'a@example.com',
          to: ['b@example.com'],
        },
        { name: 'sms', type: 'sms', provider: { name: 'sim', type: 'simulator' }, to: ['+14155550100'] },
      ],
      deps,
    );
    assert.deepEqual(
      built.map((c) => [c.channel.name, c.channel.type, c.timeoutMs]),
      [
        ['slack', 'slack', 10_000],
        ['ding', 'dingtalk', 10_000],
        ['wecom', 'wecom', 10_000],
        ['lark', 'feishu', 10_000],
        ['pd', 'pagerduty', 5000],
        ['hook', 'webhook', 10_000],
        ['mail', 'email', 10_000],
        ['sms', 'sms', 10_000],
      ],
    );
  });
});
