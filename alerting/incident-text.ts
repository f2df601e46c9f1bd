/** How an incident reads to a person: a one-line title and a few lines of detail. */
import type { Incident } from './incident.ts';
import type { CompiledRule, MetricName } from './rules.ts';

const METRIC_WORDS: Record<MetricName, { what: string; unit: 'ratio' | 'seconds' | 'count' }> = {
  submit_success_rate: { what: 'Submit success rate', unit: 'ratio' },
  submit_latency_p50_seconds: { what: 'Median submit latency', unit: 'seconds' },
  submit_latency_p95_seconds: { what: 'p95 submit latency', unit: 'seconds' },
  delivered_rate: { what: 'Delivered rate', unit: 'ratio' },
  receipt_lag_p95_seconds: { what: 'p95 receipt lag', unit: 'seconds' },
  otp_conversion_rate: { what: 'OTP conversion', unit: 'ratio' },
  provider_health: { what: 'Health', unit: 'ratio' },
  below_floor: { what: 'Delivering nothing (1: below the floor)', unit: 'count' },
  blind_seconds: { what: 'Time without a baseline or floor', unit: 'seconds' },
  breaker_state: { what: 'Breaker state', unit: 'count' },
  consumer_lag: { what: 'Consumer lag', unit: 'count' },
  heartbeat_age_seconds: { what: 'Time since the last heartbeat', unit: 'seconds' },
  service_instances: { what: 'Live instances', unit: 'count' },
  canary_success_rate: { what: 'Canary success rate', unit: 'ratio' },
  canary_latency_p95_seconds: { what: 'p95 canary latency', unit: 'seconds' },
  receipt_backlog: { what: 'Receipt backlog', unit: 'count' },
};

function format(value: number | undefined, unit: 'ratio' | 'seconds' | 'count'): string {
  if (value === undefined) return '?';
  if (unit === 'ratio') return `${Math.round(value * 100)} %`;
  if (unit === 'seconds') return `${value < 10 ? value.toFixed(1) : Math.round(value)} s`;
  return String(Math.round(value));
}

/** One-line title and a few lines of detail, e.g. "Delivered rate of twilio to GB is 41 % (baseline 96 %)". */
export function describeIncident(
  incident: Incident,
  rule: CompiledRule | undefined,
): { title: string; summary: string } {
  const words = METRIC_WORDS[incident.metric];
  const l = incident.labels;
  const scope = [
    l.provider !== undefined ? `of ${l.provider}` : '',
    l.country !== undefined ? `to ${l.country}` : '',
    l.class !== undefined ? `(${l.class})` : '',
    l.service !== undefined ? `of ${l.service}${l.instance !== undefined ? ` ${l.instance}` : ''}` : '',
    l.group !== undefined ? `of ${l.group}` : '',
    l.topic !== undefined ? `on ${l.topic}` : '',
  ]
    .filter(Boolean)
    .join(' ');
  const shown = incident.state === 'resolved' ? incident.value : incident.worstValue;
  const against =
    incident.baseline !== undefined
      ? ` (baseline ${format(incident.baseline, words.unit)})`
      : incident.threshold !== undefined
        ? ` (threshold ${format(incident.threshold, words.unit)})`
        : '';
  const title = `${words.what}${scope ? ` ${scope}` : ''} ${incident.state === 'resolved' ? 'is back at' : 'is'} ${format(shown, words.unit)}${against}`;
  const lines = [
    `Rule ${incident.ruleId} (${incident.severity})${rule?.rule.description ? `: ${rule.rule.description}` : ''}`,
    `Now ${format(incident.value, words.unit)} over ${incident.samples} samples${rule && rule.windowMs ? `, window ${rule.windowMs / 60_000} min` : ''}`,
  ];
  if (incident.state === 'resolved') {
    const at = incident.resolvedAt === undefined ? '' : ` at ${new Date(incident.resolvedAt).toISOString()}`;
    lines.push(`Resolved (${incident.resolution ?? 'recovered'})${at}`);
  } else if (incident.ackedAt !== undefined) {
    lines.push(`Acknowledged by ${incident.ackedBy ?? 'someone'}`);
  } else {
    lines.push(
      `Acknowledge: reply "ACK ${incident.ackCode}" or POST /v1/alerts/incidents/${incident.id}/ack`,
    );
  }
  return { title, summary: lines.join('\n') };
}
