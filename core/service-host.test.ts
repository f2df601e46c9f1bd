import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConsumerStatus } from './bus/bus.ts';
import { MemoryBus } from './bus/memory-bus.ts';
import { Readiness } from './health.ts';
import { watchConsumers } from './service-host.ts';

/** A bus whose consumers are whatever the test says: readiness reads only `consumers()`. */
function busWith(consumers: ConsumerStatus[]) {
  const bus = new MemoryBus();
  return Object.assign(bus, { consumers: () => consumers });
}

test('readiness fails while any consumer is not consuming, and names it with its state', async () => {
  const consumers: ConsumerStatus[] = [
    { groupId: 'pigeon-api.inbound', topics: ['sms.inbound'], state: 'consuming' },
    { groupId: 'pigeon-api', topics: ['credential.changes'], state: 'reconnecting' },
  ];
  const readiness = new Readiness();
  watchConsumers(readiness, busWith(consumers));
  const down = await readiness.evaluate();
  assert.equal(down.ready, false);
  assert.equal(down.checks.consumers, false);
  assert.deepEqual(down.detail?.consumers, {
    groups: 2,
    notConsuming: [{ groupId: 'pigeon-api', topics: ['credential.changes'], state: 'reconnecting' }],
  });

  consumers[1]!.state = 'consuming';
  const up = await readiness.evaluate();
  assert.equal(up.ready, true);
  assert.deepEqual(up.detail?.consumers, { groups: 2, notConsuming: [] });
});

test('a bus subscription counts from the moment it is made until it is closed', async () => {
  const bus = new MemoryBus();
  await bus.ensureTopics([{ name: 't', partitions: 1 }]);
  const readiness = new Readiness();
  watchConsumers(readiness, bus);
  const subscription = await bus.subscribe({ groupId: 'g', topics: ['t'], handler: async () => {} });
  assert.deepEqual((await readiness.evaluate()).detail?.consumers, { groups: 1, notConsuming: [] });
  await subscription.close();
  assert.deepEqual((await readiness.evaluate()).detail?.consumers, { groups: 0, notConsuming: [] });
  await bus.close();
});
