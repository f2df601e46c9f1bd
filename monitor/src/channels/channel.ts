/**
 * The alert channel contract. A channel knows one receiver's payload format (Slack, DingTalk,
 * PagerDuty, SMS to on-call…) and nothing about rules or incidents; the incident engine decides
 * what to say and to whom, and a chain of channels decides where it goes when one is down.
 */
import type { AlertNotification } from '../../../alerting/notification.ts';

export class ChannelError extends Error {
  /** Whether trying the same channel again later may work (5xx, timeout) or not (bad URL, 4xx). */
  readonly retriable: boolean;
  constructor(message: string, options: { retriable: boolean; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = 'ChannelError';
    this.retriable = options.retriable;
  }
}

export interface AlertChannel {
  /** Configured name, e.g. `ops-slack`. */
  readonly name: string;
  /** Channel type: slack, dingtalk, wecom, feishu, pagerduty, webhook, email, sms. */
  readonly type: string;
  /** Delivers one notification; rejects with a ChannelError. Must abort its request when `signal` aborts. */
  send(notification: AlertNotification, signal: AbortSignal): Promise<void>;
  close?(): Promise<void>;
}
