/**
 * What the API answers when Kafka does not acknowledge a publish in time and Redis is cut too, so
 * the abort mark that makes a 503 true cannot be written (api/src/publisher.ts): real Kafka behind
 * a link that holds the produce, real Redis behind a TCP proxy cut as the produce starts.
 * - the produce is acknowledged during the wait that follows: accepted (the record is on the topic);
 * - Redis is back during that wait: the mark is written and the answer is a 503 that holds;
 * - neither: PIGEON_ERR_OUTCOME_UNKNOWN (504) naming the message, never a 503 — the record lands
 *   afterwards and would be sent.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { ALL_SCOPES, apiKeyRecord, generateApiKey } from '../../api/src/api-keys.ts';
import { buildApi } from '../../api/src/app.ts';
import { MessagePublisher, PublishOutcomeUnknown } from '../../api/src/publisher.ts';
import type { BusRecord, Subscription } from '../../core/bus/bus.ts';
import { KafkaBus } from '../../core/bus/kafka-bus.ts';
import { RedisCache } from '../../core/cache/redis-cache.ts';
import { isPigeonError } from '../../core/errors.ts';
import { Readiness } from '../../core/health.ts';
import { newId } from '../../core/ids.ts';
import { createLogger } from '../../core/logger.ts';
import { Markers } from '../../core/markers.ts';
import { buildMessageRequested } from '../../core/message-request.ts';
import type { MessageRequested } from '../../core/message.ts';
import { createRegistry } from '../../core/metrics.ts';
import { topicSpecs } from '../../core/runtime.ts';
import { SqliteStore } from '../../core/store/sqlite-store.ts';
import { Topics } from '../../core/topics.ts';
import { TEST_KAFKA_BROKERS, TEST_REDIS_URL, uniqueSuffix } from '../support/infra.ts';
import { startGroupsAtEnd } from '../support/kafka-offsets.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { sleep, waitFor } from '../support/wait.ts';

// Long enough that the margins below (a produce let through 300 ms after the timeout, Redis back
// 100 ms after it) hold on a loaded machine; the wait that follows is as long again.
const PUBLISH_TIMEOUT_MS = 1_500;
const NEVER = Number.POSITIVE_INFINITY;

/**
 * Kafka behind a slow link: each publish reaches the broker only after `holdMs` (never, for
 * NEVER), and `onPublish` runs as it starts — where the tests cut Redis.
 */
class SlowLink extends KafkaBus {
  holdMs = 0;
  onPublish: () => void = () => undefined;
  override async publish(topic: string, records: readonly BusRecord[]): Promise<void> {
    this.onPublish();
    if (this.holdMs === NEVER) return new Promise<void>(() => undefined);
    await sleep(this.holdMs);
    return super.publish(topic, records);
  }
}

