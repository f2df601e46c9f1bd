/**
 * SMPP delivery receipts through the bridge's forwarder, on real Kafka and Redis: a receipt the
 * SMSC pushes is acknowledged only after it is on `sms.receipts`, and one that cannot be handed on
 * (Redis down here) is refused with a temporary error, so the SMSC keeps it and delivers it again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { KafkaBus } from '../../core/bus/kafka-bus.ts';
import { RedisCache } from '../../core/cache/redis-cache.ts';
import { newId } from '../../core/ids.ts';
import { createLogger } from '../../core/logger.ts';
import type { ReceiptReceived } from '../../core/message.ts';
import { topicSpecs } from '../../core/runtime.ts';
import { Topics } from '../../core/topics.ts';
import { SmppProvider } from '../../providers/smpp/adapter.ts';
import { smppOptions } from '../../providers/smpp/options.ts';
import { recordAcceptance, recordHandover } from '../../routing/receipt-matcher.ts';
import { pushedReceiptForwarder } from '../../supplier-bridge/src/service.ts';
import { FakeSmsc } from '../fakes/smsc-fake.ts';
import { TEST_KAFKA_BROKERS, TEST_REDIS_URL } from '../support/infra.ts';
import { freePort } from '../support/ports.ts';
import { sendRequest } from '../support/provider-testing.ts';
import { waitFor } from '../support/wait.ts';

const CREDENTIALS = { systemId: 'pigeon', password: 's3cret-pw' };
const logger = createLogger({ level: 'silent' });

describe('SMPP receipts forwarded by the bridge', () => {
  let smsc: FakeSmsc;
  let bus: KafkaBus;
  const received: ReceiptReceived[] = [];
  const adapters: SmppProvider[] = [];
  const closers: Array<() => Promise<void>> = [];

  async function boundAdapter(cache: RedisCache, registry: Registry): Promise<SmppProvider> {
    const adapter = new SmppProvider(
      'smsc',
      smppOptions('smsc', { host: '127.0.0.1', port: smsc.port, ...CREDENTIALS, reconnectMinMs: 20 }),
      logger,
    );
    adapters.push(adapter);
    await adapter.start();
    pushedReceiptForwarder(bus, cache, logger, registry)(adapter);
    return adapter;
  }

  /** Sends one message through the link and records, as the dispatcher does, whose it is. */
  async function submitted(adapter: SmppProvider, cache: RedisCache) {
    const result = await adapter.send(
      sendRequest({ from: 'PIGEON', body: 'hello' }),
      AbortSignal.timeout(2000),
    );
    const owner = { messageId: newId(), tenantId: 'tenant-smpp' };
    await recordHandover(cache, 'smsc', owner);
    await recordAcceptance(cache, 'smsc', owner, [result.providerMessageId]);
    return { owner, smscId: smsc.submits.at(-1)!.messageId! };
  }

  before(async () => {
    smsc = await FakeSmsc.start(CREDENTIALS);
    bus = new KafkaBus({ brokers: TEST_KAFKA_BROKERS, clientId: 'smpp-receipts-test', logger });
    await bus.ensureTopics(topicSpecs(6));
    const subscription = await bus.subscribe({
      groupId: `smpp-receipts-${newId()}`,
      topics: [Topics.receipts],
      fromBeginning: false,
      handler: async (batch) => {
        for (const record of batch.records) received.push(JSON.parse(record.value) as ReceiptReceived);
      },
    });
    closers.push(() => subscription.close());
  });

  after(async () => {
    for (const adapter of adapters) await adapter.close();
    for (const close of closers.reverse()) await close();
    await bus.close();
    await smsc.close();
  });

  test('a receipt is acknowledged once it is on sms.receipts', async () => {
    const cache = new RedisCache(TEST_REDIS_URL);
    closers.push(() => cache.close());
    const registry = new Registry();
    const adapter = await boundAdapter(cache, registry);
    const { owner, smscId } = await submitted(adapter, cache);

    const ack = await smsc.sendReceipt(smscId, 'DELIVRD');

    assert.equal(ack.command_status, 0);
    await waitFor(() => received.some((r) => r.messageId === owner.messageId), 10_000, 'receipt on Kafka');
    const event = received.find((r) => r.messageId === owner.messageId)!;
    assert.equal(event.status, 'delivered');
    assert.equal(event.provider, 'smsc');
    const counted = await registry.getSingleMetric('pigeon_bridge_pushed_receipts_total')!.get();
    assert.deepEqual(
      counted.values.map((v) => [v.labels.result, v.value]),
      [['accepted', 1]],
    );
  });

  test('with Redis down the receipt is refused as temporary, so the SMSC delivers it again', async () => {
    const working = new RedisCache(TEST_REDIS_URL);
    closers.push(() => working.close());
    const adapter = await boundAdapter(working, new Registry());
    const { smscId } = await submitted(adapter, working);
    // Only the adapter below may be bound, so the receipt goes to it.
    for (const open of adapters.splice(0)) await open.close();
    await waitFor(() => smsc.boundSessions === 0, 5_000, 'earlier links closed');

    const down = new RedisCache(`redis://127.0.0.1:${await freePort()}`);
    closers.push(() => down.close());
    const registry = new Registry();
    await boundAdapter(down, registry);

    const ack = await smsc.sendReceipt(smscId, 'DELIVRD');

    assert.equal(ack.command_status, 0x64, 'ESME_RX_T_APPN');
    const counted = await registry.getSingleMetric('pigeon_bridge_pushed_receipts_total')!.get();
    assert.deepEqual(
      counted.values.map((v) => [v.labels.result, v.value]),
      [['failed', 1]],
    );
  });
});
