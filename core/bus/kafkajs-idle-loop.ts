import { createRequire } from 'node:module';

/**
 * kafkajs 2.2.4's request queue keeps a 1 ms timer running forever on every broker connection
 * (tulios/kafkajs#1556, #1704; the fix, PR #1667, was never released): after each check of its
 * pending requests it schedules the next one `throttledUntil - Date.now()` ms away, and with no
 * throttle `throttledUntil` is -1, so the delay is a large negative number, which Node runs after
 * 1 ms (and, since Node 24, warns about: `TimeoutNegativeWarning`). The check finds nothing and
 * schedules itself again. An idle api process spent about 9 % of a core on it, and under load the
 * timers ran between requests all the same.
 *
 * The check only has work when requests are pending, which happens when the broker throttles the
 * client or the in-flight limit is reached; the first schedules its check when the throttle ends
 * (kept below), the second is checked when an in-flight request completes (kafkajs does that in
 * `fulfillRequest`). So with nothing pending and no throttle, no check is scheduled. Everything
 * else is kafkajs' own code, unchanged.
 */

/** The part of kafkajs' RequestQueue this touches. */
interface RequestQueue {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
}

/** kafkajs' own interval for pending requests while not throttled (requestQueue/index.js). */
const CHECK_PENDING_REQUESTS_INTERVAL_MS = 10;
const PATCHED = Symbol.for('pigeon.kafkajs.idle-loop-fixed');

const require = createRequire(import.meta.url);
const RequestQueueClass = require('kafkajs/src/network/requestQueue/index.js') as {
  prototype: RequestQueue & { [PATCHED]?: true };
};

/** Installs the fix on kafkajs' RequestQueue; idempotent. Called by the Kafka bus on load. */
export function fixKafkajsIdleLoop(): void {
  const prototype = RequestQueueClass.prototype;
  if (prototype[PATCHED]) return;
  prototype.scheduleCheckPendingRequests = function scheduleCheckPendingRequests(this: RequestQueue) {
    if (this.throttleCheckTimeoutId) return;
    let scheduleAt = this.throttledUntil - Date.now();
    if (this.pending.length > 0) {
      scheduleAt = scheduleAt > 0 ? scheduleAt : CHECK_PENDING_REQUESTS_INTERVAL_MS;
    } else if (scheduleAt <= 0) {
      return;
    }
    this.throttleCheckTimeoutId = setTimeout(() => {
      this.throttleCheckTimeoutId = null;
      this.checkPendingRequests();
    }, scheduleAt);
  };
  prototype[PATCHED] = true;
}
