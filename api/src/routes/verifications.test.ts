/**
 * The verification API end to end inside one process: buildApi over SQLite, the in-process bus
 * and the memory cache, with an injected clock. The code is read where a phone would get it — from
 * the message on the high lane — and nowhere else.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { generate } from 'otplib';
import { MemoryBus } from '../../../core/bus/memory-bus.ts';
import type { BusRecord, Subscription } from '../../../core/bus/bus.ts';
import { MemoryCache } from '../../../core/cache/memory-cache.ts';
import { loadConfig } from '../../../core/config.ts';
import { newId } from '../../../core/ids.ts';
import { createLogger } from '../../../core/logger.ts';
import type { MessageRequested } from '../../../core/message.ts';
import { topicSpecs } from '../../../core/runtime.ts';
import { openBody } from '../../../core/sealed-body.ts';
import type { SqliteStore } from '../../../core/store/sqlite-store.ts';
import { Topics } from '../../../core/topics.ts';
import { decodeVerificationEvent, type VerificationEvent } from '../../../core/verification.ts';
import { ALL_SCOPES, apiKeyRecord, generateApiKey } from '../api-keys.ts';
import type { ProviderInfo } from '../../../routing/table.ts';
import { startTestApi } from '../../../test/support/api-harness.ts';
import { type VerificationSettings, verificationSettings } from '../verify/settings.ts';
import { VerifyLogEvents } from '../verify/limits.ts';

const T0 = Date.now();

/** A bus whose lanes refuse writes while `failing` is set, as a Kafka that does not acknowledge. */
class FlakyBus extends MemoryBus {
  failing = false;
  override async publish(topic: string, records: readonly BusRecord[]): Promise<void> {
    if (this.failing && topic.startsWith('sms.send')) throw new Error('broker unavailable');
    return super.publish(topic, records);
  }
}

interface Harness {
  app: FastifyInstance;
  key: string;
  clock: { now: number };
  /** OTP messages as published (body as on the bus: sealed or not). */
  messages: MessageRequested[];
  audit: VerificationEvent[];
  logLines: string[];
  bus: FlakyBus;
  store: SqliteStore;
  settings: VerificationSettings;
  post(url: string, payload: unknown, headers?: Record<string, string>): Promise<LightMyRequestResponse>;
  get(url: string): Promise<LightMyRequestResponse>;
  /** Waits for the next OTP message to `to` and returns the code in it. */
  codeFor(to: string, bodyKey?: Buffer): Promise<string>;
  close(): Promise<void>;
}

const harnesses: Harness[] = [];
after(async () => {
  for (const h of harnesses) await h.close();
});

