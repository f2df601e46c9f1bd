import { createHmac, timingSafeEqual } from 'node:crypto';
import { type HttpReceiver, jsonBody, startHttpReceiver } from './http-receiver.ts';

/**
 * A DingTalk custom robot: `POST /robot/send?access_token=…[&timestamp=…&sign=…]`. With a secret it
 * checks the signature the way DingTalk documents it — HMAC-SHA256 keyed by the secret over
 * `timestamp + "\n" + secret`, base64, URL-encoded — and a timestamp within an hour. Answers HTTP
 * 200 with `errcode`: 0 ok, 300001 bad token, 310000 failed security check, 130101 too fast.
 */

export interface DingtalkMessage {
  msgtype: string;
  text?: { content: string };
  markdown?: { title: string; text: string };
  at?: { atMobiles?: string[]; isAtAll?: boolean };
}

export interface DingtalkFake extends HttpReceiver {
  readonly accessToken: string;
  readonly secret: string | undefined;
  /** The robot's webhook URL, without timestamp and sign. */
  readonly webhookUrl: string;
  readonly messages: DingtalkMessage[];
  /** Messages accepted per minute before errcode 130101 (DingTalk: 20). */
  setRateLimit(perMinute: number): void;
}

const ONE_HOUR_MS = 3_600_000;

export async function startDingtalkFake(options: { secret?: string } = {}): Promise<DingtalkFake> {
  const accessToken = 'd1c0ffee5ca1ab1e5eed0fdeadbeef0123456789abcdef0123456789abcdef01';
  const messages: DingtalkMessage[] = [];
  let perMinute = 20;
  const sentAt: number[] = [];
  const error = (errcode: number, errmsg: string) => ({ status: 200, body: { errcode, errmsg } });

  const receiver = await startHttpReceiver((request) => {
    if (request.method !== 'POST' || request.path !== '/robot/send')
      return { status: 404, body: 'not found' };
    if (request.query.get('access_token') !== accessToken) return error(300001, 'token is not exist');
    if (options.secret) {
      const timestamp = request.query.get('timestamp') ?? '';
      const sign = request.query.get('sign') ?? '';
      if (!/^\d{13}$/.test(timestamp) || Math.abs(Date.now() - Number(timestamp)) > ONE_HOUR_MS) {
        return error(310000, 'invalid timestamp');
      }
      // URLSearchParams has already decoded the sign once, as DingTalk does.
      const expected = Buffer.from(
        createHmac('sha256', options.secret).update(`${timestamp}\n${options.secret}`).digest('base64'),
      );
      const given = Buffer.from(sign);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return error(310000, 'sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]');
      }
    }
    const message = jsonBody(request) as DingtalkMessage | undefined;
    if (!message || typeof message.msgtype !== 'string') return error(40035, 'missing parameter msgtype');
    if (message.msgtype === 'markdown' && !(message.markdown?.title && message.markdown.text)) {
      return error(40035, 'missing parameter markdown');
    }
    if (message.msgtype === 'text' && !message.text?.content) return error(40035, 'missing parameter text');
    const now = Date.now();
    while (sentAt.length > 0 && sentAt[0]! < now - 60_000) sentAt.shift();
    if (sentAt.length >= perMinute) return error(130101, 'send too fast, exceed 20 times per minute');
    sentAt.push(now);
    messages.push(message);
    return error(0, 'ok');
  });
  return {
    ...receiver,
    accessToken,
    secret: options.secret,
    webhookUrl: `${receiver.url}/robot/send?access_token=${accessToken}`,
    messages,
    setRateLimit: (n) => {
      perMinute = n;
    },
  };
}
