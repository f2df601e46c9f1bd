import { createHmac, timingSafeEqual } from 'node:crypto';
import { type HttpReceiver, jsonBody, startHttpReceiver } from './http-receiver.ts';

/**
 * A Feishu/Lark custom bot: `POST /open-apis/bot/v2/hook/{token}`. With a secret it checks the
 * body's `timestamp` (seconds, within an hour) and `sign` as Feishu documents it:
 * base64(HMAC-SHA256 keyed by `timestamp + "\n" + secret` over an empty message). Answers HTTP 200
 * with `code`: 0 success, 19001 bad token, 19021 signature or timestamp refused, 9499 too fast.
 */

export interface FeishuMessage {
  msg_type: string;
  content?: { text?: string };
  timestamp?: string;
  sign?: string;
}

export interface FeishuFake extends HttpReceiver {
  readonly token: string;
  readonly webhookUrl: string;
  readonly messages: FeishuMessage[];
}

export async function startFeishuFake(options: { secret?: string } = {}): Promise<FeishuFake> {
  const token = 'c0ffee00-1234-4bcd-9ef0-0123456789ab';
  const messages: FeishuMessage[] = [];
  const answer = (code: number, msg: string) => ({ status: 200, body: { code, msg, data: {} } });

  const receiver = await startHttpReceiver((request) => {
    if (request.method !== 'POST') return { status: 405, body: 'method not allowed' };
    if (request.path !== `/open-apis/bot/v2/hook/${token}`)
      return answer(19001, 'param invalid: incoming webhook access token invalid');
    const message = jsonBody(request) as FeishuMessage | undefined;
    if (!message || typeof message.msg_type !== 'string') return answer(9499, 'Bad Request');
    if (options.secret) {
      const timestamp = String(message.timestamp ?? '');
      if (!/^\d{10}$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > 3600) {
        return answer(19021, 'sign match fail or timestamp is not within one hour from current time');
      }
      const expected = Buffer.from(createHmac('sha256', `${timestamp}\n${options.secret}`).digest('base64'));
      const given = Buffer.from(String(message.sign ?? ''));
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return answer(19021, 'sign match fail or timestamp is not within one hour from current time');
      }
    }
    if (message.msg_type === 'text' && !message.content?.text) return answer(9499, 'Bad Request');
    messages.push(message);
    return answer(0, 'success');
  });
  return { ...receiver, token, webhookUrl: `${receiver.url}/open-apis/bot/v2/hook/${token}`, messages };
}