async function harness(
  overrides: Partial<VerificationSettings> = {},
  options: { trustProxyHops?: number; providers?: ProviderInfo[] } = {},
): Promise<Harness> {
  const clock = { now: T0 };
  const bus = new FlakyBus();
  await bus.ensureTopics(topicSpecs(1));
  const key = generateApiKey();
  const logLines: string[] = [];
  const logger = createLogger({
    level: 'debug',
    destination: { write: (line: string) => void logLines.push(line) },
  });
  const settings: VerificationSettings = {
    ...verificationSettings(
      loadConfig({}),
      { otpKey: randomBytes(32), factorKey: randomBytes(32), bodyKey: randomBytes(32) },
      'memory',
    ),
    ...overrides,
  };
  const api = await startTestApi({
    keys: [{ key, tenant: 'tenant-a', scopes: ALL_SCOPES, label: 'test' }],
    bus,
    cache: new MemoryCache({ now: () => clock.now, sweepIntervalMs: 0 }),
    deps: {
      logger,
      trustProxyHops: options.trustProxyHops ?? 0,
      verification: settings,
      now: () => clock.now,
      ...(options.providers ? { sendPolicy: { providers: () => options.providers! } } : {}),
    },
  });
  const { app, store } = api;
  const messages: MessageRequested[] = [];
  const audit: VerificationEvent[] = [];
  const subscriptions: Subscription[] = [
    await bus.subscribe({
      groupId: 'phone',
      topics: [Topics.sendHigh],
      handler: async (batch) => {
        for (const r of batch.records) messages.push(JSON.parse(r.value) as MessageRequested);
      },
    }),
    await bus.subscribe({
      groupId: 'auditor',
      topics: [Topics.otpEvents],
      handler: async (batch) => {
        for (const r of batch.records) audit.push(decodeVerificationEvent(r.value)!);
      },
    }),
  ];
  const seen = new Map<string, number>();
  const h: Harness = {
    app,
    key,
    clock,
    messages,
    audit,
    logLines,
    bus,
    store,
    settings,
    post: (url, payload, headers = {}) => api.call('POST', url, key, payload, headers),
    get: (url) => api.call('GET', url, key),
    async codeFor(to, bodyKey) {
      const from = seen.get(to) ?? 0;
      const deadline = Date.now() + 2000;
      for (;;) {
        const mine = messages.filter((m) => m.to === to);
        if (mine.length > from) {
          seen.set(to, from + 1);
          const body = bodyKey ? openBody(mine[from]!.body, bodyKey) : mine[from]!.body;
          return /(\d{4,10})/.exec(body)![1]!;
        }
        if (Date.now() > deadline) throw new Error(`no message to ${to}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    close: async () => {
      for (const s of subscriptions) await s.close();
      await api.close();
    },
  };
  harnesses.push(h);
  return h;
}

let numbers = 0;
/** A fresh US number in its own 1,000-number range, so prefix limits only bite where meant to. */
const freshNumber = () => `+1415${String(200 + ++numbers)}0${String(100 + numbers).slice(-3)}`;

async function start(h: Harness, to: string, extra: Record<string, unknown> = {}) {
  const response = await h.post('/v1/verifications', { to, channel: 'sms', ...extra });
  assert.ok([200, 201].includes(response.statusCode), response.body);
  return response.json<{ id: string; status: string; expiresAt: string; sendCount: number }>();
}

const checkById = (h: Harness, id: string, code: string) => h.post(`/v1/verifications/${id}/check`, { code });
const statusOf = (r: LightMyRequestResponse) => r.json<{ status: string }>().status;
const wrong = (code: string) => (code === '000000' ? '000001' : '000000');

describe('POST /v1/verifications', () => {
  test('sends a code on the high lane that expires with the verification, and answers 201', async () => {
    const h = await harness();
    const to = freshNumber();
    const started = await start(h, to, { appName: 'Acme' });
    assert.equal(started.status, 'pending');
    assert.equal(started.sendCount, 1);
    assert.match(started.id, /^[0-9A-Z]{26}$/);
    assert.equal(Date.parse(started.expiresAt), T0 + 300_000);
    const code = await h.codeFor(to);
    assert.match(code, /^\d{6}$/);
    const message = h.messages.at(-1)!;
    assert.equal(message.class, 'otp');
    assert.equal(message.lane, 'high');
    assert.equal(message.expiresAt, started.expiresAt, 'the message is never sent after the code expires');
    assert.match(message.body, /^Acme: your verification code is \d{6}\./);
    const view = await h.get(`/v1/verifications/${started.id}`);
    assert.equal(view.statusCode, 200);
    assert.ok(!view.body.includes(code), 'GET never returns the code');
    assert.equal(view.json<{ status: string }>().status, 'pending');
  });

  test('honours codeLength, ttlSeconds, locale, the app hash and the WebOTP line', async () => {
    const h = await harness();
    const to = freshNumber();
    const started = await start(h, to, {
      codeLength: 8,
      ttlSeconds: 120,
      locale: 'fr',
      appHash: 'FA+9qCX9VSu',
      webOtpDomain: 'example.com',
    });
    assert.equal(Date.parse(started.expiresAt), T0 + 120_000);
    const code = await h.codeFor(to);
    assert.match(code, /^\d{8}$/);
    const lines = h.messages.at(-1)!.body.split('\n');
    assert.match(lines[0]!, /^<#> Votre code de vérification est \d{8}\. Il expire dans 2 min/);
    assert.equal(lines.at(-1), `@example.com #${code}`);
    assert.ok(lines.includes('FA+9qCX9VSu'));
  });

  test('refuses bad input by schema: wrong channel, code length, ttl, unknown fields', async () => {
    const h = await harness();
    const to = freshNumber();
    for (const body of [
      { to, channel: 'voice' },
      { to },
      { to, channel: 'sms', codeLength: 3 },
      { to, channel: 'sms', ttlSeconds: 601 },
      { to, channel: 'sms', appName: 'Acme\nhttp://evil' },
      { to, channel: 'sms', extra: 1 },
    ]) {
      const response = await h.post('/v1/verifications', body);
      assert.equal(response.statusCode, 400, JSON.stringify(body));
    }
    assert.equal(h.messages.length, 0);
  });

  test('a VoIP number and a country off the allowlist are refused before anything is sent', async () => {
    const h = await harness();
    const voip = await h.post('/v1/verifications', { to: '+445631231234', channel: 'sms' });
    assert.equal(voip.statusCode, 422);
    assert.equal(voip.json<{ code: string }>().code, 'PIGEON_ERR_NUMBER_TYPE_REFUSED');
    const japan = await h.post('/v1/verifications', { to: '+2348031234567', channel: 'sms' });
    assert.equal(japan.statusCode, 403);
    const problem = japan.json<{ code: string; detail: string }>();
    assert.equal(problem.code, 'PIGEON_ERR_COUNTRY_NOT_ALLOWED');
    assert.match(problem.detail, /PIGEON_OTP_ALLOWED_COUNTRIES/);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(h.messages.length, 0);
    assert.deepEqual(
      h.audit.filter((e) => e.type === 'verification.blocked').map((e) => e.reason),
      ['PIGEON_ERR_NUMBER_TYPE_REFUSED', 'PIGEON_ERR_COUNTRY_NOT_ALLOWED'],
    );
  });
});

describe('checks', () => {
  test('the right code approves once; replaying it, by id or by number, does not', async () => {
    const h = await harness();
    const to = freshNumber();
    const { id } = await start(h, to);
    const code = await h.codeFor(to);
    assert.equal(statusOf(await checkById(h, id, code)), 'approved');
    assert.equal(statusOf(await checkById(h, id, code)), 'pending');
    assert.equal(statusOf(await h.post('/v1/verification-checks', { to, code })), 'pending');
    const view = (await h.get(`/v1/verifications/${id}`)).json<{ status: string; approvedAt: string }>();
    assert.equal(view.status, 'approved');
    assert.equal(Date.parse(view.approvedAt), T0);
  });

  test('checks by number find the pending verification', async () => {
    const h = await harness();
    const to = freshNumber();
    await start(h, to);
    const code = await h.codeFor(to);
    assert.equal(statusOf(await h.post('/v1/verification-checks', { to, code: wrong(code) })), 'pending');
    assert.equal(statusOf(await h.post('/v1/verification-checks', { to, code })), 'approved');
  });

  test('sequential brute force: five wrong codes exhaust the verification, the right one then fails', async () => {
    const h = await harness();
    const to = freshNumber();
    const { id } = await start(h, to);
    const code = await h.codeFor(to);
    const answers: string[] = [];
    for (let i = 0; i < 5; i++) answers.push(statusOf(await checkById(h, id, wrong(code))));
    assert.deepEqual(answers, ['pending', 'pending', 'pending', 'pending', 'max_attempts']);
    assert.equal(statusOf(await checkById(h, id, code)), 'max_attempts');
    assert.equal((await h.get(`/v1/verifications/${id}`)).json<{ status: string }>().status, 'max_attempts');
  });

  test('concurrent brute force: of 50 wrong checks at once, 5 are evaluated and the right code then fails', async () => {
    const h = await harness();
    const to = freshNumber();
    const { id } = await start(h, to);
    const code = await h.codeFor(to);
    const answers = await Promise.all(Array.from({ length: 50 }, () => checkById(h, id, wrong(code))));
    const statuses = answers.map(statusOf);
    assert.equal(statuses.filter((s) => s === 'pending').length, 4);
    assert.equal(statuses.filter((s) => s === 'max_attempts').length, 46);
    assert.equal(statusOf(await checkById(h, id, code)), 'max_attempts');
    await new Promise((r) => setTimeout(r, 50));
    const evaluated = h.audit.filter((e) => e.type === 'verification.checked' && e.result === 'wrong');
    assert.equal(evaluated.length, 5);
  });

  test('a code stops working when the verification expires (injected clock)', async () => {
    const h = await harness();
    const to = freshNumber();
    const { id } = await start(h, to, { ttlSeconds: 60 });
    const code = await h.codeFor(to);
    h.clock.now = T0 + 59_999;
    assert.equal(statusOf(await checkById(h, id, wrong(code))), 'pending');
    h.clock.now = T0 + 60_000;
    assert.equal(statusOf(await checkById(h, id, code)), 'pending');
    assert.equal(statusOf(await h.post('/v1/verification-checks', { to, code })), 'pending');
    assert.equal((await h.get(`/v1/verifications/${id}`)).json<{ status: string }>().status, 'expired');
  });

  test('a canceled verification accepts no code', async () => {
    const h = await harness();
    const to = freshNumber();
    const { id } = await start(h, to);
    const code = await h.codeFor(to);
    const canceled = await h.post(`/v1/verifications/${id}/cancel`, {});
    assert.equal(canceled.statusCode, 200);
    assert.equal(canceled.json<{ status: string }>().status, 'canceled');
    assert.equal(statusOf(await checkById(h, id, code)), 'pending');
    assert.equal((await h.post(`/v1/verifications/${newId()}/cancel`, {})).statusCode, 404);
    assert.equal((await h.get(`/v1/verifications/${newId()}`)).statusCode, 404);
  });

  test('unknown, wrong and expired give the same answer, byte for byte, in about the same time', async () => {
    const h = await harness({ prefixBurst: { limit: 10_000, windowMs: 60_000 } });
    const live: Array<{ id: string; code: string }> = [];
    for (let i = 0; i < 40; i++) {
      const to = freshNumber();
      const { id } = await start(h, to, { ttlSeconds: 600 });
      live.push({ id, code: await h.codeFor(to) });
    }
    const expiring: Array<{ id: string; code: string }> = [];
    h.clock.now = T0 - 400_000;
    for (let i = 0; i < 40; i++) {
      const to = freshNumber();
      const { id } = await start(h, to, { ttlSeconds: 60 });
      expiring.push({ id, code: await h.codeFor(to) });
    }
    h.clock.now = T0;
    const shape = (r: LightMyRequestResponse) => {
      const { date: _date, ...headers } = r.headers;
      return { status: r.statusCode, headers, body: r.body };
    };
    const kinds = {
      unknown: (i: number) => checkById(h, newId(), String(100000 + i)),
      wrong: (i: number) => checkById(h, live[i % 40]!.id, wrong(live[i % 40]!.code)),
      expired: (i: number) => checkById(h, expiring[i % 40]!.id, expiring[i % 40]!.code),
    };
    const first = await Promise.all(Object.values(kinds).map((k) => k(0)));
    assert.deepEqual(shape(first[1]!), shape(first[0]!));
    assert.deepEqual(shape(first[2]!), shape(first[0]!));
    // Interleaved rounds, so drift in the machine's speed touches every kind alike. 40 verifications
    // × 3 more wrong checks stay under five per verification.
    // A timing leak shows in every sample; a busy machine's stall in one. So a sample whose
    // medians differ is taken again, twice at most, before the difference counts.
    const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[xs.length >> 1]!;
    const samples: string[] = [];
    for (let sample = 0; sample < 3; sample++) {
      const times: Record<keyof typeof kinds, number[]> = { unknown: [], wrong: [], expired: [] };
      for (let i = 1; i <= 40; i++) {
        for (const kind of Object.keys(kinds) as Array<keyof typeof kinds>) {
          const began = process.hrtime.bigint();
          const response = await kinds[kind](40 * sample + i);
          times[kind].push(Number(process.hrtime.bigint() - began) / 1e6);
          assert.deepEqual(shape(response), shape(first[0]!), `${kind} #${40 * sample + i}`);
        }
      }
      const medians = Object.values(times).map(median);
      samples.push(medians.map((m) => m.toFixed(3)).join(' / '));
      if (Math.max(...medians) - Math.min(...medians) < Math.max(0.25, 0.3 * Math.min(...medians))) return;
    }
    assert.fail(`medians (unknown / wrong / expired) differ in every sample: ${samples.join('; ')} ms`);
  });
});

describe('re-sends', () => {
  test('a second request re-sends the same verification with a fresh code on a growing schedule', async () => {
    const h = await harness();
    const to = freshNumber();
    const first = await start(h, to);
    const oldCode = await h.codeFor(to);
    const early = await h.post('/v1/verifications', { to, channel: 'sms' });
    assert.equal(early.statusCode, 429);
    assert.equal(early.json<{ code: string }>().code, 'PIGEON_ERR_SEND_LIMIT');
    assert.equal(early.headers['retry-after'], '30');
    h.clock.now = T0 + 30_000;
    const again = await h.post('/v1/verifications', { to, channel: 'sms' });
    assert.equal(again.statusCode, 200);
    const resent = again.json<{ id: string; sendCount: number; expiresAt: string }>();
    assert.equal(resent.id, first.id);
    assert.equal(resent.sendCount, 2);
    assert.equal(Date.parse(resent.expiresAt), T0 + 30_000 + 300_000);
    const newCode = await h.codeFor(to);
    assert.equal(
      statusOf(await checkById(h, first.id, oldCode)),
      oldCode === newCode ? 'approved' : 'pending',
    );
    if (oldCode !== newCode) assert.equal(statusOf(await checkById(h, first.id, newCode)), 'approved');
  });

  test('five sends at most; the sixth waits for the verification to expire', async () => {
    const h = await harness();
    const to = freshNumber();
    await start(h, to);
    let at = T0;
    for (const gap of [30_000, 60_000, 120_000, 240_000]) {
      at += gap;
      h.clock.now = at;
      assert.equal((await h.post('/v1/verifications', { to, channel: 'sms' })).statusCode, 200);
    }
    h.clock.now = at + 1_000;
    const sixth = await h.post('/v1/verifications', { to, channel: 'sms' });
    assert.equal(sixth.statusCode, 429);
    assert.equal(sixth.headers['retry-after'], '299');
    assert.match(sixth.json<{ detail: string }>().detail, /5 times/);
  });

  test('a send the bus refused is undone: 503, and an immediate retry gets a code that works', async () => {
    const h = await harness();
    const to = freshNumber();
    h.bus.failing = true;
    const refused = await h.post('/v1/verifications', { to, channel: 'sms' });
    assert.equal(refused.statusCode, 503);
    assert.equal(refused.json<{ code: string }>().code, 'PIGEON_ERR_BUS_UNAVAILABLE');
    h.bus.failing = false;
    const { id } = await start(h, to);
    const code = await h.codeFor(to);
    assert.equal(statusOf(await checkById(h, id, code)), 'approved');
  });
});

describe('abuse limits', () => {
  test('a burst of new verifications to one number range is blocked and alerted once', async () => {
    const h = await harness({ prefixBurst: { limit: 3, windowMs: 600_000 }, prefixBlockMs: 3_600_000 });
    const range = '+1415206';
    for (let i = 0; i < 3; i++) await start(h, `${range}0${String(101 + i)}`);
    const blocked = await h.post('/v1/verifications', { to: `${range}0199`, channel: 'sms' });
    assert.equal(blocked.statusCode, 429);
    assert.equal(blocked.json<{ code: string }>().code, 'PIGEON_ERR_PUMPING_SUSPECTED');
    assert.equal(blocked.headers['retry-after'], '3600');
    h.clock.now = T0 + 1_200_000;
    assert.equal((await h.post('/v1/verifications', { to: `${range}0198`, channel: 'sms' })).statusCode, 429);
    assert.equal((await h.post('/v1/verifications', { to: freshNumber(), channel: 'sms' })).statusCode, 201);
    const alerts = h.logLines.filter((l) => l.includes(VerifyLogEvents.pumpingSuspected));
    assert.equal(alerts.length, 1);
    assert.match(alerts[0]!, /"level":40/);
  });

  test('velocity limits per number, per client address (trusted X-Forwarded-For) and per tenant', async () => {
    const h = await harness(
      {
        sendsPerPhone: { limit: 1, windowMs: 3_600_000 },
        sendsPerIp: { limit: 2, windowMs: 600_000 },
        // Refused requests spend nothing, so the fourth accepted one is the first over.
        sendsPerTenant: { limit: 3, windowMs: 60_000 },
      },
      { trustProxyHops: 1 },
    );
    const from = (ip: string) => ({ 'x-forwarded-for': ip });
    const to = freshNumber();
    assert.equal(
      (await h.post('/v1/verifications', { to, channel: 'sms' }, from('198.51.100.1'))).statusCode,
      201,
    );
    h.clock.now = T0 + 31_000;
    const perNumber = await h.post('/v1/verifications', { to, channel: 'sms' }, from('198.51.100.9'));
    assert.equal(perNumber.statusCode, 429);
    assert.match(perNumber.json<{ detail: string }>().detail, /this number/);
    assert.equal(
      (await h.post('/v1/verifications', { to: freshNumber(), channel: 'sms' }, from('198.51.100.1')))
        .statusCode,
      201,
    );
    const perIp = await h.post(
      '/v1/verifications',
      { to: freshNumber(), channel: 'sms' },
      from('198.51.100.1'),
    );
    assert.equal(perIp.statusCode, 429);
    assert.match(perIp.json<{ detail: string }>().detail, /client address/);
    assert.ok(Number(perIp.headers['retry-after']) > 500);
    assert.equal(
      (await h.post('/v1/verifications', { to: freshNumber(), channel: 'sms' }, from('198.51.100.2')))
        .statusCode,
      201,
    );
    const perTenant = await h.post(
      '/v1/verifications',
      { to: freshNumber(), channel: 'sms' },
      from('198.51.100.3'),
    );
    assert.equal(perTenant.statusCode, 429);
    assert.match(perTenant.json<{ detail: string }>().detail, /tenant/);
  });

  test('the daily spend cap stops sends until UTC midnight', async () => {
    // No route table: every part at the fallback PIGEON_SEND_PRICE_PER_PART, 0.05.
    const h = await harness({ dailySpendCap: 0.1 });
    await start(h, freshNumber());
    await start(h, freshNumber());
    const capped = await h.post('/v1/verifications', { to: freshNumber(), channel: 'sms' });
    assert.equal(capped.statusCode, 429);
    assert.equal(capped.json<{ code: string }>().code, 'PIGEON_ERR_SPEND_CAP');
    const midnight = Date.parse(new Date(T0).toISOString().slice(0, 10)) + 86_400_000;
    assert.equal(capped.headers['retry-after'], String(Math.ceil((midnight - T0) / 1000)));
  });

  test("a code's spend counts at the route table's price for its country, else at the fallback", async () => {
    const provider = (name: string, prices: Record<string, number>): ProviderInfo => ({
      name,
      weight: 1,
      enabled: true,
      senderId: undefined,
      prices: new Map(Object.entries(prices)),
    });
    // GB is priced 0.04 and 0.07: a code there counts at the dearer; US, which no provider prices,
    // at the fallback 0.05. 0.07 + 0.05 does not fit 0.1 (at a flat 0.05 it would).
    const h = await harness(
      { dailySpendCap: 0.1 },
      { providers: [provider('cheap', { GB: 0.04 }), provider('dear', { GB: 0.07, FR: 0.02 })] },
    );
    await start(h, '+447400123456');
    const capped = await h.post('/v1/verifications', { to: freshNumber(), channel: 'sms' });
    assert.equal(capped.statusCode, 429, capped.body);
    const problem = capped.json<{ code: string; detail: string }>();
    assert.equal(problem.code, 'PIGEON_ERR_SPEND_CAP');
    assert.match(problem.detail, /PIGEON_OTP_DAILY_SPEND_CAP 0\.1\)/);
  });
});

