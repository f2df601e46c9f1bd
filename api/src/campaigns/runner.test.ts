/**
 * The campaign runner over the embedded implementations (SQLite store, in-process cache and bus):
 * real store, real send policy, real publisher, a clock the tests move and ticks they call.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import { Registry } from 'prom-client';
import { MemoryBus } from '../../../core/bus/memory-bus.ts';
import { MemoryCache } from '../../../core/cache/memory-cache.ts';
import { campaignCancelledKey } from '../../../core/campaign-cancel.ts';
import { loadConfig } from '../../../core/config.ts';
import { createLogger } from '../../../core/logger.ts';
import type { MessageRequested, MessageStatus } from '../../../core/message.ts';
import { TenantMessagingPolicyCache } from '../../../core/messaging-policy.ts';
import { SqliteStore } from '../../../core/store/sqlite-store.ts';
import type { Store } from '../../../core/store/store.ts';
import { topicSpecs } from '../../../core/runtime.ts';
import { Topics } from '../../../core/topics.ts';
import { storedCampaign } from '../../../test/support/campaigns.ts';
import { MessagePublisher } from '../publisher.ts';
import { SendPolicy } from '../send-policy/engine.ts';
import { sendPolicySettings } from '../send-policy/limits.ts';
import { TenantSendLimitsCache } from '../send-policy/tenant-limits.ts';
import { SenderDirectory } from '../senders.ts';
import { TenantOtpSettingsCache } from '../verify/tenant-settings.ts';
import { campaignMessageId } from './message-id.ts';
import { CampaignRunner, type CampaignRunnerSettings } from './runner.ts';

const logger = createLogger({ level: 'silent' });
const T0 = Date.parse('2026-12-07T01:00:00.000Z');
let dir: string;
let store: Store;
let cache: MemoryCache;
let bus: MemoryBus;
const published: MessageRequested[] = [];
const clock = { now: T0 };
let tenants = 0;

let stores = 0;

// A store of its own per test: the window and the lease are the whole store's.
beforeEach(async () => {
  store = new SqliteStore(join(dir, `pigeon-${++stores}.db`));
  await store.migrate();
});

afterEach(() => store.close());

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pigeon-runner-'));
  cache = new MemoryCache({ sweepIntervalMs: 0 });
  bus = new MemoryBus();
  await bus.ensureTopics(topicSpecs(1));
  await bus.subscribe({
    groupId: 'runner-test',
    topics: [Topics.sendBulk, Topics.sendHigh, Topics.sendNormal],
    handler: async (batch) => {
      for (const record of batch.records) published.push(JSON.parse(record.value) as MessageRequested);
    },
  });
});

after(async () => {
  await bus.close();
  await cache.close();
  rmSync(dir, { recursive: true, force: true });
});

function runner(holder: string, settings: Partial<CampaignRunnerSettings> = {}, target: Store = store) {
  const registry = new Registry();
  const policy = new SendPolicy({
    cache,
    logger,
    registry,
    settings: sendPolicySettings(loadConfig({})),
    tenantLimits: new TenantSendLimitsCache(target),
    otpSettings: new TenantOtpSettingsCache(target),
    messagingPolicy: new TenantMessagingPolicyCache(target),
    providers: () => [],
    now: () => clock.now,
  });
  return new CampaignRunner({
    store: target,
    cache,
    publisher: new MessagePublisher(bus, cache, logger, 5_000),
    policy,
    senders: new SenderDirectory(target),
    smartEncoding: () => false,
    logger,
    registry,
    publishTimeoutMs: 5_000,
    allowPrivateCallbackNetworks: false,
    holder,
    now: () => clock.now,
    settings: { chunkRows: 10, maxInFlight: 25, leaseTtlMs: 1_000, countsEveryMs: 0, ...settings },
  });
}

const campaign = (rows: number, number = (i: number) => `+1415555${String(1000 + i)}`) =>
  storedCampaign(store, { tenantId: `tenant-${++tenants}`, rows, number, now: clock.now });
const publishedOf = (id: string) => published.filter((m) => m.campaignId === id);
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

test('expands rows into bulk-lane messages with ids derived from the row, up to the in-flight window', async () => {
  const c = await campaign(60);
  const r = runner('a');
  await r.tick();
  await settle();
  const sent = publishedOf(c.id);
  // 25 fit in the window: two chunks of 10 and a cut one of 5; nothing is taken by a bridge here.
  assert.equal(sent.length, 25);
  const started = (await store.getCampaign(c.tenantId, c.id))!;
  assert.equal(started.state, 'running');
  assert.equal(started.nextRow, 25);
  assert.deepEqual(
    sent.map((m) => m.messageId),
    Array.from({ length: 25 }, (_, row) => campaignMessageId(c.id, 0, row, started.startedAt!)),
  );
  assert.ok(
    sent.every((m) => m.lane === 'bulk' && m.class === 'marketing' && m.acceptDeadline === m.expiresAt),
  );
  assert.equal(sent[2]!.body, `Hello row2, campaign ${c.id}. Reply STOP to opt out`);
  assert.equal(sent[3]!.body, `Hello there, campaign ${c.id}. Reply STOP to opt out`);
  clock.now += 100;
  await r.tick();
  await settle();
  assert.equal(publishedOf(c.id).length, 25, 'the window is full until the bridge takes some');
  await r.close();
});

test('a row the send policy refuses is recorded unsent and the rest go', async () => {
  // Rows 1 and 3 are the same number and the same text ("Hello there"): a duplicate (dedup window).
  const c = await campaign(4, (i) => `+1415555${String(2000 + (i === 3 ? 1 : i))}`);
  const r = runner('a');
  await r.tick();
  await settle();
  assert.equal(publishedOf(c.id).length, 3);
  assert.equal((await store.getCampaign(c.tenantId, c.id))!.nextRow, 4);
  assert.deepEqual(
    (await store.listUnsentRows(c.id, 0, { limit: 10 })).map((u) => [u.rowNo, u.code]),
    [[3, 'DUPLICATE']],
  );
  await r.close();
});

test('only the leaseholder expands; another runner takes over from the checkpoint once the lease expires', async () => {
  const c = await campaign(30);
  const a = runner('a', { maxInFlight: 10 });
  const b = runner('b', { maxInFlight: 10 });
  await a.tick();
  await b.tick();
  await settle();
  assert.equal(a.isLeader, true);
  assert.equal(b.isLeader, false);
  assert.equal(publishedOf(c.id).length, 10);
  // a stops renewing (killed): b takes the runner's lease, then the campaign's, after they expire.
  clock.now += 1_001;
  await b.tick();
  await settle();
  assert.equal(b.isLeader, true);
  const ids = publishedOf(c.id).map((m) => m.messageId);
  assert.equal(new Set(ids).size, ids.length, 'no row published twice');
  assert.equal((await store.getCampaign(c.tenantId, c.id))!.nextRow, ids.length);
  await b.close();
});

/** Stores `messages` as the persister would, with the status the bridge or a receipt gave them. */
async function persisted(messages: readonly MessageRequested[], status: MessageStatus): Promise<void> {
  await store.writeBatch({
    messages: messages.map((m) => ({
      id: m.messageId,
      status,
      updatedAt: clock.now,
      tenantId: m.tenantId,
      recipient: m.to,
      campaignId: m.campaignId!,
    })),
    events: [],
  });
}

