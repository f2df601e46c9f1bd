import { createHmac } from 'node:crypto';
import { type AlertNotification } from '../../../alerting/notification.ts';
import type { AlertChannel } from './channel.ts';
import { postJson, requireZeroCode } from './http.ts';
import type { ChannelOptions } from './options.ts';
import { plainText, truncateBytes } from './render.ts';

/**
 * Feishu / Lark custom bot (自定义机器人): a text message to `bot/v2/hook/{token}`. With a signing
 * secret the body carries `timestamp` (seconds) and `sign` = base64(HMAC-SHA256(key = timestamp +
 * "\n" + secret, data = empty)) — the key is the string to sign and the message is empty, unlike
 * DingTalk. Feishu answers HTTP 200 even for errors: the verdict is `code` (older bots:
 * `StatusCode`).
 */

export const FEISHU_HOOK_BASE: Record<'feishu' | 'lark', string> = {
  feishu: 'https://open.feishu.cn/open-apis/bot/v2/hook/',
  lark: 'https://open.larksuite.com/open-apis/bot/v2/hook/',
};

/** Codes worth trying again: the bot's rate limits (100 a minute, 5 a second). */
const RETRIABLE_CODES = new Set([9499, 11232]);

export function feishuSign(secret: string, timestamp: string): string {
  return createHmac('sha256', `${timestamp}\n${secret}`).update('').digest('base64');
}

export class FeishuChannel implements AlertChannel {
  readonly type = 'feishu';

  constructor(
    readonly name: string,
    private readonly settings: { url: string; secret?: string },
    private readonly now: () => number = Date.now,
  ) {}

  async send(notification: AlertNotification, signal: AbortSignal): Promise<void> {
    const payload: Record<string, unknown> = {
      msg_type: 'text',
      // A request body is limited to 20 KB.
      content: { text: truncateBytes(plainText(notification), 18_000) },
    };
    if (this.settings.secret) {
      const timestamp = String(Math.floor(this.now() / 1000));
      payload.timestamp = timestamp;
      payload.sign = feishuSign(this.settings.secret, timestamp);
    }
    const answer = await postJson(this.name, this.settings.url, payload, signal);
    // Feishu's newer answers say `code`/`msg`, its older ones `StatusCode`/`StatusMessage`.
    requireZeroCode(
      this.name,
      answer,
      (body) => ({
        code: body.code ?? body.StatusCode,
        message: body.msg ?? body.StatusMessage,
        label: 'code',
      }),
      RETRIABLE_CODES,
    );
  }
}

export function createFeishuChannel(options: ChannelOptions, now?: () => number): FeishuChannel {
  options.only(['url', 'token', 'region', 'secret']);
  if (options.has('url') === options.has('token'))
    options.fail('url', 'given, or token instead (one of the two)');
  let url: string;
  if (options.has('url')) url = options.url('url');
  else {
    const region = options.optionalString('region') ?? 'feishu';
    if (region !== 'feishu' && region !== 'lark') options.fail('region', 'feishu or lark');
    url = FEISHU_HOOK_BASE[region] + encodeURIComponent(options.string('token'));
  }
  const secret = options.optionalString('secret');
  return new FeishuChannel(options.name, { url, ...(secret ? { secret } : {}) }, now);
}
