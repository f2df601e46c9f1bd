/**
 * An OTP is never sent after its code expired. The code's message carries the verification's
 * expiry; here it waits on the high lane behind another message to the same number while the only
 * provider is stalled, and the bridge's clock passes the expiry meanwhile. When the provider frees
 * up, the bridge must fail the OTP as `expired` instead of handing it over.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { ALL_SCOPES, apiKeyRecord, generateApiKey } from '../../api/src/api-keys.ts';
import { buildApi } from '../../api/src/app.ts';
import { verificationSettings } from '../../api/src/verify/settings.ts';
import { MemoryBus } from '../../core/bus/memory-bus.ts';
import { MemoryCache } from '../../core/cache/memory-cache.ts';
import { loadConfig } from '../../core/config.ts';
import { Readiness } from '../../core/health.ts';
import { createLogger } from '../../core/logger.ts';
import { isOutcome, type MessageRequested, type OutcomeEvent } from '../../core/message.ts';
import { createRegistry } from '../../core/metrics.ts';
import { topicSpecs } from '../../core/runtime.ts';
import { SqliteStore } from '../../core/store/sqlite-store.ts';
import { Topics } from '../../core/topics.ts';
import { outboxKey, SimulatorProvider } from '../../providers/simulator.ts';
import { startBridge } from '../../supplier-bridge/src/bridge.ts';
import { Dispatcher } from '../../supplier-bridge/src/dispatch/dispatcher.ts';
import { CacheProviderGate } from '../../supplier-bridge/src/provider-gate.ts';
import { CatalogPlanner, fixedRouting } from '../../routing/planner.ts';
import { waitFor } from '../support/wait.ts';

const TO = '+14155550177';
const STALL_MS = 1500;

test('an OTP queued behind a stalled provider past its expiry never reaches the provider', async () => {
  const bus = new MemoryBus();
  await bus.ensureTopics(topicSpecs(1));
  const cache = new MemoryCache();
  const store = new SqliteStore(':memory:');
  await store.migrate();
  const key = generateApiKey();
  await store.putApiKey(apiKeyRecord(key, 'tenant-a', ALL_SCOPES, 'test'));
  const logger = createLogger({ level: 'silent' });
  const registry = createRegistry('otp-expiry');
  // The bridge's clock: real time, plus whatever the test lets pass while the provider is stuck.
  let skewMs = 0;
  const provider = new SimulatorProvider('sim-a', {
    secret: 's',
    outbox: cache,
    logger,
    latencyMs: STALL_MS,
  });
  const dispatcher = new Dispatcher({
    planner: new CatalogPlanner(
      fixedRouting([{ adapter: provider, weight: 1, definition: { name: 'sim-a', type: 'simulator' } }]),
    ),
    gate: new CacheProviderGate(cache),
    cache,
    logger,
    registry,
    publicUrl: 'http://127.0.0.1:9',
    now: () => Date.now() + skewMs,
  });
  const bridge = await startBridge({ bus, dispatcher, logger, registry, concurrency: 4 });
  const requested: MessageRequested[] = [];
  const outcomes: OutcomeEvent[] = [];
  const observers = [
    await bus.subscribe({
      groupId: 'observer-lane',
      topics: [Topics.sendHigh],
      handler: async (batch) => {
        for (const r of batch.records) requested.push(JSON.parse(r.value) as MessageRequested);
      },
    }),
    await bus.subscribe({
      groupId: 'observer-outcomes',
      topics: [Topics.outcomes],
      handler: async (batch) => {
        for (const r of batch.records) {
          const outcome = JSON.parse(r.value) as OutcomeEvent;
          if (isOutcome(outcome)) outcomes.push(outcome);
        }
      },
    }),
  ];
  const app = await buildApi({
    logger,
    bus,
    store,
    cache,
    registry,
    readiness: new Readiness(),
    providers: new Map(),
    publishTimeoutMs: 1000,
    simulatorEnabled: false,
    verification: verificationSettings(
      loadConfig({}),
      { otpKey: randomBytes(32), factorKey: randomBytes(32), bodyKey: undefined },
      'memory',
    ),
  });
  const post = (url: string, payload: unknown) =>
    app.inject({
      method: 'POST',
      url,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      payload: JSON.stringify(payload),
    });
  try {
    // An alert to the same number rides the same lane and partition, ahead of the OTP; the provider
    // holds it for STALL_MS.
    const ahead = await post('/v1/messages', { to: TO, body: 'on-call page', class: 'alert' });
    assert.equal(ahead.statusCode, 202);
    const started = await post('/v1/verifications', { to: TO, channel: 'sms', ttlSeconds: 60 });
    assert.equal(started.statusCode, 201);
    // While the provider is stuck, the OTP's minute passes.
    skewMs = 61_000;

    await waitFor(() => requested.some((m) => m.class === 'otp'), 2000, 'the OTP on the high lane');
    const otp = requested.find((m) => m.class === 'otp')!;
    assert.equal(otp.expiresAt, started.json<{ expiresAt: string }>().expiresAt);
    await waitFor(
      () => outcomes.some((o) => o.messageId === otp.messageId),
      STALL_MS + 5000,
      'the OTP outcome',
    );
    const outcome = outcomes.find((o) => o.messageId === otp.messageId)!;
    assert.equal(outcome.type, 'message.failed');
    assert.equal(outcome.type === 'message.failed' && outcome.status, 'expired');
    const delivered = (await cache.list(outboxKey(TO))).map((e) => JSON.parse(e) as { messageId: string });
    assert.deepEqual(
      delivered.map((e) => e.messageId),
      [requested.find((m) => m.class === 'alert')!.messageId],
      'only the alert reached the provider',
    );
  } finally {
    await app.close();
    for (const o of observers) await o.close();
    await bridge.close();
    await dispatcher.close();
    await provider.close();
    await bus.close();
    await store.close();
    await cache.close();
  }
});
