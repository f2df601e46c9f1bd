/**
 * A member another process abandoned is removed from its consumer group on request, against the
 * real broker (core/bus/kafka-member-eviction.ts): the group's next join then has nobody to wait
 * for.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { evictMember, MemberEvictionError } from '../../core/bus/kafka-member-eviction.ts';
import { TEST_KAFKA_BROKERS, uniqueSuffix } from '../support/infra.ts';

test('removes a joined member, then reports it gone', async (t) => {
  const suffix = uniqueSuffix();
  const kafka = new Kafka({
    brokers: TEST_KAFKA_BROKERS,
    clientId: 'eviction-test',
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  t.after(() => admin.disconnect());
  const topic = `eviction-${suffix}`;
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
  t.after(() => admin.deleteTopics({ topics: [topic] }).catch(() => {}));
  const groupId = `eviction-${suffix}`;
  // A short long-poll: disconnect waits for the fetch in flight, 5 s at kafkajs's default.
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: 30_000,
    heartbeatInterval: 3_000,
    maxWaitTimeInMs: 100,
  });
  const joined = new Promise<string>((resolve) =>
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => resolve(payload.memberId)),
  );
  await consumer.connect();
  t.after(() => consumer.disconnect().catch(() => {}));
  await consumer.subscribe({ topics: [topic] });
  await consumer.run({ eachMessage: async () => {} });
  const memberId = await joined;

  const options = {
    brokers: TEST_KAFKA_BROKERS,
    clientId: 'eviction-test',
    groupId,
    memberId,
    timeoutMs: 3_000,
  };
  assert.equal(await evictMember(options), 'left');
  const [group] = (await admin.describeGroups([groupId])).groups;
  assert.ok(
    !group?.members.some((member) => member.memberId === memberId),
    'the member is no longer in the group',
  );
  assert.equal(await evictMember(options), 'gone');
});

test('reports a group the coordinator does not know as gone', async () => {
  const outcome = await evictMember({
    brokers: TEST_KAFKA_BROKERS,
    clientId: 'eviction-test',
    groupId: `eviction-none-${uniqueSuffix()}`,
    memberId: 'nobody',
    timeoutMs: 3_000,
  });
  assert.equal(outcome, 'gone');
});

test('with no broker answering it fails with a retriable error', async () => {
  await assert.rejects(
    evictMember({
      // Port 1 (tcpmux) has no listener on any machine we run on: refused at once.
      brokers: ['127.0.0.1:1'],
      clientId: 'eviction-test',
      groupId: 'any',
      memberId: 'any',
      timeoutMs: 3_000,
    }),
    (err: unknown) => err instanceof MemberEvictionError && err.retriable,
  );
});
