import { createHash } from 'node:crypto';
import { type Static, Type } from 'typebox';
import { ALERT_SEVERITIES, type AlertSeverity } from '../../../alerting/notification.ts';
import { ROSTER_NAME_PATTERN } from '../../../core/oncall.ts';
import { countSegments } from '../../../core/segments.ts';

/**
 * What `POST /v1/alerts/alertmanager` accepts, and the texts of the pages it sends. Pure.
 *
 * Two forms: Prometheus Alertmanager's webhook (version 4,
 * prometheus.io/docs/alerting/latest/configuration/#webhook_config), and a simple generic alert
 * for anything else that can POST JSON. Alertmanager's schema lets unknown fields through — it
 * adds fields between releases, and refusing a page over a new field would be the wrong trade —
 * while the generic form, ours, is strict.
 */

const Labels = Type.Record(Type.String(), Type.String());

export const AlertmanagerAlert = Type.Object({
  status: Type.Enum(['firing', 'resolved']),
  labels: Labels,
  annotations: Type.Optional(Labels),
  startsAt: Type.Optional(Type.String()),
  endsAt: Type.Optional(Type.String()),
  generatorURL: Type.Optional(Type.String()),
  fingerprint: Type.String({ minLength: 1, maxLength: 128 }),
});

export const AlertmanagerPayload = Type.Object(
  {
    version: Type.Literal('4'),
    groupKey: Type.Optional(Type.String()),
    truncatedAlerts: Type.Optional(Type.Integer({ minimum: 0 })),
    status: Type.Enum(['firing', 'resolved']),
    receiver: Type.String(),
    groupLabels: Type.Optional(Labels),
    commonLabels: Type.Optional(Labels),
    commonAnnotations: Type.Optional(Labels),
    externalURL: Type.Optional(Type.String()),
    alerts: Type.Array(AlertmanagerAlert, { minItems: 1, maxItems: 1000 }),
  },
  { description: 'Prometheus Alertmanager webhook, version 4' },
);
export type AlertmanagerPayload = Static<typeof AlertmanagerPayload>;

export const GenericAlert = Type.Object(
  {
    title: Type.String({ minLength: 1, maxLength: 300 }),
    severity: Type.Enum(ALERT_SEVERITIES),
    status: Type.Enum(['firing', 'resolved']),
    fingerprint: Type.Optional(
      Type.String({ minLength: 1, maxLength: 128, description: 'Default: derived from the title' }),
    ),
    summary: Type.Optional(Type.String({ maxLength: 2000 })),
    roster: Type.Optional(Type.String({ pattern: ROSTER_NAME_PATTERN })),
    url: Type.Optional(Type.String({ maxLength: 2000 })),
  },
  { additionalProperties: false, description: 'A generic alert' },
);
export type GenericAlert = Static<typeof GenericAlert>;

export const AlertBody = Type.Union([AlertmanagerPayload, GenericAlert]);
export type AlertBody = Static<typeof AlertBody>;

/** One alert, whichever form it came in. */
export interface IncomingAlert {
  fingerprint: string;
  status: 'firing' | 'resolved';
  title: string;
  summary: string;
  severity: AlertSeverity;
  /** A roster the alert names (label, field or query parameter): it must exist. */
  roster?: string;
  /** Alertmanager's receiver: used as the roster when one has its name, else the default roster. */
  receiver?: string;
  url?: string;
}

export interface ParsedAlerts {
  source: 'alertmanager' | 'generic';
  alerts: IncomingAlert[];
}

const SEVERITY_WORDS: Record<string, AlertSeverity> = {
  critical: 'critical',
  page: 'critical',
  high: 'critical',
  error: 'critical',
  warning: 'warning',
  warn: 'warning',
  medium: 'warning',
  info: 'info',
  low: 'info',
  none: 'info',
};

export function isAlertmanager(body: AlertBody): body is AlertmanagerPayload {
  return 'alerts' in body;
}

/**
 * The alerts of a request. The roster: a `roster` label on the alert (or common to the group), the
 * generic form's `roster`, then `?roster=` — each must exist — else the receiver's name when a
 * roster has it, else the default roster.
 */
export function parseAlerts(body: AlertBody, query: { roster?: string }): ParsedAlerts {
  if (!isAlertmanager(body)) {
    const alert: IncomingAlert = {
      fingerprint: body.fingerprint ?? derivedFingerprint(body.title),
      status: body.status,
      title: body.title,
      summary: body.summary ?? '',
      severity: body.severity,
    };
    const roster = body.roster ?? query.roster;
    if (roster) alert.roster = roster;
    if (body.url) alert.url = body.url;
    return { source: 'generic', alerts: [alert] };
  }
  const alerts = body.alerts.map((a) => {
    const labels = { ...body.commonLabels, ...a.labels };
    const annotations = { ...body.commonAnnotations, ...a.annotations };
    const alert: IncomingAlert = {
      fingerprint: a.fingerprint,
      status: a.status,
      title: annotations.summary ?? labels.alertname ?? 'Alert',
      summary: annotations.description ?? '',
      severity: SEVERITY_WORDS[(labels.severity ?? '').toLowerCase()] ?? 'warning',
      receiver: body.receiver,
    };
    const roster = labels.roster ?? query.roster;
    if (roster) alert.roster = roster;
    const url = annotations.runbook_url ?? a.generatorURL;
    if (url) alert.url = url;
    return alert;
  });
  return { source: 'alertmanager', alerts };
}

/** A stable fingerprint for a generic alert that names none: the same title, the same alert. */
export function derivedFingerprint(title: string): string {
  return createHash('sha256').update(title.trim().toLowerCase()).digest('hex').slice(0, 16);
}

export type PageTextKind = 'page' | 'escalation' | 'resolved';

const MAX_PAGE_CHARS = 306;
const MAX_PAGE_PARTS = 2;

/** Cuts to `max` code points, marking the cut. */
function cut(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, Math.max(0, max - 3)).join('')}...`;
}

/**
 * The text of a page: what, how bad, one line of detail, and the page id to acknowledge it by —
 * at most two SMS parts, the id always kept. ASCII only, so GSM-7 packs the most into a part.
 */
export function pageText(
  kind: PageTextKind,
  alert: { title: string; summary?: string; severity: string },
  pageId: string,
  detail?: string,
): string {
  const head =
    kind === 'resolved'
      ? `[RESOLVED] ${alert.title}`
      : `[${kind === 'escalation' ? 'ESCALATED' : 'FIRING'} ${alert.severity}] ${alert.title}`;
  const tail = kind === 'resolved' ? ` (page ${pageId})` : ` Ack: page ${pageId}`;
  const line =
    detail ??
    (kind === 'resolved'
      ? ''
      : ((alert.summary ?? '')
          .split('\n')
          .find((l) => l.trim().length > 0)
          ?.trim() ?? ''));
  const body = line ? `${head} - ${line}` : head;
  // Characters outside GSM-7, or in its extension table ([ ] { } ~ ...), take more room: shorten
  // until the page fits its parts.
  for (let max = MAX_PAGE_CHARS - tail.length; ; max -= 8) {
    const text = cut(body, Math.max(0, max)) + tail;
    if (max <= 0 || countSegments(text).segments <= MAX_PAGE_PARTS) return text;
  }
}
