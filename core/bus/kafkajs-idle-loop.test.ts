import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { fixKafkajsIdleLoop } from './kafkajs-idle-loop.ts';

interface Queue {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
  destroy(): void;
}

const require = createRequire(import.meta.url);
const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as new (options: object) => Queue;
const silent = { debug() {}, info() {}, warn() {}, error() {} };
const newQueue = () =>
  new RequestQueue({
    maxInFlightRequests: null,
    requestTimeout: 30_000,
    enforceRequestTimeout: true,
    clientId: 'test',
    broker: 'localhost:9092',
    logger: silent,
  });

fixKafkajsIdleLoop();

test('a request queue with nothing pending and no throttle schedules no check', () => {
  const queue = newQueue();
  queue.checkPendingRequests();
  assert.equal(queue.throttleCheckTimeoutId, null);
  queue.destroy();
});

test('a request pending behind a throttle is sent once the throttle ends', async () => {
  const queue = newQueue();
  queue.throttledUntil = Date.now() + 20;
  const sent = new Promise<void>((resolve) => {
    queue.pending.push({ correlationId: 1, expectResponse: true, send: resolve });
  });
  queue.scheduleCheckPendingRequests();
  assert.notEqual(queue.throttleCheckTimeoutId, null);
  await sent;
  assert.equal(queue.pending.length, 0);
  queue.destroy();
});

test('a throttle with nothing pending still schedules its check, as kafkajs does', () => {
  const queue = newQueue();
  queue.throttledUntil = Date.now() + 60_000;
  queue.scheduleCheckPendingRequests();
  assert.notEqual(queue.throttleCheckTimeoutId, null);
  queue.destroy();
});

test('installing the fix twice leaves one fix', () => {
  const { prototype } = RequestQueue as unknown as { prototype: Record<string, unknown> };
  const installed = prototype.scheduleCheckPendingRequests;
  fixKafkajsIdleLoop();
  assert.equal(prototype.scheduleCheckPendingRequests, installed);
});
