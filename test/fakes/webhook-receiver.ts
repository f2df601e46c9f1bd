import { createHmac, timingSafeEqual } from 'node:crypto';
import { type HttpReceiver, jsonBody, startHttpReceiver } from './http-receiver.ts';

/**
 * A customer's endpoint for Pigeon's generic alert webhook. It checks `Pigeon-Signature:
 * t=<seconds>,v1=<hex>` the way our docs tell customers to — HMAC-SHA256 with the shared secret
 * over `<t>.<raw body>`, a timestamp within five minutes — written here independently of the
 * sender's code so a mistake there cannot hide itself. Bad or missing signatures get 401.
 */

export interface WebhookReceiver extends HttpReceiver {
  readonly secret: string;
  readonly hookUrl: string;
  /** Bodies of the requests whose signature held. */
  readonly deliveries: Array<{
    type: string;
    version: number;
    sentAt: string;
    notification: Record<string, unknown>;
  }>;
}

export async function startWebhookReceiver(secret = 'whsec_test_0123456789abcdef'): Promise<WebhookReceiver> {
  const deliveries: WebhookReceiver['deliveries'] = [];
  const receiver = await startHttpReceiver((request) => {
    if (request.method !== 'POST' || request.path !== '/hooks/pigeon')
      return { status: 404, body: 'not found' };
    const header = String(request.headers['pigeon-signature'] ?? '');
    const parts = Object.fromEntries(
      header.split(',').map((p) => p.trim().split('=', 2) as [string, string]),
    );
    const t = Number(parts.t);
    if (!Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) > 300)
      return { status: 401, body: 'stale or missing timestamp' };
    const expected = createHmac('sha256', secret).update(`${parts.t}.${request.body}`).digest();
    const given = Buffer.from(parts.v1 ?? '', 'hex');
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      return { status: 401, body: 'bad signature' };
    const body = jsonBody(request) as WebhookReceiver['deliveries'][number] | undefined;
    if (!body) return { status: 400, body: 'not JSON' };
    deliveries.push(body);
    return { status: 204, body: '' };
  });
  return { ...receiver, secret, hookUrl: `${receiver.url}/hooks/pigeon`, deliveries };
}