test('the window refills as the store shows messages taken, and the run completes once all are settled', async () => {
  const c = await campaign(30);
  const r = runner('a');
  await r.tick();
  await settle();
  const first = publishedOf(c.id);
  assert.equal(first.length, 25);
  // The bridge took 20 (a receipt came for each); 5 are stored and still queued.
  await persisted(first.slice(0, 20), 'delivered');
  await persisted(first.slice(20), 'queued');
  clock.now += 100;
  await r.tick();
  await settle();
  const all = publishedOf(c.id);
  assert.equal(all.length, 30, 'the 20 taken made room for the last 5 rows');
  clock.now += 100;
  await r.tick();
  assert.equal((await store.getCampaign(c.tenantId, c.id))!.state, 'running', 'the last 5 not stored yet');
  await persisted(all.slice(20), 'submitted');
  clock.now += 100;
  await r.tick();
  assert.equal((await store.getCampaign(c.tenantId, c.id))!.state, 'running', 'receipts to come');
  await persisted(all.slice(20), 'delivered');
  clock.now += 100;
  await r.tick();
  assert.equal((await store.getCampaign(c.tenantId, c.id))!.state, 'completed');
  await r.close();
});

test('a runner taking over counts what its predecessor published and the store does not hold yet', async () => {
  const c = await campaign(30);
  const a = runner('a', { maxInFlight: 10 });
  await a.tick();
  await settle();
  const first = publishedOf(c.id);
  assert.equal(first.length, 10);
  // a is killed; b takes over with the persister behind: none of a's 10 is stored yet.
  clock.now += 1_001;
  const b = runner('b', { maxInFlight: 10 });
  await b.tick();
  await settle();
  assert.equal(publishedOf(c.id).length, 10, "a's 10 still fill the window");
  await persisted(first.slice(0, 6), 'delivered');
  clock.now += 100;
  await b.tick();
  await settle();
  assert.equal(publishedOf(c.id).length, 16, '6 taken, 6 more released');
  await b.close();
  await a.close();
});

