import type { AlertNotification } from '../../../alerting/notification.ts';
import type { AlertChannel } from './channel.ts';
import { postJson } from './http.ts';
import type { ChannelOptions } from './options.ts';
import { headline, truncateChars } from './render.ts';

/**
 * PagerDuty Events API v2: `trigger` for a firing, reminder or escalation notification and
 * `resolve` for a resolved one, all with `dedup_key` = the incident id, so PagerDuty keeps one
 * incident per Pigeon incident and its own escalation policies take over from there. Not signed:
 * the integration's routing key is in the body.
 */

export const PAGERDUTY_EVENTS_API = 'https://events.pagerduty.com/v2/enqueue';

export class PagerdutyChannel implements AlertChannel {
  readonly type = 'pagerduty';

  constructor(
    readonly name: string,
    private readonly settings: { routingKey: string; url: string; source: string; clientUrl?: string },
  ) {}

  async send(notification: AlertNotification, signal: AbortSignal): Promise<void> {
    // 202 is success; 400 (invalid event) is not retriable, 429 and 5xx are (postJson).
    await postJson(this.name, this.settings.url, pagerdutyEvent(notification, this.settings), signal);
  }
}

export function pagerdutyEvent(
  n: AlertNotification,
  settings: { routingKey: string; source: string; clientUrl?: string },
): Record<string, unknown> {
  // dedup_key is limited to 255 characters.
  const dedupKey = truncateChars(n.incidentId, 255);
  if (n.kind === 'resolved') {
    return { routing_key: settings.routingKey, event_action: 'resolve', dedup_key: dedupKey };
  }
  const event: Record<string, unknown> = {
    routing_key: settings.routingKey,
    event_action: 'trigger',
    dedup_key: dedupKey,
    payload: {
      summary: truncateChars(headline(n), 1024),
      source: n.labels.service ?? settings.source,
      severity: n.severity,
      timestamp: n.startedAt,
      ...(n.labels.provider ? { component: n.labels.provider } : {}),
      group: 'pigeon',
      class: n.ruleId,
      custom_details: { kind: n.kind, summary: n.summary, labels: n.labels },
    },
    client: 'Pigeon',
  };
  if (settings.clientUrl) event.client_url = settings.clientUrl;
  if (n.url) event.links = [{ href: n.url, text: 'Details' }];
  return event;
}

export function createPagerdutyChannel(options: ChannelOptions): PagerdutyChannel {
  options.only(['routingKey', 'url', 'source', 'clientUrl']);
  const routingKey = options.string('routingKey');
  if (routingKey.length !== 32) options.fail('routingKey', 'the 32-character integration key');
  const clientUrl = options.optionalUrl('clientUrl');
  return new PagerdutyChannel(options.name, {
    routingKey,
    url: options.optionalUrl('url') ?? PAGERDUTY_EVENTS_API,
    source: options.optionalString('source') ?? 'pigeon',
    ...(clientUrl ? { clientUrl } : {}),
  });
}
