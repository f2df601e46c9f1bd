import { type HttpReceiver, jsonBody, startHttpReceiver } from './http-receiver.ts';

/**
 * A WeCom group robot: `POST /cgi-bin/webhook/send?key=…`. Answers HTTP 200 with `errcode`: 0 ok,
 * 93000 invalid key, 40058 markdown content over 4,096 bytes, 45009 over 20 messages a minute.
 */

export interface WecomMessage {
  msgtype: string;
  text?: { content: string; mentioned_list?: string[]; mentioned_mobile_list?: string[] };
  markdown?: { content: string };
}

export interface WecomFake extends HttpReceiver {
  readonly key: string;
  readonly webhookUrl: string;
  readonly messages: WecomMessage[];
  setRateLimit(perMinute: number): void;
}

export async function startWecomFake(): Promise<WecomFake> {
  const key = '693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa';
  const messages: WecomMessage[] = [];
  let perMinute = 20;
  const sentAt: number[] = [];
  const answer = (errcode: number, errmsg: string) => ({ status: 200, body: { errcode, errmsg } });

  const receiver = await startHttpReceiver((request) => {
    if (request.method !== 'POST' || request.path !== '/cgi-bin/webhook/send')
      return { status: 404, body: 'not found' };
    if (request.query.get('key') !== key)
      return answer(93000, 'invalid webhook url, hint: [1700000000_1_abc]');
    const message = jsonBody(request) as WecomMessage | undefined;
    if (!message || typeof message.msgtype !== 'string') return answer(40008, 'invalid message type');
    if (message.msgtype === 'markdown') {
      const content = message.markdown?.content ?? '';
      if (!content) return answer(44004, 'empty content');
      if (Buffer.byteLength(content, 'utf8') > 4096)
        return answer(40058, 'markdown.content exceed max length 4096');
    } else if (message.msgtype === 'text') {
      if (!message.text?.content) return answer(44004, 'empty content');
    } else {
      return answer(40008, 'invalid message type');
    }
    const now = Date.now();
    while (sentAt.length > 0 && sentAt[0]! < now - 60_000) sentAt.shift();
    if (sentAt.length >= perMinute) return answer(45009, 'api freq out of limit');
    sentAt.push(now);
    messages.push(message);
    return answer(0, 'ok');
  });
  return {
    ...receiver,
    key,
    webhookUrl: `${receiver.url}/cgi-bin/webhook/send?key=${key}`,
    messages,
    setRateLimit: (n) => {
      perMinute = n;
    },
  };
}