describe('per-tenant OTP settings', () => {
  /** A second tenant's key in the harness's store, and the admin PUT of a tenant's overrides. */
  async function tenants(h: Harness) {
    const keyB = generateApiKey();
    await h.store.putApiKey(apiKeyRecord(keyB, 'tenant-b', ALL_SCOPES, 'test'));
    const asB = { authorization: `Bearer ${keyB}` };
    const putSettings = async (tenantId: string, body: unknown) => {
      const response = await h.app.inject({
        method: 'PUT',
        url: `/v1/admin/tenants/${tenantId}/otp-settings`,
        headers: { authorization: `Bearer ${h.key}`, 'content-type': 'application/json' },
        payload: JSON.stringify(body),
      });
      assert.equal(response.statusCode, 200, response.body);
    };
    return { asB, putSettings };
  }

  test("a tenant's allowlist refuses a number the gateway default allows; other tenants keep the default", async () => {
    const h = await harness();
    const { asB, putSettings } = await tenants(h);
    await putSettings('tenant-a', { allowedCountries: ['GB'], dailySpendCap: null });

    const us = freshNumber();
    const refused = await h.post('/v1/verifications', { to: us, channel: 'sms' });
    assert.equal(refused.statusCode, 403, refused.body);
    const problem = refused.json<{ code: string; detail: string }>();
    assert.equal(problem.code, 'PIGEON_ERR_COUNTRY_NOT_ALLOWED');
    assert.match(problem.detail, /this tenant's OTP country allowlist/);
    assert.match(problem.detail, /PUT \/v1\/admin\/tenants\/tenant-a\/otp-settings/);
    assert.match(problem.detail, /default PIGEON_OTP_ALLOWED_COUNTRIES\) lists GB$/);

    const accepted = await h.post('/v1/verifications', { to: us, channel: 'sms' }, asB);
    assert.equal(accepted.statusCode, 201, accepted.body);
    assert.equal(
      (await h.post('/v1/verifications', { to: '+447400123456', channel: 'sms' })).statusCode,
      201,
    );

    // A PUT through this process is in force here at once (other replicas: within seconds).
    await putSettings('tenant-a', { allowedCountries: null, dailySpendCap: null });
    assert.equal((await h.post('/v1/verifications', { to: us, channel: 'sms' })).statusCode, 201);
  });

  test("a tenant's daily spend cap replaces the gateway's, up or down, for that tenant only", async () => {
    const h = await harness({ dailySpendCap: 0.05 });
    const { asB, putSettings } = await tenants(h);
    await putSettings('tenant-a', { allowedCountries: null, dailySpendCap: 0.1 });

    await start(h, freshNumber());
    await start(h, freshNumber());
    const cappedA = await h.post('/v1/verifications', { to: freshNumber(), channel: 'sms' });
    assert.equal(cappedA.statusCode, 429, cappedA.body);
    const problemA = cappedA.json<{ code: string; detail: string }>();
    assert.equal(problemA.code, 'PIGEON_ERR_SPEND_CAP');
    assert.match(
      problemA.detail,
      /this tenant's OTP daily spend cap 0\.1: PUT \/v1\/admin\/tenants\/tenant-a/,
    );

    assert.equal(
      (await h.post('/v1/verifications', { to: freshNumber(), channel: 'sms' }, asB)).statusCode,
      201,
    );
    const cappedB = await h.post('/v1/verifications', { to: freshNumber(), channel: 'sms' }, asB);
    assert.equal(cappedB.statusCode, 429, cappedB.body);
    assert.match(cappedB.json<{ detail: string }>().detail, /PIGEON_OTP_DAILY_SPEND_CAP 0\.05\)/);

    // 0 lifts the cap for the tenant, whatever the gateway's.
    await putSettings('tenant-b', { allowedCountries: null, dailySpendCap: 0 });
    assert.equal(
      (await h.post('/v1/verifications', { to: freshNumber(), channel: 'sms' }, asB)).statusCode,
      201,
    );
  });
});

