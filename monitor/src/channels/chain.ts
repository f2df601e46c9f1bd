import { Counter, Histogram, type Registry } from 'prom-client';
import type { Logger } from '../../../core/logger.ts';
import { type AlertNotification } from '../../../alerting/notification.ts';
import { ChannelError } from './channel.ts';
import type { ConfiguredChannel } from './registry.ts';

/** Log event names of alert delivery; the metrics below count the same outcomes. */
export const AlertEvents = {
  delivered: 'alert.delivered',
  channelFailed: 'alert.channel_failed',
  undelivered: 'alert.undelivered',
  unknownChannel: 'alert.unknown_channel',
} as const;

export type AttemptResult = 'sent' | 'failed' | 'timeout' | 'unknown';

export interface ChainAttempt {
  channel: string;
  type: string;
  result: AttemptResult;
  error?: string;
  retriable?: boolean;
}

/** Every channel of the chain failed; `attempts` says how each did. */
export class NotificationUndeliveredError extends ChannelError {
  readonly attempts: readonly ChainAttempt[];
  constructor(notification: AlertNotification, attempts: readonly ChainAttempt[]) {
    super(
      `notification ${notification.kind} of ${notification.incidentId} reached no channel: ${
        attempts.map((a) => `${a.channel} ${a.result}`).join(', ') || 'no channel configured'
      }`,
      // Retriable unless every channel is unknown or refused for good (or there is none).
      { retriable: attempts.some((a) => a.retriable !== false) },
    );
    this.name = 'NotificationUndeliveredError';
    this.attempts = attempts;
  }
}

/**
 * Delivers a notification through channels in order until one takes it. Each channel gets its own
 * timeout, after which its request is aborted and the next channel is tried: a receiver that hangs
 * must not hold a page up. A channel is not retried within the chain — the next channel is the
 * retry — and whoever asked can try the whole chain again later.
 */
export class ChannelChain {
  private readonly byName: Map<string, ConfiguredChannel>;
  private readonly attempts: Counter<'channel' | 'type' | 'result'>;
  private readonly duration: Histogram<'channel' | 'type'>;
  private readonly undelivered: Counter<'kind'>;

  constructor(
    private readonly channels: readonly ConfiguredChannel[],
    private readonly options: { registry: Registry; logger: Logger },
  ) {
    this.byName = new Map(channels.map((c) => [c.channel.name, c]));
    this.attempts = new Counter({
      name: 'pigeon_alert_notifications_total',
      help: 'Alert notifications offered to a channel, by channel, channel type and result (sent, failed, timeout, unknown)',
      labelNames: ['channel', 'type', 'result'],
      registers: [options.registry],
    });
    this.duration = new Histogram({
      name: 'pigeon_alert_notification_seconds',
      help: 'Time a channel took to take or refuse a notification',
      labelNames: ['channel', 'type'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [options.registry],
    });
    this.undelivered = new Counter({
      name: 'pigeon_alert_notifications_undelivered_total',
      help: 'Notifications that no channel of their chain took, by kind (firing, reminder, escalation, resolved)',
      labelNames: ['kind'],
      registers: [options.registry],
    });
  }

  /** Channel names in configuration order: the chain used when a notification names none. */
  names(): string[] {
    return this.channels.map((c) => c.channel.name);
  }

  /**
   * Offers the notification to the named channels in order (every configured channel when none is
   * named) and resolves with the one that took it; rejects with NotificationUndeliveredError.
   */
  async deliver(
    notification: AlertNotification,
    names: readonly string[] = [],
  ): Promise<{ channel: string; attempts: ChainAttempt[] }> {
    const order = names.length > 0 ? names : this.names();
    const attempts: ChainAttempt[] = [];
    const { logger } = this.options;
    for (const name of order) {
      const configured = this.byName.get(name);
      if (!configured) {
        this.attempts.inc({ channel: name, type: 'unknown', result: 'unknown' });
        logger.error({ channel: name, incidentId: notification.incidentId }, AlertEvents.unknownChannel);
        attempts.push({ channel: name, type: 'unknown', result: 'unknown', retriable: false });
        continue;
      }
      const { channel, timeoutMs } = configured;
      const attempt = await this.attempt(configured, notification);
      attempts.push(attempt);
      this.attempts.inc({ channel: channel.name, type: channel.type, result: attempt.result });
      if (attempt.result === 'sent') {
        logger.info(
          {
            channel: channel.name,
            type: channel.type,
            incidentId: notification.incidentId,
            kind: notification.kind,
            fallbacks: attempts.length - 1,
          },
          AlertEvents.delivered,
        );
        return { channel: channel.name, attempts };
      }
      logger.warn(
        {
          channel: channel.name,
          type: channel.type,
          incidentId: notification.incidentId,
          result: attempt.result,
          err: attempt.error,
          retriable: attempt.retriable,
          timeoutMs,
        },
        AlertEvents.channelFailed,
      );
    }
    this.undelivered.inc({ kind: notification.kind });
    const error = new NotificationUndeliveredError(notification, attempts);
    logger.error(
      { incidentId: notification.incidentId, kind: notification.kind, err: error.message },
      AlertEvents.undelivered,
    );
    throw error;
  }

  private async attempt(
    { channel, timeoutMs }: ConfiguredChannel,
    notification: AlertNotification,
  ): Promise<ChainAttempt> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    const end = this.duration.startTimer({ channel: channel.name, type: channel.type });
    // A channel that ignores its signal must still not hold the chain past its timeout.
    const aborted = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason as Error), {
        once: true,
      });
    });
    try {
      await Promise.race([channel.send(notification, controller.signal), aborted]);
      return { channel: channel.name, type: channel.type, result: 'sent' };
    } catch (err) {
      if (controller.signal.aborted) {
        return {
          channel: channel.name,
          type: channel.type,
          result: 'timeout',
          error: `timed out after ${timeoutMs} ms`,
          retriable: true,
        };
      }
      return {
        channel: channel.name,
        type: channel.type,
        result: 'failed',
        error: err instanceof Error ? err.message : String(err),
        // An error that is not a ChannelError is a bug in the channel; trying later may not help.
        retriable: err instanceof ChannelError ? err.retriable : false,
      };
    } finally {
      clearTimeout(timer);
      end();
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.channels.map(async (c) => c.channel.close?.()));
  }
}
