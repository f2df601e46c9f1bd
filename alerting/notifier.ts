/**
 * Where the incident engine hands its notifications. The alert channels implement it
 * (monitor/src/channels/ `createNotifier`: a chain over Slack, DingTalk, PagerDuty, SMS to on-call…);
 * the engine knows nothing of any channel.
 */
import type { Logger } from '../core/logger.ts';
import type { AlertNotification } from './notification.ts';

export interface Notifier {
  /**
   * Delivers one notification through `channels`, a fallback chain tried in order until one takes
   * it (empty: every configured channel, in configuration order). Resolves once one did; rejects
   * when none did, with `retriable: false` on the error when trying again cannot help (every
   * channel unknown or refusing for good). The engine calls it once per escalation step and kind
   * and retries a rejection later with backoff, so receivers should deduplicate on `incidentId`
   * and `kind` where they can (PagerDuty's dedup_key).
   */
  notify(notification: AlertNotification, channels: readonly string[]): Promise<void>;
}

/**
 * The Notifier of a monitor with no alert channels configured: notifications are only logged
 * (`alert.notification`), so incidents are still visible in the logs and the admin API.
 */
export class LoggingNotifier implements Notifier {
  constructor(private readonly logger: Logger) {}

  async notify(notification: AlertNotification, channels: readonly string[]): Promise<void> {
    this.logger.warn({ ...notification, channels }, 'alert.notification');
  }
}
