/**
 * Inbound SMS over SMPP, end to end on real Kafka, MariaDB and Redis: a handset's "STOP" that the
 * SMSC pushes as a mobile-originated deliver_sm is acknowledged once the bridge has it on
 * `sms.inbound`; the api's shared consumer group hands it to the receiver, which stores it for the
 * tenant owning the number and suppresses the sender. The same record delivered again is not
 * stored or forwarded twice.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../api/src/app.ts';
import { KafkaBus } from '../../core/bus/kafka-bus.ts';
import { RedisCache } from '../../core/cache/redis-cache.ts';
import { Readiness } from '../../core/health.ts';
import { createLogger } from '../../core/logger.ts';
import { createRegistry } from '../../core/metrics.ts';
import { topicSpecs } from '../../core/runtime.ts';
import type { Store } from '../../core/store/store.ts';
import { Topics } from '../../core/topics.ts';
import { encodeInboundRecord } from '../../providers/inbound-record.ts';
import type { InboundSms } from '../../providers/provider.ts';
import { SmppProvider } from '../../providers/smpp/adapter.ts';
import { smppOptions } from '../../providers/smpp/options.ts';
import { pushedInboundForwarder } from '../../supplier-bridge/src/service.ts';
import { FakeSmsc } from '../fakes/smsc-fake.ts';
import { TEST_KAFKA_BROKERS, TEST_REDIS_URL, uniqueSuffix } from '../support/infra.ts';
import { startGroupsAtEnd } from '../support/kafka-offsets.ts';
import { migratedStore } from '../support/store-targets.ts';
import { createTestDatabase } from '../support/mysql.ts';
import { MysqlStore } from '../../core/store/mysql-store.ts';
import { waitFor } from '../support/wait.ts';

const CREDENTIALS = { systemId: 'pigeon', password: 's3cret-pw' };
const logger = createLogger({ level: 'silent' });
const TENANT = 'tenant-mo';

/** Numbers of this run alone: the broker and its topic are shared with earlier runs. */
const digits = () => String(parseInt(uniqueSuffix(), 16) % 100_000).padStart(5, '0');
const OUR_NUMBER = `4477009${digits()}`;
const HANDSET = `4477001${digits()}`;

describe('SMPP inbound SMS from the bridge to the api over Kafka', () => {
  let store: Store;
  let smsc: FakeSmsc;
  let bus: KafkaBus;
  let cache: RedisCache;
  let adapter: SmppProvider;
  let app: FastifyInstance;
  const registry = createRegistry('api');
  const handedOver: InboundSms[] = [];

  migratedStore(
    async () => {
      const db = await createTestDatabase();
      return { open: () => new MysqlStore(db.url, { connectionLimit: 4 }), dispose: () => db.drop() };
    },
    (opened) => {
      store = opened.store;
    },
  );

  before(async () => {
    await store.putSender({
      tenantId: TENANT,
      sender: `+${OUR_NUMBER}`,
      kind: 'number',
      countries: [],
      isDefault: false,
      createdAt: 1,
      updatedAt: 1,
    });
    bus = new KafkaBus({ brokers: TEST_KAFKA_BROKERS, clientId: 'smpp-inbound-test', logger });
    await bus.ensureTopics(topicSpecs(6));
    cache = new RedisCache(TEST_REDIS_URL);
    const groupId = `smpp-inbound-${uniqueSuffix()}`;
    // Earlier runs' records are for numbers no tenant here owns, but there is no need to read them.
    await startGroupsAtEnd(TEST_KAFKA_BROKERS, [groupId], [Topics.inbound]);
    app = await buildApi({
      logger,
      bus,
      store,
      cache,
      registry,
      readiness: new Readiness(),
      providers: new Map(),
      publishTimeoutMs: 2000,
      simulatorEnabled: false,
      inbound: { busGroupId: groupId },
    });
    smsc = await FakeSmsc.start(CREDENTIALS);
    adapter = new SmppProvider(
      'smsc',
      smppOptions('smsc', { host: '127.0.0.1', port: smsc.port, ...CREDENTIALS, reconnectMinMs: 20 }),
      logger,
    );
    await adapter.start();
    pushedInboundForwarder(bus, logger, createRegistry('bridge'))(adapter);
    adapter.onInbound((sms) => {
      handedOver.push(sms);
    });
  });

  after(async () => {
    await adapter?.close();
    await smsc?.close();
    await app?.close();
    await bus?.close();
    await cache?.close();
  });

  const counted = async (result: string) => {
    const metric = await registry.getSingleMetric('pigeon_api_inbound_sms_total')!.get();
    return metric.values.find((v) => v.labels.result === result && v.labels.provider === 'smsc')?.value ?? 0;
  };

  test('an MO "STOP" is acknowledged, stored for the tenant owning the number, and suppresses the sender', async () => {
    const ack = await smsc.sendMobileOriginated({
      source_addr: HANDSET,
      destination_addr: OUR_NUMBER,
      short_message: 'STOP',
    });
    assert.equal(ack.command_status, 0);

    await waitFor(async () => (await counted('stop')) === 1, 20_000, 'STOP handled by the api');
    assert.deepEqual(await store.suppressionScopes(TENANT, `+${HANDSET}`), [`+${OUR_NUMBER}`]);
    const stored = await store.listInbound(TENANT, { limit: 10 });
    assert.deepEqual(
      stored.map((r) => [r.provider, r.from, r.to, r.body, r.keyword, r.providerMessageId]),
      [['smsc', `+${HANDSET}`, `+${OUR_NUMBER}`, 'STOP', 'stop', handedOver[0]?.providerMessageId]],
    );
  });

  test('the same record delivered again is recognised and stored once', async () => {
    const [sms] = handedOver;
    assert.ok(sms);
    await bus.publish(Topics.inbound, [encodeInboundRecord('smsc', sms)]);
    await waitFor(async () => (await counted('duplicate')) === 1, 20_000, 'redelivery handled');
    assert.equal((await store.listInbound(TENANT, { limit: 10 })).length, 1);
  });

  test('a two-part MO in UCS-2 is joined into one stored message', async () => {
    const ucs2 = (text: string) => Buffer.from(text, 'utf16le').swap16();
    for (const [seq, text] of [
      [1, 'Hello '],
      [2, 'wörld 🙂'],
    ] as const) {
      const ack = await smsc.sendMobileOriginated({
        source_addr: HANDSET,
        destination_addr: OUR_NUMBER,
        esm_class: 0x40,
        data_coding: 8,
        short_message: Buffer.concat([Buffer.from([6, 0x08, 4, 0x01, 0x02, 2, seq]), ucs2(text)]),
      });
      assert.equal(ack.command_status, 0);
    }
    await waitFor(async () => (await counted('stored')) === 1, 20_000, 'joined message stored');
    const stored = await store.listInbound(TENANT, { limit: 10 });
    assert.deepEqual(
      stored.filter((r) => r.keyword === null).map((r) => [r.body, r.parts]),
      [['Hello wörld 🙂', 2]],
    );
  });
});
