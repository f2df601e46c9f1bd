import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { FIRST_SEND_PASS } from '../../core/abort-marker.ts';
import type { ConsumedRecord } from '../../core/bus/bus.ts';
import { MemoryBus } from '../../core/bus/memory-bus.ts';
import { MemoryCache } from '../../core/cache/memory-cache.ts';
import { isPigeonError } from '../../core/errors.ts';
import { newId } from '../../core/ids.ts';
import { Markers } from '../../core/markers.ts';
import { createLogger } from '../../core/logger.ts';
import type { MessageRequested } from '../../core/message.ts';
import { isSealed, openBody, sealBody } from '../../core/sealed-body.ts';
import { topicSpecs } from '../../core/runtime.ts';
import { LANE_TOPICS } from '../../core/topics.ts';
import { waitFor } from '../../test/support/wait.ts';
import { buildMessageRequested } from '../../core/message-request.ts';
import { MessagePublisher, PublishPartlyRefused } from './publisher.ts';

const logger = createLogger({ level: 'silent' });

async function published(key: Buffer | undefined, events: MessageRequested[]): Promise<MessageRequested[]> {
  const bus = new MemoryBus({ logger });
  await bus.ensureTopics(topicSpecs(1));
  const seen: ConsumedRecord[] = [];
  const subscription = await bus.subscribe({
    groupId: 'reader',
    topics: Object.values(LANE_TOPICS),
    handler: async (batch) => {
      seen.push(...batch.records);
    },
  });
  await new MessagePublisher(bus, new MemoryCache(), logger, 1_000, key).publish(events);
  await waitFor(() => seen.length >= events.length, 2_000, 'records read back');
  await subscription.close();
  await bus.close();
  return seen.map((r) => JSON.parse(r.value) as MessageRequested);
}

const message = (body: string, messageClass: 'otp' | 'transactional') =>
  buildMessageRequested(
    { to: '+14155550123', body, class: messageClass },
    { tenantId: 't', messageId: newId(), now: Date.now(), publishTimeoutMs: 2_000 },
  );

test('with the body key, an otp text leaves sealed and opens to the same text; other classes stay as they are', async () => {
  const key = randomBytes(32);
  const otp = message('Your code is 482913', 'otp');
  const notice = message('Your parcel is on its way', 'transactional');

  const [sentOtp, sentNotice] = await published(key, [otp, notice]).then((all) => [
    all.find((m) => m.messageId === otp.messageId)!,
    all.find((m) => m.messageId === notice.messageId)!,
  ]);

  assert.ok(isSealed(sentOtp!.body));
  assert.ok(!sentOtp!.body.includes('482913'));
  assert.equal(openBody(sentOtp!.body, key), 'Your code is 482913');
  assert.deepEqual({ ...sentOtp, body: otp.body }, otp, 'nothing else changes');
  assert.deepEqual(sentNotice, notice);
});

test('a body sealed already (a verification) is not sealed twice; without a key nothing is sealed', async () => {
  const key = randomBytes(32);
  const sealed = { ...message('x', 'otp'), body: sealBody('Your code is 111222', key) };
  const [again] = await published(key, [sealed]);
  assert.equal(openBody(again!.body, key), 'Your code is 111222');

  const [plain] = await published(undefined, [message('Your code is 333444', 'otp')]);
  assert.equal(plain!.body, 'Your code is 333444');
});

test('a request that spent its publish timeout before publishing is refused (503), its message marked aborted and never published', async () => {
  const bus = new MemoryBus({ logger });
  await bus.ensureTopics(topicSpecs(1));
  const seen: ConsumedRecord[] = [];
  const subscription = await bus.subscribe({
    groupId: 'reader',
    topics: Object.values(LANE_TOPICS),
    handler: async (batch) => {
      seen.push(...batch.records);
    },
  });
  const cache = new MemoryCache();
  const publisher = new MessagePublisher(bus, cache, logger, 1_000);
  const late = message('Your parcel is on its way', 'transactional');
  await assert.rejects(publisher.publish([late], { spentMs: 1_000 }), (err: unknown) => {
    assert.ok(isPigeonError(err));
    assert.equal(err.code, 'PIGEON_ERR_BUS_UNAVAILABLE');
    return true;
  });
  assert.equal(await cache.get(Markers.abort(late.messageId)), '1');
  const onTime = message('Your parcel arrived', 'transactional');
  await publisher.publish([onTime], { spentMs: 400 });
  await waitFor(() => seen.length >= 1, 2_000, 'the message on time read back');
  assert.deepEqual(
    seen.map((r) => (JSON.parse(r.value) as MessageRequested).messageId),
    [onTime.messageId],
  );
  await subscription.close();
  await bus.close();
});

test('a publish not acknowledged in time refuses only the messages no bridge claimed; claimed ones are on their way', async () => {
  // A bus that never acknowledges: the record may still land, as with a broker slow to answer.
  const silent = { publish: () => new Promise<void>(() => undefined) } as unknown as MemoryBus;
  const cache = new MemoryCache();
  const publisher = new MessagePublisher(silent, cache, logger, 50);
  const [claimed, unclaimed] = [message('first', 'transactional'), message('second', 'transactional')];
  // What a bridge's claim on a first send leaves (supplier-bridge/src/dispatch/pass-claim.ts).
  await cache.set(Markers.attempt(claimed.messageId, FIRST_SEND_PASS), '1');

  await assert.rejects(publisher.publish([claimed, unclaimed]), (err: unknown) => {
    assert.ok(err instanceof PublishPartlyRefused);
    assert.equal(err.code, 'PIGEON_ERR_BUS_UNAVAILABLE');
    assert.deepEqual([...err.inFlight], [claimed.messageId]);
    return true;
  });
  assert.equal(await cache.get(Markers.abort(claimed.messageId)), undefined);
  assert.equal(await cache.get(Markers.abort(unclaimed.messageId)), '1');

  // Every message claimed: the publish is a success after all.
  await publisher.publish([claimed]);
  assert.equal(await cache.get(Markers.abort(claimed.messageId)), undefined);
});

test('with a high-lane producer, an otp is acknowledged while the bulk producer is stuck on a campaign chunk', async () => {
  const bus = new MemoryBus({ logger });
  await bus.ensureTopics(topicSpecs(1));
  // The shared producer holds every publish, as one waiting behind a big bulk produce request.
  const stuck = { publish: () => new Promise<void>(() => undefined) } as unknown as MemoryBus;
  const publisher = new MessagePublisher(stuck, new MemoryCache(), logger, 1_000, undefined, bus);
  const seen: ConsumedRecord[] = [];
  const subscription = await bus.subscribe({
    groupId: 'reader',
    topics: [LANE_TOPICS.high],
    handler: async (batch) => {
      seen.push(...batch.records);
    },
  });
  const bulk = { ...message('Spring sale', 'transactional'), lane: 'bulk' as const };
  const otp = message('Your code is 482913', 'otp');
  assert.equal(otp.lane, 'high');

  let bulkSettled = false;
  const bulkSent = publisher.publish([bulk], { abortOnFailure: false }).then(
    () => 'acknowledged',
    () => 'refused',
  );
  void bulkSent.finally(() => (bulkSettled = true));
  await publisher.publish([otp]);

  assert.equal(bulkSettled, false, 'the bulk publish still waits on its own producer');
  await waitFor(() => seen.length >= 1, 2_000, 'the otp read back from the high lane');
  assert.equal((JSON.parse(seen[0]!.value) as MessageRequested).messageId, otp.messageId);
  assert.equal(await bulkSent, 'refused');
  await subscription.close();
  await bus.close();
});
