import { createHmac } from 'node:crypto';
import { type AlertNotification } from '../../../alerting/notification.ts';
import type { AlertChannel } from './channel.ts';
import { errcodeOf, postJson, requireZeroCode } from './http.ts';
import type { ChannelOptions } from './options.ts';
import { headline, markdownText, truncateBytes } from './render.ts';

/**
 * DingTalk custom robot (钉钉自定义机器人): a markdown message to the robot's webhook. With a
 * signing secret the URL carries `timestamp` (ms) and `sign` = urlencode(base64(HMAC-SHA256(key =
 * secret, data = timestamp + "\n" + secret))); DingTalk refuses timestamps over an hour old.
 * DingTalk answers HTTP 200 even for errors: the verdict is `errcode`.
 */

export const DINGTALK_API = 'https://oapi.dingtalk.com/robot/send';

/** errcodes worth trying again: system busy, and sending too fast (20 messages a minute). */
const RETRIABLE_ERRCODES = new Set([-1, 130101]);

export function dingtalkSign(secret: string, timestamp: string): string {
  return encodeURIComponent(createHmac('sha256', secret).update(`${timestamp}\n${secret}`).digest('base64'));
}

/** The webhook URL with `timestamp` and `sign` appended. */
export function signedDingtalkUrl(url: string, secret: string, now: number): string {
  const timestamp = String(now);
  const separator = url.includes('?') ? '&' : '?';
  return `${url}${separator}timestamp=${timestamp}&sign=${dingtalkSign(secret, timestamp)}`;
}

export class DingtalkChannel implements AlertChannel {
  readonly type = 'dingtalk';

  constructor(
    readonly name: string,
    private readonly settings: { url: string; secret?: string; atMobiles: string[]; atAll: boolean },
    private readonly now: () => number = Date.now,
  ) {}

  async send(notification: AlertNotification, signal: AbortSignal): Promise<void> {
    const { url, secret, atMobiles, atAll } = this.settings;
    const target = secret ? signedDingtalkUrl(url, secret, this.now()) : url;
    // A robot only notifies the people it @-mentions when their numbers also appear in the text.
    const mentions = atMobiles.map((m) => `@${m}`).join(' ');
    const text = truncateBytes(markdownText(notification), 18_000) + (mentions ? `\n\n${mentions}` : '');
    const answer = await postJson(
      this.name,
      target,
      {
        msgtype: 'markdown',
        markdown: { title: headline(notification), text },
        at: { atMobiles, isAtAll: atAll && notification.kind !== 'resolved' },
      },
      signal,
    );
    requireZeroCode(this.name, answer, errcodeOf, RETRIABLE_ERRCODES);
  }
}

export function createDingtalkChannel(options: ChannelOptions, now?: () => number): DingtalkChannel {
  options.only(['url', 'accessToken', 'secret', 'atMobiles', 'atAll']);
  if (options.has('url') === options.has('accessToken'))
    options.fail('url', 'given, or accessToken instead (one of the two)');
  const url = options.has('url')
    ? options.url('url')
    : `${DINGTALK_API}?access_token=${encodeURIComponent(options.string('accessToken'))}`;
  const secret = options.optionalString('secret');
  return new DingtalkChannel(
    options.name,
    {
      url,
      ...(secret ? { secret } : {}),
      atMobiles: options.stringList('atMobiles'),
      atAll: options.boolean('atAll', false),
    },
    now,
  );
}