describe('authenticator fallback', () => {
  test('a confirmed TOTP factor approves a verification whose SMS never arrived, once per code', async () => {
    const h = await harness();
    const to = freshNumber();
    const created = await h.post('/v1/factors', { to, issuer: 'Acme' });
    assert.equal(created.statusCode, 201);
    assert.equal(created.headers['cache-control'], 'no-store');
    const factor = created.json<{ id: string; status: string; uri: string }>();
    assert.equal(factor.status, 'unverified');
    const secret = new URL(factor.uri).searchParams.get('secret')!;
    const stored = await h.store.getTotpFactor('tenant-a', factor.id);
    assert.ok(stored && !stored.secret.includes(secret), 'the secret is sealed at rest');
    const totp = (at: number) => generate({ secret, epoch: Math.floor(at / 1000) });

    const confirm = await h.post(`/v1/factors/${factor.id}/verify`, { code: await totp(h.clock.now) });
    assert.equal(confirm.json<{ status: string }>().status, 'verified');

    h.clock.now += 60_000;
    const { id } = await start(h, to);
    const code = await totp(h.clock.now);
    assert.equal(statusOf(await checkById(h, id, code)), 'approved');
    h.clock.now += 31_000;
    const second = await start(h, to);
    assert.equal(
      statusOf(await checkById(h, second.id, code)),
      'pending',
      'a used TOTP code is not accepted again',
    );
    assert.equal(statusOf(await checkById(h, second.id, await totp(h.clock.now))), 'approved');
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(h.audit.some((e) => e.type === 'verification.approved' && e.method === 'totp'));
    assert.equal(
      (
        await h.app.inject({
          method: 'DELETE',
          url: `/v1/factors/${factor.id}`,
          headers: { authorization: `Bearer ${h.key}` },
        })
      ).statusCode,
      204,
    );
  });

  test('an unconfirmed factor does not count', async () => {
    const h = await harness();
    const to = freshNumber();
    const factor = (await h.post('/v1/factors', { to })).json<{ uri: string }>();
    const secret = new URL(factor.uri).searchParams.get('secret')!;
    const { id } = await start(h, to);
    const code = await generate({ secret, epoch: Math.floor(h.clock.now / 1000) });
    assert.equal(statusOf(await checkById(h, id, code)), 'pending');
  });
});

