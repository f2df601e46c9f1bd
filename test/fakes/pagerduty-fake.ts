import { type HttpReceiver, jsonBody, startHttpReceiver } from './http-receiver.ts';

/**
 * PagerDuty Events API v2: `POST /v2/enqueue`. Validates events as PagerDuty does — a known
 * 32-character routing key, `event_action` trigger|acknowledge|resolve, a `dedup_key` of at most
 * 255 characters, and for a trigger a payload with summary (≤ 1,024), source and a severity of
 * critical|error|warning|info — answering 202 `{status:"success", dedup_key}` or 400
 * `{status:"invalid event", errors}`; keeps one incident per dedup_key.
 */

export interface PagerdutyEvent {
  routing_key: string;
  event_action: 'trigger' | 'acknowledge' | 'resolve';
  dedup_key?: string;
  payload?: {
    summary: string;
    source: string;
    severity: string;
    timestamp?: string;
    component?: string;
    group?: string;
    class?: string;
    custom_details?: Record<string, unknown>;
  };
  client?: string;
  client_url?: string;
  links?: Array<{ href: string; text?: string }>;
}

export interface PagerdutyFake extends HttpReceiver {
  readonly routingKey: string;
  readonly eventsUrl: string;
  /** Every event accepted, in order. */
  readonly events: PagerdutyEvent[];
  /** Incidents by dedup_key. */
  readonly incidents: Map<string, { status: 'triggered' | 'acknowledged' | 'resolved'; triggers: number }>;
}

const SEVERITIES = new Set(['critical', 'error', 'warning', 'info']);

export async function startPagerdutyFake(): Promise<PagerdutyFake> {
  const routingKey = 'R0PIGE0NALERTS0000000000000000AB';
  const events: PagerdutyEvent[] = [];
  const incidents = new Map<
    string,
    { status: 'triggered' | 'acknowledged' | 'resolved'; triggers: number }
  >();
  const invalid = (errors: string[]) => ({
    status: 400,
    body: { status: 'invalid event', message: 'Event object is invalid', errors },
  });

  const receiver = await startHttpReceiver((request) => {
    if (request.method !== 'POST' || request.path !== '/v2/enqueue')
      return { status: 404, body: { status: 'not found' } };
    const event = jsonBody(request) as PagerdutyEvent | undefined;
    if (!event || typeof event !== 'object')
      return { status: 400, body: { status: 'invalid request', message: 'Invalid JSON' } };
    const errors: string[] = [];
    if (event.routing_key?.length !== 32) errors.push("'routing_key' must be 32 characters");
    else if (event.routing_key !== routingKey) errors.push("'routing_key' is not a known integration key");
    if (!['trigger', 'acknowledge', 'resolve'].includes(event.event_action))
      errors.push("'event_action' is invalid");
    if (
      event.dedup_key !== undefined &&
      (typeof event.dedup_key !== 'string' || event.dedup_key.length > 255)
    ) {
      errors.push("'dedup_key' must be a string of at most 255 characters");
    }
    if (event.event_action === 'trigger') {
      const p = event.payload;
      if (!p?.summary || p.summary.length > 1024) errors.push("'payload.summary' is missing or too long");
      if (!p?.source) errors.push("'payload.source' is missing");
      if (!p || !SEVERITIES.has(p.severity)) errors.push("'payload.severity' is invalid");
    } else if (!event.dedup_key) {
      errors.push(`'dedup_key' is required for ${event.event_action}`);
    }
    if (errors.length > 0) return invalid(errors);
    const dedupKey = event.dedup_key ?? `pd-${events.length + 1}`;
    events.push(event);
    const incident = incidents.get(dedupKey) ?? { status: 'triggered' as const, triggers: 0 };
    if (event.event_action === 'trigger') {
      incident.triggers++;
      if (incident.status === 'resolved') incident.status = 'triggered';
    } else if (event.event_action === 'acknowledge') incident.status = 'acknowledged';
    else incident.status = 'resolved';
    incidents.set(dedupKey, incident);
    return { status: 202, body: { status: 'success', message: 'Event processed', dedup_key: dedupKey } };
  });
  return { ...receiver, routingKey, eventsUrl: `${receiver.url}/v2/enqueue`, events, incidents };
}