describe('a publish Kafka does not acknowledge in time, with Redis cut', () => {
  const logger = createLogger({ level: 'silent' });
  const suffix = uniqueSuffix();
  const redis = new URL(TEST_REDIS_URL);
  const bus = new SlowLink({ brokers: TEST_KAFKA_BROKERS, clientId: `publish-outcome-${suffix}` });
  const landed = new Set<string>();
  let subscription: Subscription;
  let proxy: TcpProxy;
  let cache: RedisCache;
  let publisher: MessagePublisher;

  const message = (): MessageRequested =>
    buildMessageRequested(
      { to: '+14155550142', body: 'publish outcome test', class: 'transactional' },
      { tenantId: `t-${suffix}`, messageId: newId(), now: Date.now(), publishTimeoutMs: PUBLISH_TIMEOUT_MS },
    );
  /** Cuts Redis as the produce starts, and holds the produce `holdMs`. */
  const slowKafkaAndNoRedis = (holdMs: number) => {
    bus.holdMs = holdMs;
    bus.onPublish = () => proxy.cut();
  };

  before(async () => {
    await bus.ensureTopics(topicSpecs(6));
    const group = `publish-outcome-${suffix}`;
    await startGroupsAtEnd(TEST_KAFKA_BROKERS, [group], [Topics.sendNormal]);
    subscription = await bus.subscribe({
      groupId: group,
      topics: [Topics.sendNormal],
      handler: async (batch) => {
        for (const r of batch.records) landed.add((JSON.parse(r.value) as MessageRequested).messageId);
      },
    });
    proxy = await startTcpProxy({ targetHost: redis.hostname, targetPort: Number(redis.port || 6379) });
    // Reconnects within 200 ms of Redis coming back, so a mark retried during the wait can land.
    cache = new RedisCache(`redis://127.0.0.1:${proxy.port}`, {
      keyPrefix: `pigeon-test:publish-outcome:${suffix}:`,
      maxBackoffMs: 200,
    });
    publisher = new MessagePublisher(bus, cache, logger, PUBLISH_TIMEOUT_MS);
  });

  after(async () => {
    await subscription.close();
    await cache.close();
    await proxy.close();
    // The bound's timer is unref'd: once the bus has closed it must not hold the process 10 s more.
    await Promise.race([bus.close(), new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
  });

  /** Lets the link through again and waits until the cache answers. */
  async function restoreRedis(): Promise<void> {
    bus.onPublish = () => undefined;
    proxy.restore();
    await waitFor(() => cache.ping(), 10_000, 'Redis back');
  }

  test('the produce acknowledged during the wait: accepted, and the record is on the topic', async () => {
    const event = message();
    slowKafkaAndNoRedis(PUBLISH_TIMEOUT_MS + 300);
    const started = Date.now();
    await publisher.publish([event]);
    console.log(`accepted after ${Date.now() - started} ms (publish timeout ${PUBLISH_TIMEOUT_MS} ms)`);
    await restoreRedis();
    await waitFor(() => landed.has(event.messageId), 20_000, 'the record on the topic');
  });

  test('neither acknowledged nor marked within the wait: OUTCOME_UNKNOWN names the message, whose record lands later', async () => {
    const event = message();
    slowKafkaAndNoRedis(PUBLISH_TIMEOUT_MS * 3);
    const started = Date.now();
    await assert.rejects(publisher.publish([event]), (err: unknown) => {
      assert.ok(err instanceof PublishOutcomeUnknown);
      assert.equal(err.code, 'PIGEON_ERR_OUTCOME_UNKNOWN');
      assert.equal(err.status, 504);
      assert.equal(err.retriable, false);
      assert.equal(err.toProblem().messageId, event.messageId);
      assert.deepEqual([...err.unknown], [event.messageId]);
      return true;
    });
    console.log(`unknown after ${Date.now() - started} ms (publish timeout ${PUBLISH_TIMEOUT_MS} ms)`);
    await restoreRedis();
    // What a 503 here would have hidden: the record is on the topic, with no abort mark.
    await waitFor(() => landed.has(event.messageId), 20_000, 'the record on the topic');
    assert.equal(await cache.get(Markers.abort(event.messageId)), undefined);
  });

  test('Redis back during the wait, the produce never acknowledged: the mark is written and the 503 holds', async () => {
    const event = message();
    slowKafkaAndNoRedis(NEVER);
    const publishing = publisher.publish([event]);
    await sleep(PUBLISH_TIMEOUT_MS + 100);
    proxy.restore();
    await assert.rejects(publishing, (err: unknown) => {
      assert.ok(isPigeonError(err));
      assert.equal(err.code, 'PIGEON_ERR_BUS_UNAVAILABLE');
      return true;
    });
    await restoreRedis();
    assert.equal(await cache.get(Markers.abort(event.messageId)), '1');
  });

  test('nothing written (the request spent its timeout before publishing): 503 even with Redis cut', async () => {
    const event = message();
    proxy.cut();
    await assert.rejects(publisher.publish([event], { spentMs: PUBLISH_TIMEOUT_MS }), (err: unknown) => {
      assert.ok(isPigeonError(err));
      assert.equal(err.code, 'PIGEON_ERR_BUS_UNAVAILABLE');
      return true;
    });
    await restoreRedis();
  });

  describe('POST /v1/messages', () => {
    const key = generateApiKey();
    let app: FastifyInstance;
    let store: SqliteStore;

    before(async () => {
      store = new SqliteStore(':memory:');
      await store.migrate();
      await store.putApiKey(apiKeyRecord(key, 'tenant-a', ALL_SCOPES, 'test'));
      app = await buildApi({
        logger,
        bus,
        store,
        cache,
        registry: createRegistry('api'),
        readiness: new Readiness(),
        providers: new Map(),
        publishTimeoutMs: PUBLISH_TIMEOUT_MS,
        simulatorEnabled: false,
      });
    });

    after(async () => {
      await app.close();
      await store.close();
    });

    test('answers 504 problem+json with the message id and no Retry-After; the message lands', async () => {
      slowKafkaAndNoRedis(PUBLISH_TIMEOUT_MS * 3);
      const response = await app.inject({
        method: 'POST',
        url: '/v1/messages',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        payload: { to: '+14155550143', body: 'hello' },
      });
      await restoreRedis();
      assert.equal(response.statusCode, 504, response.body);
      assert.match(String(response.headers['content-type']), /application\/problem\+json/);
      assert.equal(response.headers['retry-after'], undefined);
      const problem = response.json<{ code: string; messageId?: string; type: string }>();
      assert.equal(problem.code, 'PIGEON_ERR_OUTCOME_UNKNOWN');
      assert.equal(problem.type, 'https://pigeon.dev/errors/outcome-unknown');
      assert.match(problem.messageId ?? '', /^[0-9A-HJKMNP-TV-Z]{26}$/);
      await waitFor(() => landed.has(problem.messageId!), 20_000, 'the record on the topic');
    });

    test('a batch reports each such message as unknown, with its id, neither accepted nor rejected', async () => {
      slowKafkaAndNoRedis(PUBLISH_TIMEOUT_MS * 3);
      const response = await app.inject({
        method: 'POST',
        url: '/v1/messages/batch',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        payload: { messages: [{ to: '+14155550144' }, { to: '+14155550145' }], body: 'hello' },
      });
      await restoreRedis();
      assert.equal(response.statusCode, 202, response.body);
      const batch = response.json<{
        accepted: number;
        rejected: number;
        results: Array<{ id?: string; status: string; code?: string }>;
      }>();
      assert.equal(batch.accepted, 0);
      assert.equal(batch.rejected, 0);
      assert.deepEqual(
        batch.results.map((r) => [r.status, r.code]),
        [
          ['unknown', 'PIGEON_ERR_OUTCOME_UNKNOWN'],
          ['unknown', 'PIGEON_ERR_OUTCOME_UNKNOWN'],
        ],
      );
      for (const r of batch.results) assert.match(r.id ?? '', /^[0-9A-HJKMNP-TV-Z]{26}$/);
    });
  });
});
