import { setTimeout as sleep } from 'node:timers/promises';
import { ABORT_UNLESS_CLAIMED, abortUnlessClaimedCall } from '../../core/abort-marker.ts';
import type { Bus } from '../../core/bus/bus.ts';
import type { Cache } from '../../core/cache/cache.ts';
import { PigeonError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { MessageRequested } from '../../core/message.ts';
import { isSealed, sealBody } from '../../core/sealed-body.ts';
import { LANE_TOPICS } from '../../core/topics.ts';

const RETRY_AFTER_SECONDS = 5;

/**
 * Publishes accepted messages and resolves only when the bus acknowledged them. When the bus does
 * not acknowledge within the publish timeout, the caller gets PIGEON_ERR_BUS_UNAVAILABLE (503) and
 * the messages are marked aborted, so a write that lands late is never sent: the bridge refuses
 * records appended after their `acceptDeadline` and records with an abort marker. A message a
 * bridge claimed before the mark is not refused (core/abort-marker.ts). A message whose mark
 * cannot be written either is answered by what the produce does next, or, when that does not come
 * in time, PublishOutcomeUnknown (504): a 503 is only given when it is true.
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
    /**
     * The high lane's producer, when given (a second Kafka bus): OTP and alert records then never
     * wait in the produce queue behind the campaign runner's 500-record chunks on `bus`. Only the
     * high lane's topic goes through it, so one topic's records keep one producer and their order.
     */
    private readonly urgentBus?: Pick<Bus, 'publish'>,
  ) {}

  /** The producer a lane's topic goes through. */
  private busFor(topic: string): Pick<Bus, 'publish'> {
    return this.urgentBus !== undefined && topic === LANE_TOPICS.high ? this.urgentBus : this.bus;
  }

  private serialize(event: MessageRequested): string {
    if (!this.otpBodyKey || event.class !== 'otp' || isSealed(event.body)) return JSON.stringify(event);
    return JSON.stringify({ ...event, body: sealBody(event.body, this.otpBodyKey) });
  }

  /**
   * `spentMs`: how much of the publish timeout already went by since the messages were built (their
   * `acceptDeadline` is their `now` plus the timeout). The bridge refuses a record appended after
   * that deadline, so the wait here ends there too: under overload, time the request spent before
   * publishing (the send policy's script, lookups) must not let a 202 name a message the bridge
   * then refuses as late.
   *
   * `abortOnFailure: false` is for a publisher that will publish the same message ids again (the
   * campaign runner): it answered no client, so there is no 503 to keep true, and an abort marker
   * would make the bridge refuse the retry.
   */
  async publish(
    events: readonly MessageRequested[],
    { spentMs = 0, abortOnFailure = true }: { spentMs?: number; abortOnFailure?: boolean } = {},
  ): Promise<void> {
    const waitMs = this.timeoutMs - spentMs;
    if (!(waitMs > 0)) return this.giveUp(events, 'timeout', undefined, abortOnFailure, undefined);
    const writes = this.write(events);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), waitMs);
    });
    let failure: unknown;
    const result = await Promise.race([writes.then(() => 'ok' as const), timeout]).catch((err: unknown) => {
      failure = err;
      return 'error' as const;
    });
    clearTimeout(timer);
    if (result === 'ok') return;
    writes.catch(() => undefined);
    return this.giveUp(events, result, failure, abortOnFailure, writes);
  }

  /** Publishes the messages to their lanes' topics: one bus publish per topic. */
  private write(events: readonly MessageRequested[]): Promise<unknown> {
    const record = (e: MessageRequested) => ({ key: e.to, value: this.serialize(e) });
    const topic = events.length > 0 ? LANE_TOPICS[events[0]!.lane] : undefined;
    // A single send, and most batches, go to one lane: no grouping to build per request.
    if (topic !== undefined && events.every((e) => LANE_TOPICS[e.lane] === topic)) {
      return this.busFor(topic).publish(topic, events.map(record));
    }
    const byTopic = new Map<string, MessageRequested[]>();
    for (const event of events) {
      const lane = LANE_TOPICS[event.lane];
      const list = byTopic.get(lane);
      if (list) list.push(event);
      else byTopic.set(lane, [event]);
    }
    return Promise.all([...byTopic].map(([lane, list]) => this.busFor(lane).publish(lane, list.map(record))));
  }

  /**
   * Marks the messages aborted, so a write that lands late is never sent, and refuses them (503).
   * A message a bridge already claimed is on its way and cannot be refused: when all of them are,
   * the publish succeeded after all; when only some are, PublishPartlyRefused names those.
   *
   * A message whose mark could not be written (the cache is unreachable too) has no such guarantee:
   * if its record landed in time, a bridge sends it once it can read the cache again. For those the
   * answer waits, at most another publish timeout, for whichever comes first: the produce's own
   * acknowledgement (it landed: on its way), or a mark that lands on a retry (refused, or claimed).
   * What is still open then is PublishOutcomeUnknown: neither 503 nor 202 would be true.
   * `writes` is undefined when nothing was written: then nothing can land and a 503 holds as is.
   */
  private async giveUp(
    events: readonly MessageRequested[],
    result: 'timeout' | 'error',
    failure: unknown,
    abortOnFailure: boolean,
    writes: Promise<unknown> | undefined,
  ): Promise<void> {
    const inFlight = new Set<string>();
    const unknown = new Set<string>();
    if (abortOnFailure) {
      const marks = await Promise.all(events.map((e) => this.markAborted(e.messageId)));
      events.forEach((e, i) => {
        if (marks[i] === 'claimed') inFlight.add(e.messageId);
        else if (marks[i] === 'unmarked' && writes !== undefined) unknown.add(e.messageId);
      });
      if (unknown.size > 0) await this.settle(writes!, unknown, inFlight);
    }
    this.logger.warn(
      {
        count: events.length,
        inFlight: inFlight.size,
        unknown: unknown.size,
        result,
        err: (failure as Error | undefined)?.message,
      },
      'api.publish_failed',
    );
    if (inFlight.size === events.length) return;
    if (unknown.size > 0) throw new PublishOutcomeUnknown(inFlight, unknown, failure);
    const options = { retryAfterSeconds: RETRY_AFTER_SECONDS, cause: failure };
    if (inFlight.size > 0) throw new PublishPartlyRefused(inFlight, options);
    throw new PigeonError('PIGEON_ERR_BUS_UNAVAILABLE', UNACKNOWLEDGED, options);
  }

  /** ABORT_UNLESS_CLAIMED for one message: 'unmarked' when the cache did not answer. */
  private async markAborted(messageId: string): Promise<'aborted' | 'claimed' | 'unmarked'> {
    const { keys, args } = abortUnlessClaimedCall(messageId);
    try {
      return (await this.cache.runScript(ABORT_UNLESS_CLAIMED, keys, args)) === 1 ? 'aborted' : 'claimed';
    } catch {
      return 'unmarked';
    }
  }

  /**
   * Waits, about one publish timeout at most, until each of `unknown` has an outcome, moving it out
   * of the set: dropped when a retried mark lands (refused, never sent), into `inFlight` when a
   * retried mark finds a bridge's claim, or when the produce is acknowledged (every record landed).
   * A mark is definite whenever it answers, so one in progress is awaited (the cache bounds it by
   * its command timeout) before the acknowledgement counts. A produce that fails settles nothing:
   * the bus may have written a request whose answer it lost.
   */
  private async settle(writes: Promise<unknown>, unknown: Set<string>, inFlight: Set<string>): Promise<void> {
    let landed = false;
    let expired = false;
    let timer: NodeJS.Timeout | undefined;
    const stop = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        expired = true;
        resolve();
      }, this.timeoutMs);
      writes.then(
        () => {
          landed = true;
          resolve();
        },
        () => undefined,
      );
    });
    try {
      while (unknown.size > 0 && !landed && !expired) {
        await Promise.race([stop, sleep(MARK_RETRY_MS, undefined, { ref: false })]);
        if (landed || expired) break;
        const ids = [...unknown];
        const marks = await Promise.all(ids.map((id) => this.markAborted(id)));
        ids.forEach((id, i) => {
          if (marks[i] === 'unmarked') return;
          unknown.delete(id);
          if (marks[i] === 'claimed') inFlight.add(id);
        });
      }
    } finally {
      clearTimeout(timer);
    }
    if (!landed) return;
    for (const id of unknown) inFlight.add(id);
    unknown.clear();
  }
}

