/**
 * The alert channel contract. A channel knows one receiver's payload format (Slack, DingTalk,
 * PagerDuty, SMS to on-call…) and nothing about rules or incidents; the incident engine decides
 * what to say and to whom, and a chain of channels decides where it goes when one is down.
 */

export const ALERT_SEVERITIES = ['critical', 'warning', 'info'] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];

/** What a notification is about in an incident's life. */
export const NOTIFICATION_KINDS = ['firing', 'reminder', 'escalation', 'resolved'] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

export interface AlertNotification {
  /** Stable per incident: receivers that deduplicate (PagerDuty dedup_key) key on it. */
  incidentId: string;
  ruleId: string;
  kind: NotificationKind;
  severity: AlertSeverity;
  /** One line, e.g. "Delivered rate of twilio-main to GB dropped to 41 % (baseline 96 %)". */
  title: string;
  /** A few lines of detail: value, threshold, window, what to check. */
  summary: string;
  /** Bounded labels (provider, country, class, service); never a phone number. */
  labels: Record<string, string>;
  startedAt: string;
  resolvedAt?: string;
  /** Where to look (dashboard, runbook) when configured. */
  url?: string;
}

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
