import {
  type FetchFunction,
  IncomingWebhook,
  IncomingWebhookHTTPError,
  type IncomingWebhookSendArguments,
} from '@slack/webhook';
import { type AlertNotification } from '../../../alerting/notification.ts';
import { type AlertChannel, ChannelError } from './channel.ts';
import { errorCode, snippet } from './http.ts';
import type { ChannelOptions } from './options.ts';
import { headline, labelLine, truncateChars } from './render.ts';

/**
 * Slack incoming webhook (api.slack.com/messaging/webhooks), sent with Slack's own client,
 * @slack/webhook. The message has a `text` fallback (what notifications show) and blocks: the
 * headline, the summary, the labels and a link. Incoming webhooks are not signed; the URL is the
 * credential.
 */
export class SlackChannel implements AlertChannel {
  readonly type = 'slack';

  constructor(
    readonly name: string,
    private readonly url: string,
    private readonly defaults: { channel?: string; username?: string; iconEmoji?: string },
  ) {}

  async send(notification: AlertNotification, signal: AbortSignal): Promise<void> {
    // The client aborts on its own timeout only; this fetch also ends the request when the chain
    // gives up on the channel. A client per send, since the signal is per send.
    const fetchWithSignal: FetchFunction = (url, init) =>
      fetch(url, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, signal]) : signal });
    const webhook = new IncomingWebhook(this.url, {
      fetch: fetchWithSignal,
      ...(this.defaults.channel ? { channel: this.defaults.channel } : {}),
      ...(this.defaults.username ? { username: this.defaults.username } : {}),
      ...(this.defaults.iconEmoji ? { icon_emoji: this.defaults.iconEmoji } : {}),
    });
    try {
      await webhook.send(slackMessage(notification));
    } catch (err) {
      if (err instanceof IncomingWebhookHTTPError) {
        const status = err.statusCode;
        throw new ChannelError(`${this.name}: HTTP ${status} ${snippet(err.body)}`, {
          retriable: status === 429 || status >= 500,
          cause: err,
        });
      }
      throw new ChannelError(
        signal.aborted ? `${this.name}: timed out` : `${this.name}: request failed (${errorCode(err)})`,
        { retriable: true, cause: err },
      );
    }
  }
}

/** Slack's `mrkdwn` treats &, < and > as markup. */
const escape = (text: string) =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

export function slackMessage(n: AlertNotification): IncomingWebhookSendArguments {
  // A section's text is limited to 3,000 characters.
  const blocks: NonNullable<IncomingWebhookSendArguments['blocks']> = [
    { type: 'section', text: { type: 'mrkdwn', text: `*${escape(truncateChars(headline(n), 2900))}*` } },
  ];
  if (n.summary) {
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: escape(truncateChars(n.summary, 2900)) } });
  }
  const context = [labelLine(n), `started ${n.startedAt}`, n.resolvedAt ? `resolved ${n.resolvedAt}` : '']
    .filter(Boolean)
    .map((text) => ({ type: 'mrkdwn' as const, text: escape(truncateChars(text, 2900)) }));
  blocks.push({ type: 'context', elements: context });
  if (n.url) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `<${n.url}|Open>` } });
  return { text: headline(n), blocks };
}

export function createSlackChannel(options: ChannelOptions): SlackChannel {
  options.only(['url', 'channel', 'username', 'iconEmoji']);
  const defaults: { channel?: string; username?: string; iconEmoji?: string } = {};
  const channel = options.optionalString('channel');
  const username = options.optionalString('username');
  const iconEmoji = options.optionalString('iconEmoji');
  if (channel) defaults.channel = channel;
  if (username) defaults.username = username;
  if (iconEmoji) defaults.iconEmoji = iconEmoji;
  return new SlackChannel(options.name, options.url('url'), defaults);
}