/**
 * How often a mark the cache refused is tried again while the answer waits: the cache fails fast
 * while it is unreachable (core/cache/redis-cache.ts), so this paces the retries, not their wait.
 */
const MARK_RETRY_MS = 200;

const UNACKNOWLEDGED = 'The message bus did not acknowledge the message; retry later';

/**
 * A publish of several messages that was not acknowledged in time, of which a bridge had already
 * claimed some (`inFlight`): those are being sent, the rest are refused and never will be.
 */
export class PublishPartlyRefused extends PigeonError {
  constructor(
    readonly inFlight: ReadonlySet<string>,
    options: { retryAfterSeconds: number; cause: unknown },
  ) {
    super('PIGEON_ERR_BUS_UNAVAILABLE', UNACKNOWLEDGED, options);
  }
}

/**
 * A publish that was not acknowledged in time, whose abort mark could not be written either, and
 * whose produce did not settle within the wait that followed: the records of `unknown` may have
 * landed and then be sent, or may never. Not a 503, which promises "never sent"; the client looks
 * the message up (GET /v1/messages/:id) rather than sending it again. `inFlight` as for
 * PublishPartlyRefused; the rest of the messages are refused.
 */
export class PublishOutcomeUnknown extends PigeonError {
  constructor(
    readonly inFlight: ReadonlySet<string>,
    readonly unknown: ReadonlySet<string>,
    cause: unknown,
  ) {
    const ids = [...unknown];
    super(
      'PIGEON_ERR_OUTCOME_UNKNOWN',
      `The message bus did not acknowledge ${ids.length === 1 ? `message ${ids[0]}` : `${ids.length} messages`} and the cache could not mark ${ids.length === 1 ? 'it' : 'them'} aborted: ${ids.length === 1 ? 'it' : 'each'} may or may not be sent. Look it up with GET /v1/messages/{id} before sending again`,
      { cause, ...(ids.length === 1 ? { messageId: ids[0]! } : {}) },
    );
    this.refused = new PigeonError('PIGEON_ERR_BUS_UNAVAILABLE', UNACKNOWLEDGED, {
      retryAfterSeconds: RETRY_AFTER_SECONDS,
      cause,
    });
  }

  /** What the messages neither in flight nor unknown are refused with. */
  readonly refused: PigeonError;
}
