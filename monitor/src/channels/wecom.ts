import { type AlertNotification } from '../../../alerting/notification.ts';
import type { AlertChannel } from './channel.ts';
import { errcodeOf, postJson, requireZeroCode } from './http.ts';
import type { ChannelOptions } from './options.ts';
import { markdownText, truncateBytes } from './render.ts';

/**
 * WeCom group robot (企业微信群机器人): a markdown message to `webhook/send?key=…`. Not signed;
 * the key is the credential. Markdown content is limited to 4,096 bytes. WeCom answers HTTP 200
 * even for errors: the verdict is `errcode`.
 */

export const WECOM_API = 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send';
export const WECOM_MARKDOWN_MAX_BYTES = 4096;

/** errcodes worth trying again: system busy, and the robot's 20 messages a minute. */
const RETRIABLE_ERRCODES = new Set([-1, 45009]);

export class WecomChannel implements AlertChannel {
  readonly type = 'wecom';

  constructor(
    readonly name: string,
    private readonly url: string,
  ) {}

  async send(notification: AlertNotification, signal: AbortSignal): Promise<void> {
    const content = truncateBytes(markdownText(notification), WECOM_MARKDOWN_MAX_BYTES);
    const answer = await postJson(
      this.name,
      this.url,
      { msgtype: 'markdown', markdown: { content } },
      signal,
    );
    requireZeroCode(this.name, answer, errcodeOf, RETRIABLE_ERRCODES);
  }
}

export function createWecomChannel(options: ChannelOptions): WecomChannel {
  options.only(['url', 'key']);
  if (options.has('url') === options.has('key'))
    options.fail('url', 'given, or key instead (one of the two)');
  const url = options.has('url')
    ? options.url('url')
    : `${WECOM_API}?key=${encodeURIComponent(options.string('key'))}`;
  return new WecomChannel(options.name, url);
}