test('an idle leader ticking keeps its lease for as long as it ticks; a standby takes it within one lease of the last tick', async () => {
  const a = runner('a');
  const b = runner('b');
  await a.tick();
  // Three leases' worth of ticks, 200 ms apart, with the standby trying after each one.
  for (let step = 0; step < 15; step++) {
    clock.now += 200;
    await a.tick();
    await b.tick();
    assert.equal(a.isLeader, true, `a leads at step ${step}`);
    assert.equal(b.isLeader, false, `b waits at step ${step}`);
  }
  const lastTick = clock.now;
  // a stops ticking (killed): its lease ends at most one lease after its last tick.
  clock.now = lastTick + 1_000;
  await b.tick();
  assert.equal(b.isLeader, true);
  await a.close();
  await b.close();
});

test('a chunk published but not checkpointed is published again with the same ids', async () => {
  const c = await campaign(10);
  let failOnce = true;
  // The store loses the first checkpoint write, as a runner killed right after publishing would.
  const flaky = new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'advanceCampaign' && failOnce) {
        return async () => {
          failOnce = false;
          throw new Error('killed before the checkpoint');
        };
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  const first = runner('first', {}, flaky);
  await assert.rejects(first.tick(), /killed before the checkpoint/);
  await settle();
  assert.equal((await store.getCampaign(c.tenantId, c.id))!.nextRow, 0);
  const before = publishedOf(c.id).map((m) => m.messageId);
  assert.equal(before.length, 10);
  clock.now += 1_001;
  const second = runner('second');
  await second.tick();
  await settle();
  const all = publishedOf(c.id);
  assert.equal(all.length, 20);
  assert.deepEqual(
    all.slice(10).map((m) => [m.messageId, m.id]),
    all.slice(0, 10).map((m) => [m.messageId, m.id]),
    'same message and event ids',
  );
  assert.equal((await store.getCampaign(c.tenantId, c.id))!.nextRow, 10);
  await second.close();
  await first.close();
});

test('a campaign cancelled between ticks is marked for the bridge and expanded no further', async () => {
  const c = await campaign(40);
  const r = runner('a', { maxInFlight: 10 });
  await r.tick();
  await settle();
  assert.ok(await store.transitionCampaign(c.tenantId, c.id, ['running'], 'cancelled', clock.now));
  clock.now += 100;
  await r.tick();
  await settle();
  assert.equal(await cache.get(campaignCancelledKey(c.id)), '1');
  assert.equal(publishedOf(c.id).length, 10);
  assert.equal((await store.getCampaign(c.tenantId, c.id))!.leaseOwner, null);
  await r.close();
});
