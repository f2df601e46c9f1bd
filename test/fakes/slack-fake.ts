import { type HttpReceiver, jsonBody, startHttpReceiver } from './http-receiver.ts';

/**
 * A Slack incoming webhook (api.slack.com/messaging/webhooks): `POST /services/T…/B…/…` with a JSON
 * message; answers `ok`, or Slack's text errors — `invalid_payload` (not JSON), `no_text` (neither
 * text nor blocks), `no_service` (404, a revoked or unknown URL).
 */

export interface SlackMessage {
  text?: string;
  blocks?: Array<Record<string, unknown>>;
  channel?: string;
  username?: string;
}

export interface SlackFake extends Omit<HttpReceiver, 'url'> {
  /** The webhook URL to configure. */
  readonly url: string;
  readonly messages: SlackMessage[];
  /** A URL of this fake Slack that is not (or no longer) a webhook. */
  readonly revokedUrl: string;
}

const HOOK = '/services/T0PIGEON/B0ALERTS/x8Fz3kq1Lw9vQ2';

export async function startSlackFake(): Promise<SlackFake> {
  const messages: SlackMessage[] = [];
  const receiver = await startHttpReceiver((request) => {
    if (request.method !== 'POST' || request.path !== HOOK) return { status: 404, body: 'no_service' };
    const message = jsonBody(request) as SlackMessage | undefined;
    if (!message || typeof message !== 'object') return { status: 400, body: 'invalid_payload' };
    if (!message.text && !(Array.isArray(message.blocks) && message.blocks.length > 0)) {
      return { status: 400, body: 'no_text' };
    }
    messages.push(message);
    return { status: 200, body: 'ok' };
  });
  return {
    ...receiver,
    url: receiver.url + HOOK,
    revokedUrl: `${receiver.url}/services/T0PIGEON/B0GONE/revoked`,
    messages,
  };
}
