/**
 * What an alert says, whatever carries it: severities, the kinds of notification in an incident's
 * life, and the notification itself. The incident engine builds these; alert channels deliver them.
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
