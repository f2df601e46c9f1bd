import type { RetryOptions } from 'kafkajs';

/**
 * kafkajs' retries for every client the bus makes (connects, metadata, group requests, produce).
 *
 * The ceiling is what decides how soon a broker that comes back is used again: while it is away
 * a client waits up to the ceiling between attempts, and kafkajs restarts a consumer that crashed
 * for want of a broker only after the last wait. At the former 2 s ceiling, a restarted broker
 * whose group coordinator was ready 0.4 s after its port answered had a consumer join at 0.9 s
 * and another at 1.8 s (bench/broker-restart-timeline.ts, the broker-restart test's bridge log).
 * A refused connection every 0.5 s per client costs nothing, so the ceiling is 0.5 s.
 *
 * The patience stays what it was: 8 retries of 0.1, 0.2, 0.4, then 0.5 s are 3.2 s before a call
 * gives up (the former 5 retries up to 2 s were 3.1 s), so a leader election is ridden out as long
 * as before and a publish to a dead broker fails as soon as before.
 */
export const KAFKA_RETRY: Readonly<
  Required<Pick<RetryOptions, 'initialRetryTime' | 'maxRetryTime' | 'retries'>>
> = Object.freeze({ initialRetryTime: 100, maxRetryTime: 500, retries: 8 });