describe('secrecy', () => {
  test('the code is in no log line, audit event, stored row or metric', async () => {
    const h = await harness();
    const to = freshNumber();
    const { id } = await start(h, to);
    const code = await h.codeFor(to);
    await checkById(h, id, wrong(code));
    await checkById(h, id, code);
    await new Promise((r) => setTimeout(r, 50));
    const metrics = await h.app.inject({ method: 'GET', url: '/metrics' });
    assert.match(metrics.body, /pigeon_otp_sent_total\{[^}]*country="US"[^}]*\} 1/);
    assert.match(metrics.body, /pigeon_otp_approvals_total\{[^}]*method="sms"[^}]*\} 1/);
    assert.ok(h.logLines.length > 0 && h.audit.length >= 4);
    for (const [where, text] of [
      ['logs', h.logLines.join('\n')],
      ['audit events', JSON.stringify(h.audit)],
      ['metrics', metrics.body],
      ['GET', (await h.get(`/v1/verifications/${id}`)).body],
    ] as const) {
      assert.ok(!text.includes(code), `the code appears in ${where}`);
    }
    assert.ok(!JSON.stringify(h.audit).includes(to), 'audit events carry masked numbers only');
  });

  test('bodies bound for Kafka are sealed; without PIGEON_BODY_KEY nothing is sent', async () => {
    const bodyKey = randomBytes(32);
    const h = await harness({ sealBodies: true, bodyKey });
    const to = freshNumber();
    const { id } = await start(h, to);
    const message = h.messages.find((m) => m.to === to) ?? (await h.codeFor(to, bodyKey), h.messages.at(-1)!);
    assert.match(message.body, /^enc:v1:/);
    assert.ok(!/\d{6}/.test(message.body));
    const code = /(\d{6})/.exec(openBody(message.body, bodyKey))![1]!;
    assert.equal(statusOf(await checkById(h, id, code)), 'approved');

    const unkeyed = await harness({ sealBodies: true, bodyKey: undefined });
    const refused = await unkeyed.post('/v1/verifications', { to: freshNumber(), channel: 'sms' });
    assert.equal(refused.statusCode, 500);
    assert.match(refused.json<{ detail: string }>().detail, /PIGEON_BODY_KEY/);
  });

  test('without PIGEON_OTP_KEY verifications are refused as misconfiguration', async () => {
    const h = await harness({ otpKey: undefined });
    const response = await h.post('/v1/verifications', { to: freshNumber(), channel: 'sms' });
    assert.equal(response.statusCode, 500);
    assert.equal(response.json<{ code: string }>().code, 'PIGEON_ERR_CONFIG');
    assert.equal((await checkById(h, newId(), '123456')).statusCode, 500);
  });
});
