import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { MemoryBus } from '../../../core/bus/memory-bus.ts';
import { MemoryCache } from '../../../core/cache/memory-cache.ts';
import { isPigeonError } from '../../../core/errors.ts';
import { createLogger } from '../../../core/logger.ts';
import { Markers } from '../../../core/markers.ts';
import type { MessageRequested } from '../../../core/message.ts';
import { createRegistry } from '../../../core/metrics.ts';
import type { Roster } from '../../../core/oncall.ts';
import { topicSpecs } from '../../../core/runtime.ts';
import { SqliteStore } from '../../../core/store/sqlite-store.ts';
import { Topics } from '../../../core/topics.ts';
import { outboxKey, SimulatorProvider, simulatorFaultKey } from '../../../providers/simulator.ts';
import { MessagePublisher } from '../publisher.ts';
import type { IncomingAlert, ParsedAlerts } from './alerts.ts';
import { OncallService } from './oncall.ts';
import { Pager } from './pager.ts';

const TENANT = 'tenant-a';
// Monday 2026-01-05 12:00 UTC: ana's week.
const T0 = Date.parse('2026-01-05T12:00:00Z');
const PHONES = { ana: '+14155550101', bo: '+14155550102', cy: '+14155550103' };

const ROSTER: Roster = {
  name: 'default',
  timezone: 'UTC',
  members: Object.entries(PHONES).map(([name, phone]) => ({ name, phone })),
  rotation: { period: 'weekly', handoffDay: 'monday', handoffTime: '09:00', start: '2026-01-05' },
  overrides: [],
  escalation: { afterMinutes: 5 },
};

function alert(status: 'firing' | 'resolved', overrides: Partial<IncomingAlert> = {}): ParsedAlerts {
  return {
    source: 'alertmanager',
    alerts: [
      {
        fingerprint: '1a30ba71cca2921f',
        status,
        title: 'BlackBox Probe Failure: https://server.example.org',
        summary: 'Instance https://server.example.org has been down for over 5m.',
        severity: 'critical',
        receiver: 'sms',
        ...overrides,
      },
    ],
  };
}

