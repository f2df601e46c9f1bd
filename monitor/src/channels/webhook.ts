import { SIGNATURE_HEADER, signatureHeader } from '../../../core/signature.ts';
import type { AlertNotification } from '../../../alerting/notification.ts';
import type { AlertChannel } from './channel.ts';
import { postJson } from './http.ts';
import type { ChannelOptions } from './options.ts';

/**
 * A generic webhook: the notification as JSON, signed so the receiver knows it is from us and
 * recent. `Pigeon-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` — the
 * timestamp inside the signed text stops a captured request being replayed later
 * (core/signature.ts verifySignatureHeader() accepts five minutes by default).
 */

export const WEBHOOK_EVENT = 'alert.notification';

export class WebhookChannel implements AlertChannel {
  readonly type = 'webhook';

  constructor(
    readonly name: string,
    private readonly settings: { url: string; secret: string; headers: Record<string, string> },
    private readonly now: () => number = Date.now,
  ) {}

  async send(notification: AlertNotification, signal: AbortSignal): Promise<void> {
    const sentAt = this.now();
    const body = JSON.stringify({
      type: WEBHOOK_EVENT,
      version: 1,
      sentAt: new Date(sentAt).toISOString(),
      notification,
    });
    const timestamp = Math.floor(sentAt / 1000);
    await postJson(
      this.name,
      this.settings.url,
      undefined,
      signal,
      {
        ...this.settings.headers,
        [SIGNATURE_HEADER]: signatureHeader(this.settings.secret, body, timestamp),
      },
      body,
    );
  }
}

export function createWebhookChannel(options: ChannelOptions, now?: () => number): WebhookChannel {
  options.only(['url', 'secret', 'headers']);
  const secret = options.string('secret');
  if (secret.length < 16) options.fail('secret', 'at least 16 characters');
  const headers = Object.fromEntries(
    Object.entries(options.stringRecord('headers')).map(([key, value]) => [key.toLowerCase(), value]),
  );
  return new WebhookChannel(options.name, { url: options.url('url'), secret, headers }, now);
}
