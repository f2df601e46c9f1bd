import type { Bus } from '../../core/bus/bus.ts';
import type { Cache } from '../../core/cache/cache.ts';
import { PigeonError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { MARKER_TTL_MS, Markers } from '../../core/markers.ts';
import type { MessageRequested } from '../../core/message.ts';
import { isSealed, sealBody } from '../../core/sealed-body.ts';
import { LANE_TOPICS } from '../../core/topics.ts';

const RETRY_AFTER_SECONDS = 5;

/**
 * Publishes accepted messages and resolves only when the bus acknowledged them. When the bus does
 * not acknowledge within the publish timeout, the caller gets PIGEON_ERR_BUS_UNAVAILABLE (503) and
 * the messages are marked aborted, so a write that lands late is never sent: the bridge refuses
 * records appended after their `acceptDeadline` and records with an abort marker.
 */
export class MessagePublisher {
  constructor(
    private readonly bus: Bus,
    private readonly cache: Cache,
    private readonly logger: Logger,
    private readonly timeoutMs: number,
    /**
     * PIGEON_BODY_KEY when the bus is Kafka: the text of every `otp` message is sealed before it
     * leaves, so a code sent through /v1/messages is as unreadable on the topics as one made by
     * /v1/verifications (whose bodies arrive sealed already).
     */
    private readonly otpBodyKey?: Buffer,
  ) {}

  private serialize(event: MessageRequested): string {
    if (!this.otpBodyKey || event.class !== 'otp' || isSealed(event.body)) return JSON.stringify(event);
    return JSON.stringify({ ...event, body: sealBody(event.body, this.otpBodyKey) });
  }

  /**
   * `abortOnFailure: false` is for a publisher that will publish the same message ids again (the
   * campaign runner): it answered no client, so there is no 503 to keep true, and an abort marker
   * would make the bridge refuse the retry.
   */
  async publish(
    events: readonly MessageRequested[],
    options: { abortOnFailure?: boolean } = {},
  ): Promise<void> {
    const byTopic = new Map<string, MessageRequested[]>();
    for (const event of events) {
      const topic = LANE_TOPICS[event.lane];
      const list = byTopic.get(topic);
      if (list) list.push(event);
      else byTopic.set(topic, [event]);
    }
    const writes = Promise.all(
      [...byTopic].map(([topic, list]) =>
        this.bus.publish(
          topic,
          list.map((e) => ({ key: e.to, value: this.serialize(e) })),
        ),
      ),
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.timeoutMs);
    });
    let failure: unknown;
    const result = await Promise.race([writes.then(() => 'ok' as const), timeout]).catch((err: unknown) => {
      failure = err;
      return 'error' as const;
    });
    clearTimeout(timer);
    if (result === 'ok') return;
    writes.catch(() => undefined);
    this.logger.warn(
      { count: events.length, result, err: (failure as Error | undefined)?.message },
      'api.publish_failed',
    );
    if (options.abortOnFailure === false) throw busUnavailable(failure);
    await Promise.all(
      events.map((e) =>
        this.cache.set(Markers.abort(e.messageId), '1', { ttlMs: MARKER_TTL_MS }).catch(() => false),
      ),
    );
    throw busUnavailable(failure);
  }
}

function busUnavailable(cause: unknown): PigeonError {
  return new PigeonError(
    'PIGEON_ERR_BUS_UNAVAILABLE',
    'The message bus did not acknowledge the message; retry later',
    {
      retryAfterSeconds: RETRY_AFTER_SECONDS,
      cause,
    },
  );
}