describe('on-call paging', () => {
  let store: SqliteStore;
  let cache: MemoryCache;
  let bus: MemoryBus;
  let published: MessageRequested[];
  let clock: { now: number };
  let service: OncallService;
  let makeService: () => OncallService;

  beforeEach(async () => {
    store = new SqliteStore(':memory:');
    await store.migrate();
    await store.putRoster({ tenantId: TENANT, name: 'default', roster: ROSTER, updatedAt: T0 });
    cache = new MemoryCache();
    bus = new MemoryBus();
    await bus.ensureTopics(topicSpecs(1));
    published = [];
    await bus.subscribe({
      groupId: 'observer',
      topics: [Topics.sendHigh, Topics.sendNormal, Topics.sendBulk],
      handler: async (batch) => {
        for (const r of batch.records) published.push(JSON.parse(r.value) as MessageRequested);
      },
    });
    clock = { now: T0 };
    const logger = createLogger({ level: 'silent' });
    // Silent: it takes the page but posts no receipt to a gateway that is not running.
    const direct = new SimulatorProvider('sim-direct', {
      secret: 's',
      outbox: cache,
      logger,
      latencyMs: 0,
      faults: [{ fault: 'silent' }],
    });
    makeService = () => {
      const registry = createRegistry('api');
      return new OncallService({
        store,
        cache,
        logger,
        registry,
        now: () => clock.now,
        pager: new Pager({
          publisher: new MessagePublisher(bus, cache, logger, 500),
          directProviders: () => [{ name: 'sim-direct', adapter: direct }],
          publicUrl: 'http://127.0.0.1:1',
          publishTimeoutMs: 500,
          logger,
          registry,
          now: () => clock.now,
        }),
      });
    };
    service = makeService();
  });

  afterEach(async () => {
    await bus.close();
    await store.close();
  });

  const settle = () => new Promise((resolve) => setTimeout(resolve, 30));
  const outbox = async (phone: string) =>
    (await cache.list(outboxKey(phone))).map((e) => JSON.parse(e) as { body: string; messageId: string });

  test('a firing alert pages the member on call: an alert-class message on the high lane', async () => {
    const [outcome] = await service.receive(TENANT, alert('firing'));
    assert.equal(outcome!.result, 'paged');
    assert.equal(outcome!.via, 'bus');
    await settle();
    assert.equal(published.length, 1);
    const message = published[0]!;
    assert.deepEqual([message.to, message.class, message.lane], [PHONES.ana, 'alert', 'high']);
    assert.match(
      message.body,
      /^\[FIRING critical\] BlackBox Probe Failure: https:\/\/server\.example\.org - Instance/,
    );
    assert.ok(message.body.endsWith(`Ack: page ${outcome!.pageId}`));

    const page = await service.page(TENANT, outcome!.pageId!);
    assert.equal(page.status, 'open');
    assert.equal(page.roster, 'default', 'no roster is named "sms" (the receiver): the default one');
    assert.deepEqual(
      page.chain.map((m) => m.name),
      ['ana', 'bo', 'cy'],
    );
    assert.equal(page.escalateAt, T0 + 5 * 60_000);
    assert.equal(page.deliveries[0]!.messageId, message.messageId);
  });

  test('the same alert posted three times at once pages once', async () => {
    const outcomes = (
      await Promise.all([1, 2, 3].map(() => service.receive(TENANT, alert('firing'))))
    ).flat();
    assert.deepEqual(outcomes.map((o) => o.result).sort(), ['duplicate', 'duplicate', 'paged']);
    await settle();
    assert.equal(published.length, 1);
  });

  test('when the cache has forgotten, the open page in the store still makes it a duplicate', async () => {
    const [first] = await service.receive(TENANT, alert('firing'));
    await cache.del(`oncall:alert:${TENANT}:1a30ba71cca2921f:firing`);
    const [again] = await service.receive(TENANT, alert('firing'));
    assert.deepEqual([again!.result, again!.pageId], ['duplicate', first!.pageId]);
  });

  test('resolved: a notice to everyone paged, once; the next firing pages again', async () => {
    const [fired] = await service.receive(TENANT, alert('firing'));
    clock.now += 6 * 60_000;
    assert.equal(await service.escalateDue(), 1, 'bo paged too');
    const outcomes = (await Promise.all([1, 2].map(() => service.receive(TENANT, alert('resolved'))))).flat();
    assert.deepEqual(outcomes.map((o) => o.result).sort(), ['duplicate', 'resolved']);
    await settle();
    const notices = published.filter((m) => m.body.startsWith('[RESOLVED]'));
    assert.deepEqual(notices.map((m) => m.to).sort(), [PHONES.ana, PHONES.bo]);
    const page = await service.page(TENANT, fired!.pageId!);
    assert.equal(page.status, 'resolved');
    assert.equal(page.escalateAt, null);
    assert.equal(page.deliveries.filter((d) => d.kind === 'resolved').length, 2);

    clock.now += 60_000;
    const [again] = await service.receive(TENANT, alert('firing'));
    assert.equal(again!.result, 'paged');
    assert.notEqual(again!.pageId, fired!.pageId);
  });

  test('a resolved alert nobody was paged for sends nothing', async () => {
    const [outcome] = await service.receive(TENANT, alert('resolved', { fingerprint: 'never-fired' }));
    assert.equal(outcome!.result, 'no_page');
    await settle();
    assert.equal(published.length, 0);
  });

  test('unacknowledged, a page goes to the next member every afterMinutes until the chain ends', async () => {
    const [fired] = await service.receive(TENANT, alert('firing'));
    clock.now += 4 * 60_000;
    assert.equal(await service.escalateDue(), 0, 'not yet');
    clock.now += 60_000;
    assert.equal(await service.escalateDue(), 1);
    clock.now += 5 * 60_000;
    assert.equal(await service.escalateDue(), 1);
    clock.now += 60 * 60_000;
    assert.equal(await service.escalateDue(), 0, 'everyone was paged');
    await settle();
    assert.deepEqual(
      published.map((m) => m.to),
      [PHONES.ana, PHONES.bo, PHONES.cy],
    );
    assert.match(published[1]!.body, /^\[ESCALATED critical\] .* - ana did not acknowledge Ack: page /);
    const page = await service.page(TENANT, fired!.pageId!);
    assert.deepEqual([page.level, page.escalateAt], [2, null]);
  });

  test('an acknowledged page escalates no further; acknowledging twice is harmless', async () => {
    const [fired] = await service.receive(TENANT, alert('firing'));
    clock.now += 2 * 60_000;
    const acknowledged = await service.acknowledge(TENANT, fired!.pageId!, 'ana');
    assert.deepEqual(
      [acknowledged.status, acknowledged.acknowledgedBy, acknowledged.acknowledgedAt],
      ['acknowledged', 'ana', clock.now],
    );
    assert.equal((await service.acknowledge(TENANT, fired!.pageId!, 'bo')).acknowledgedBy, 'ana');
    clock.now += 60 * 60_000;
    assert.equal(await service.escalateDue(), 0);
    await settle();
    assert.equal(published.length, 1);
  });

  test('acknowledging a resolved page conflicts; an unknown one is not found', async () => {
    const [fired] = await service.receive(TENANT, alert('firing'));
    await service.receive(TENANT, alert('resolved'));
    await assert.rejects(
      service.acknowledge(TENANT, fired!.pageId!, 'ana'),
      (err: unknown) => isPigeonError(err) && err.code === 'PIGEON_ERR_CONFLICT',
    );
    await assert.rejects(
      service.acknowledge('tenant-b', fired!.pageId!, 'ana'),
      (err: unknown) => isPigeonError(err) && err.code === 'PIGEON_ERR_NOT_FOUND',
    );
  });

  test('two api replicas sweeping at once escalate a page once', async () => {
    await service.receive(TENANT, alert('firing'));
    const other = makeService();
    clock.now += 5 * 60_000;
    const counts = await Promise.all([service.escalateDue(), other.escalateDue(), service.escalateDue()]);
    assert.equal(
      counts.reduce((a, b) => a + b, 0),
      1,
    );
    await settle();
    assert.equal(published.filter((m) => m.to === PHONES.bo).length, 1);
  });

  test('with the bus down the page goes straight to a provider, and the refused write is marked aborted', async () => {
    await bus.close();
    const [outcome] = await service.receive(TENANT, alert('firing'));
    assert.deepEqual([outcome!.result, outcome!.via], ['paged', 'direct']);
    const sent = await outbox(PHONES.ana);
    assert.equal(sent.length, 1);
    assert.match(sent[0]!.body, /^\[FIRING critical\]/);
    assert.equal(await cache.get(Markers.abort(sent[0]!.messageId)), '1', 'a late write of it is never sent');
    const page = await service.page(TENANT, outcome!.pageId!);
    assert.deepEqual([page.deliveries[0]!.via, page.deliveries[0]!.provider], ['direct', 'sim-direct']);
  });

  test('bus and provider both down: PAGE_FAILED, nothing kept, and the sender’s retry pages', async () => {
    await bus.close();
    await cache.set(simulatorFaultKey('sim-direct'), JSON.stringify({ fault: 'down' }));
    await assert.rejects(
      service.receive(TENANT, alert('firing')),
      (err: unknown) => isPigeonError(err) && err.code === 'PIGEON_ERR_PAGE_FAILED' && err.retriable,
    );
    assert.deepEqual(await store.findPages(TENANT, '1a30ba71cca2921f', ['open']), []);
    await cache.del(simulatorFaultKey('sim-direct'));
    // The simulator re-reads its fault at most every 250 ms.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const [outcome] = await service.receive(TENANT, alert('firing'));
    assert.deepEqual([outcome!.result, outcome!.via], ['paged', 'direct']);
  });

  test('a roster the alert names must exist, checked before anything is sent', async () => {
    await assert.rejects(
      service.receive(TENANT, {
        source: 'alertmanager',
        alerts: [
          alert('firing', { fingerprint: 'x' }).alerts[0]!,
          alert('firing', { roster: 'payments' }).alerts[0]!,
        ],
      }),
      (err: unknown) =>
        isPigeonError(err) && err.code === 'PIGEON_ERR_NOT_FOUND' && /"payments"/.test(err.message),
    );
    await settle();
    assert.equal(published.length, 0);
  });

  test('the receiver’s name picks a roster of that name; without a default roster nothing is paged', async () => {
    await store.putRoster({
      tenantId: TENANT,
      name: 'sms',
      roster: { ...ROSTER, name: 'sms', members: [{ name: 'dee', phone: '+14155550104' }] },
      updatedAt: T0,
    });
    const [outcome] = await service.receive(TENANT, alert('firing'));
    assert.equal((await service.page(TENANT, outcome!.pageId!)).roster, 'sms');
    await assert.rejects(
      service.receive('tenant-without-rosters', alert('firing')),
      (err: unknown) => isPigeonError(err) && err.code === 'PIGEON_ERR_NOT_FOUND',
    );
  });

  test('a cache outage does not stop a page (a duplicate is the lesser evil)', async () => {
    await cache.close();
    const [outcome] = await service.receive(TENANT, alert('firing', { fingerprint: 'cache-down' }));
    assert.equal(outcome!.result, 'paged');
  });
});
