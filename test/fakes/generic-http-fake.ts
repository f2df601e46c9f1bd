import { createHmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { type Exchange, type FakeHttp, startFakeHttp } from './fake-http.ts';

/**
 * A small aggregator's HTTP API: records every request and answers with whatever the test
 * scripts — a status and body, no answer at all, or a reset connection. It also posts webhooks
 * (an SMS a handset sent) signed the way the generic provider's `receipt` settings describe.
 */

/** How the aggregator signs its webhooks: HMAC-SHA256 hex of the body, or of `${timestamp}.${body}`. */
export interface WebhookSigning {
  secret: string;
  header: string;
  prefix?: string;
  timestampHeader?: string;
  /** Unix seconds; default now. */
  timestamp?: number;
}

/** Posts a JSON webhook to `url`, signed; resolves with the status and body the gateway answered. */
export async function postSignedWebhook(
  url: string,
  payload: unknown,
  signing: WebhookSigning,
): Promise<{ status: number; body: string }> {
  const body = JSON.stringify(payload);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  let signed = body;
  if (signing.timestampHeader) {
    const timestamp = String(signing.timestamp ?? Math.floor(Date.now() / 1000));
    headers[signing.timestampHeader] = timestamp;
    signed = `${timestamp}.${body}`;
  }
  headers[signing.header] =
    `${signing.prefix ?? ''}${createHmac('sha256', signing.secret).update(signed).digest('hex')}`;
  const response = await fetch(url, { method: 'POST', headers, body });
  return { status: response.status, body: await response.text() };
}

export interface RecordedHttpRequest {
  method: string;
  /** Path and query as received. */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export type FakeHttpReply =
  { status: number; body?: string; headers?: Record<string, string> } | { hang: true } | { destroy: true };

export class FakeHttpProvider {
  readonly requests: RecordedHttpRequest[] = [];
  reply: (request: RecordedHttpRequest) => FakeHttpReply = () => ({ status: 200, body: '{"id":"P-1"}' });
  readonly url: string;

  private constructor(private readonly http: FakeHttp) {
    this.url = http.url;
  }

  static async start(): Promise<FakeHttpProvider> {
    // Nobody knows the port before start() resolves, so no request comes before `fake` exists.
    const fake: FakeHttpProvider = new FakeHttpProvider(
      await startFakeHttp((exchange) => fake.answer(exchange)),
    );
    return fake;
  }

  close(): Promise<void> {
    return this.http.close();
  }

  private answer({ req, res, body }: Exchange): void {
    void body.then((text) => {
      const recorded: RecordedHttpRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: text,
      };
      this.requests.push(recorded);
      const reply = this.reply(recorded);
      if ('hang' in reply) return;
      if ('destroy' in reply) {
        req.socket.destroy();
        return;
      }
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
      res.end(reply.body ?? '');
    });
  }
}
