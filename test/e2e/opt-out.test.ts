/**
 * Opt-out end to end over real Kafka, MariaDB and Redis, four processes: a STOP posted in
 * Twilio's real inbound format (signed with the account's auth token) puts the number on the
 * tenant's suppression list; the next marketing message to it ends `skipped: opted_out` without
 * reaching a provider while an OTP still goes out; START lifts it; and every inbound SMS reaches
 * the tenant's webhook as a signed `message.inbound`.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { type CallbackReceiver, startCallbackReceiver } from '../fakes/callback-receiver.ts';
import { signTwilio } from '../fakes/twilio-fake.ts';
import { TEST_KAFKA_BROKERS, TEST_REDIS_URL } from '../support/infra.ts';
import { gatewayGroups, startGroupsAtEnd } from '../support/kafka-offsets.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { type RunningGateway, startGateway } from '../support/processes.ts';
import { SIMULATOR_ENV } from '../support/simulator-env.ts';
import { waitFor } from '../support/wait.ts';

const API_KEY = `pgn_opt_out_test_${Date.now()}_key`;
const ACCOUNT_SID = `AC${'0123456789abcdef'.repeat(2)}`;
const AUTH_TOKEN = 'pigeon-twilio-auth-token-e2e';
const SENDER = '+15005550006';

describe('opt-out over Kafka, MariaDB and Redis', () => {
  let db: TestDatabase;
  let gateway: RunningGateway;
  let hooks: CallbackReceiver;
  let apiBase: string;
  // A number of its own per run: the simulator outbox in Redis outlives runs.
  const phone = `+1415557${String(1000 + (randomBytes(2).readUInt16BE() % 9000))}`;

  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(apiBase + path, {
      method,
      headers: {
        authorization: `Bearer ${API_KEY}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, json: (text ? JSON.parse(text) : {}) as Record<string, unknown>, text };
  };

  /** Posts an SMS from `phone` to our Twilio number exactly as Twilio's incoming-message webhook does. */
  const twilioInbound = async (body: string) => {
    const params = {
      MessageSid: `SM${randomBytes(16).toString('hex')}`,
      AccountSid: ACCOUNT_SID,
      From: phone,
      To: SENDER,
      Body: body,
      NumMedia: '0',
      NumSegments: '1',
    };
    const url = `${apiBase}/v1/inbound/twilio-main`;
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': signTwilio(AUTH_TOKEN, url, params),
      },
      body: new URLSearchParams(params).toString(),
    });
    assert.equal(response.status, 200, await response.clone().text());
    assert.equal(await response.text(), '<Response/>');
    return params.MessageSid;
  };

  const send = async (messageClass: string, body: string) => {
    const sent = await call('POST', '/v1/messages', { to: phone, from: SENDER, body, class: messageClass });
    assert.equal(sent.status, 202, sent.text);
    return String(sent.json.id);
  };
  const finalStatus = async (id: string, statuses: string[]) => {
    let message: Record<string, unknown> = {};
    await waitFor(
      async () => {
        message = (await call('GET', `/v1/messages/${id}`)).json;
        return statuses.includes(String(message.status));
      },
      60_000,
      `message ${id} to reach ${statuses.join(' or ')}`,
    ).catch((err: Error) =>
      assert.fail(
        `${err.message}; last seen: ${JSON.stringify(message)}\n${gateway.services.map((s) => `--- ${s.name}\n${s.output()}`).join('\n')}`,
      ),
    );
    return message;
  };
  const outbox = async () =>
    (
      (await call('GET', `/simulator/messages?to=${encodeURIComponent(phone)}`)).json as {
        messages: Array<{ messageId: string }>;
      }
    ).messages.map((m) => m.messageId);
  const scopes = async () =>
    ((await call('GET', '/v1/suppressions')).json.suppressions as Array<{ phone: string; sender: string }>)
      .filter((s) => s.phone === phone)
      .map((s) => s.sender);

  before(async () => {
    db = await createTestDatabase();
    const groupPrefix = `pigeon-e2e-opt-out-${Date.now()}`;
    await startGroupsAtEnd(TEST_KAFKA_BROKERS, gatewayGroups(groupPrefix));
    gateway = await startGateway({
      KAFKA_BROKERS: TEST_KAFKA_BROKERS.join(','),
      KAFKA_GROUP_PREFIX: groupPrefix,
      MYSQL_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      PIGEON_API_KEY: API_KEY,
      PIGEON_OTP_KEY: randomBytes(32).toString('hex'),
      PIGEON_FACTOR_KEY: randomBytes(32).toString('hex'),
      PIGEON_BODY_KEY: randomBytes(32).toString('hex'),
      PIGEON_TENANT: `e2e-opt-out-${Date.now()}`,
      // The tenant's webhook of this test listens on 127.0.0.1.
      PIGEON_CALLBACK_ALLOW_PRIVATE_NETWORKS: 'true',
      ...SIMULATOR_ENV,
    });
    apiBase = gateway.apiBase;

    // Our Twilio number, for inbound only: a provider added through the admin API stays disabled,
    // so it carries no traffic, but its webhooks are verified with its auth token.
    const twilio = await call('PUT', '/v1/admin/providers/twilio-main', {
      type: 'twilio',
      options: {
        accountSid: ACCOUNT_SID,
        authToken: AUTH_TOKEN,
        baseUrl: 'http://127.0.0.1:1',
        from: SENDER,
      },
    });
    assert.equal(twilio.status, 201, twilio.text);
    assert.equal((await call('PUT', `/v1/admin/senders/${encodeURIComponent(SENDER)}`, {})).status, 201);
    const webhook = await call('PUT', '/v1/webhook', {});
    assert.equal(webhook.status, 201, webhook.text);
    hooks = await startCallbackReceiver({ secret: String(webhook.json.secret) });
    assert.equal((await call('PUT', '/v1/webhook', { url: `${hooks.url}/pigeon` })).status, 200);
  });

  after(async () => {
    for (const s of gateway?.services ?? []) if (s.child.exitCode === null) s.kill();
    await hooks?.close();
    await db?.drop();
  });

  test('STOP skips marketing but not an OTP; START lifts it; each inbound SMS is forwarded signed', async () => {
    const stopSid = await twilioInbound('Stop');
    assert.deepEqual(await scopes(), [SENDER]);

    const marketing = await send('marketing', 'Spring sale: 20% off');
    const otp = await send('otp', 'Your code is 123456');
    const skipped = await finalStatus(marketing, ['skipped']);
    assert.equal(skipped.errorCode, 'OPTED_OUT');
    assert.equal(skipped.provider, null, 'no provider was called');
    await finalStatus(otp, ['delivered']);
    const delivered = await outbox();
    assert.ok(delivered.includes(otp), 'the OTP reached the phone');
    assert.ok(!delivered.includes(marketing), 'the marketing message did not');

    const startSid = await twilioInbound('START');
    assert.deepEqual(await scopes(), []);
    // Handed to a provider again: whatever that provider then makes of it under load.
    const again = await send('marketing', 'Summer sale: 30% off');
    const sentAgain = await finalStatus(again, [
      'submitted',
      'delivered',
      'undelivered',
      'unknown',
      'failed',
    ]);
    assert.notEqual(sentAgain.provider, null);

    // Both inbound SMS at the tenant's webhook, each signed (the receiver refuses a bad signature).
    const inbound = () => [...hooks.events.values()].filter((e) => e.type === 'message.inbound');
    await waitFor(() => inbound().length === 2, 60_000, 'two message.inbound callbacks');
    assert.ok(hooks.requests.every((r) => r.verified));
    const byProviderId = new Map(inbound().map((e) => [e.providerMessageId, e]));
    assert.deepEqual(
      [stopSid, startSid].map((sid) => {
        const e = byProviderId.get(sid)!;
        return [e.from, e.to, e.body, e.keyword];
      }),
      [
        [phone, SENDER, 'Stop', 'stop'],
        [phone, SENDER, 'START', 'start'],
      ],
    );
    assert.equal(
      byProviderId.get(startSid)!.inReplyTo,
      otp,
      'START answers the last message from that sender',
    );

    // And in the tenant's inbound listing, newest first.
    const listed = (await call('GET', '/v1/inbound')).json.inbound as Array<{
      keyword: string;
      from: string;
    }>;
    assert.deepEqual(
      listed.map((i) => [i.keyword, i.from]),
      [
        ['start', phone],
        ['stop', phone],
      ],
    );
  });
});
