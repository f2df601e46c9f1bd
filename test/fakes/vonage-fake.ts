import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { type FakeRequest, htmlError, type HttpFault, type PostResult, startFakeHttp } from './fake-http.ts';

/**
 * A local Vonage SMS API endpoint (`POST /sms/json`, form or JSON, or GET with a query string).
 * It authenticates with api_key + api_secret or a signed request (`sig`), splits long texts into
 * parts (153 GSM characters or 67 UCS-2 units each) with one message id, price and receipt per
 * part, and answers HTTP 200 with per-part `status` codes for errors, as Vonage does. Delivery
 * receipts are posted signed to the message's `callback`, per part, and faults can be scripted.
 */

export type VonageFault =
  /** `status` answers every send with an HTML page, as a load balancer would; `hang` never answers. */
  | HttpFault
  /** Vonage's throttling answer: status 1, "Throughput Rate Exceeded - please wait [ ms ] and retry". */
  | { kind: 'throttle'; retryAfterSeconds: number }
  /**
   * Answers with this SMS API status code (e.g. 3, 7). With `afterParts`, that many parts are
   * accepted first and the rest fail: a message partly sent.
   */
  | { kind: 'error'; code: number | string; afterParts?: number }
  /** Accepts the message (it will be "delivered"), then never answers: an ambiguous send. */
  | { kind: 'acceptThenHang' }
  /** Stops listening, so connections are refused; clearing the fault listens on the same port. */
  | { kind: 'refuse' }
  | undefined;

export type VonageSignatureMethod = 'md5hash' | 'md5hmac' | 'sha1hmac' | 'sha256hmac' | 'sha512hmac';

/** `authenticated`: whether the credentials (secret or signature) held. */
export interface VonageRecordedRequest extends FakeRequest {
  /** Query and body parameters as strings. */
  params: Record<string, string>;
  /** The JSON answered; undefined while (or if never) answered. */
  response?: { status: number; body: unknown };
  /** The message accepted, when one was. */
  message?: VonageFakeMessage;
}

export interface VonageFakePart {
  messageId: string;
  text: string;
  price: string;
}

export interface VonageFakeMessage {
  to: string;
  from: string;
  text: string;
  type: string;
  clientRef?: string;
  callback?: string;
  ttl?: number;
  parts: VonageFakePart[];
  /** The part ids, in order. */
  messageIds: string[];
  acceptedAt: string;
}

export interface VonageReceiptOptions {
  /** How the receipt is sent (Vonage's dashboard setting); default POST with a JSON body. */
  method?: 'GET' | 'POST-JSON' | 'POST-FORM';
  /** `err-code` (defaults: 0 for delivered, 1 for unknown, 2 for expired, 6 for rejected, 8 for failed). */
  errCode?: string;
  /** Sign with this secret instead of the account's (a forged receipt). */
  signatureSecret?: string;
  /** Change a field after signing (a tampered receipt). */
  tamper?: boolean;
  /** Send it without timestamp, nonce and sig. */
  unsigned?: boolean;
  /** Unix seconds of the signed `timestamp` (default now). */
  timestamp?: number;
  /** Extra or overriding receipt fields. */
  params?: Record<string, string>;
  /** Send to this URL instead of the message's `callback`. */
  url?: string;
}

export interface VonageReceipt {
  method: 'GET' | 'POST';
  url: string;
  headers: Record<string, string>;
  body: string;
  params: Record<string, string>;
}

export interface VonageFake {
  readonly url: string;
  readonly requests: VonageRecordedRequest[];
  /** Messages the fake accepted (including those of acceptThenHang). */
  readonly accepted: VonageFakeMessage[];
  setFault(fault: VonageFault): Promise<void>;
  /** A signed delivery receipt for one part, without sending it. */
  receipt(messageId: string, status: string, options?: VonageReceiptOptions): VonageReceipt;
  /** Sends a signed delivery receipt for one part to the message's callback. */
  sendReceipt(messageId: string, status: string, options?: VonageReceiptOptions): Promise<PostResult>;
  close(): Promise<void>;
}

export interface VonageFakeOptions {
  apiKey: string;
  /** Accepts api_secret authentication when set. */
  apiSecret?: string;
  /** Accepts signed requests and signs receipts when set. */
  signatureSecret?: string;
  signatureMethod?: VonageSignatureMethod;
  /** Price per part, as Vonage reports it (default "0.03330000"). */
  pricePerPart?: string;
}

const MAX_SKEW_S = 300;
const MAX_PARTS = 30;
const NETWORK = '23410';
const ERROR_TEXTS: Record<string, string> = {
  '1': 'Throughput Rate Exceeded - please wait [ 1000 ] and retry',
  '2': 'Missing Parameters',
  '3': 'Invalid Parameters',
  '4': 'Bad Credentials',
  '5': 'Internal Error',
  '6': 'Invalid Message',
  '7': 'Number barred.',
  '8': 'Partner account barred.',
  '9': 'Partner quota exceeded.',
  '12': 'Message too long',
  '14': 'Invalid Signature',
  '15': 'Illegal Sender Address - rejected',
  '29': 'Non White-listed Destination - rejected',
  '32': 'Signature And API Secret Disallowed',
  '33': 'Number De-activated.',
};
const DEFAULT_ERR_CODES: Record<string, string> = {
  delivered: '0',
  accepted: '0',
  buffered: '0',
  unknown: '1',
  expired: '2',
  rejected: '6',
  failed: '8',
};
const HMAC: Record<Exclude<VonageSignatureMethod, 'md5hash'>, string> = {
  md5hmac: 'md5',
  sha1hmac: 'sha1',
  sha256hmac: 'sha256',
  sha512hmac: 'sha512',
};

/** Vonage's signed-parameters signature (sorted `&key=value`, `&`/`=` in values as `_`). */
export function signVonage(
  params: Record<string, string>,
  secret: string,
  method: VonageSignatureMethod,
): string {
  let query = '';
  for (const key of Object.keys(params).sort()) {
    if (key !== 'sig') query += `&${key}=${params[key]!.replace(/[&=]/g, '_')}`;
  }
  if (method === 'md5hash')
    return createHash('md5')
      .update(query + secret)
      .digest('hex');
  return createHmac(HMAC[method], secret).update(query).digest('hex');
}

/** Splits as Vonage does: one part up to 160 GSM / 70 UCS-2 characters, else parts of 153 / 67. */
function split(text: string, unicode: boolean): string[] {
  const single = unicode ? 70 : 160;
  const part = unicode ? 67 : 153;
  if (text.length <= single) return [text];
  const parts: string[] = [];
  for (let i = 0; i < text.length; i += part) parts.push(text.slice(i, i + part));
  return parts;
}

function utc(at: Date): string {
  return at.toISOString().slice(0, 19).replace('T', ' ');
}

export async function startVonageFake(options: VonageFakeOptions): Promise<VonageFake> {
  const method = options.signatureMethod ?? 'md5hash';
  const pricePerPart = options.pricePerPart ?? '0.03330000';
  const requests: VonageRecordedRequest[] = [];
  const accepted: VonageFakeMessage[] = [];
  let balance = 100;
  let fault: VonageFault;

  function answer(res: ServerResponse, record: VonageRecordedRequest, body: unknown) {
    record.response = { status: 200, body };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  function failure(res: ServerResponse, record: VonageRecordedRequest, code: string, text?: string) {
    answer(res, record, {
      'message-count': '1',
      messages: [{ status: code, 'error-text': text ?? ERROR_TEXTS[code] ?? `Error ${code}` }],
    });
  }

  const same = (a: string, b: string) => {
    const x = createHash('sha256').update(a).digest();
    const y = createHash('sha256').update(b).digest();
    return timingSafeEqual(x, y);
  };

  /** The status code of an authentication failure, or undefined when the credentials hold. */
  function authFailure(params: Record<string, string>): string | undefined {
    if (!params.api_key) return '2';
    if (!same(params.api_key, options.apiKey)) return '4';
    if (params.sig !== undefined) {
      if (params.api_secret !== undefined) return '32';
      if (!options.signatureSecret) return '14';
      const timestamp = Number(params.timestamp);
      if (!Number.isFinite(timestamp) || Math.abs(Date.now() / 1000 - timestamp) > MAX_SKEW_S) return '14';
      const expected = signVonage(params, options.signatureSecret, method);
      return same(params.sig.toLowerCase(), expected) ? undefined : '14';
    }
    if (!options.apiSecret || params.api_secret === undefined) return '4';
    return same(params.api_secret, options.apiSecret) ? undefined : '4';
  }

  function invalid(params: Record<string, string>): [string, string] | undefined {
    if (!params.from) return ['2', 'Missing from param'];
    if (!params.to) return ['2', 'Missing to param'];
    if (!params.text) return ['2', 'Missing text param'];
    if (!/^\d{7,15}$/.test(params.to)) return ['3', 'Invalid to address'];
    const type = params.type ?? 'text';
    if (type !== 'text' && type !== 'unicode') return ['3', 'Invalid type'];
    return undefined;
  }

  /** Records the message as accepted with its first `limit` parts (all by default). */
  function accept(params: Record<string, string>, limit?: number): VonageFakeMessage {
    const type = params.type ?? 'text';
    const parts = split(params.text!, type === 'unicode')
      .slice(0, limit)
      .map((text) => ({
        messageId: randomUUID(),
        text,
        price: pricePerPart,
      }));
    const message: VonageFakeMessage = {
      to: params.to!,
      from: params.from!,
      text: params.text!,
      type,
      parts,
      messageIds: parts.map((p) => p.messageId),
      acceptedAt: new Date().toISOString(),
    };
    if (params['client-ref']) message.clientRef = params['client-ref'];
    if (params.callback) message.callback = params.callback;
    if (params.ttl) message.ttl = Number(params.ttl);
    if (parts.length > 0) accepted.push(message);
    return message;
  }

  function partAnswer(message: VonageFakeMessage, part: VonageFakePart) {
    balance -= Number(part.price);
    const entry: Record<string, string> = {
      to: message.to,
      'message-id': part.messageId,
      status: '0',
      'remaining-balance': balance.toFixed(8),
      'message-price': part.price,
      network: NETWORK,
    };
    if (message.clientRef) entry['client-ref'] = message.clientRef;
    return entry;
  }

  function handle(res: ServerResponse, record: VonageRecordedRequest) {
    if (record.path !== '/sms/json' || (record.method !== 'POST' && record.method !== 'GET')) {
      record.response = { status: 404, body: 'Not Found' };
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('Not Found');
      return;
    }
    const params = record.params;
    const auth = authFailure(params);
    if (auth) {
      failure(res, record, auth, auth === '2' ? 'Missing api_key' : undefined);
      return;
    }
    record.authenticated = true;
    const current = fault;
    if (current?.kind === 'hang') return;
    if (current?.kind === 'status') {
      record.response = { status: current.status, body: 'html' };
      return htmlError(res, current.status);
    }
    if (current?.kind === 'throttle') {
      const ms = Math.round(current.retryAfterSeconds * 1000);
      failure(res, record, '1', `Throughput Rate Exceeded - please wait [ ${ms} ] and retry`);
      return;
    }
    if (current?.kind === 'error' && current.afterParts === undefined) {
      failure(res, record, String(current.code));
      return;
    }
    const bad = invalid(params);
    if (bad) {
      failure(res, record, bad[0], bad[1]);
      return;
    }
    const parts = split(params.text!, params.type === 'unicode').length;
    if (parts > MAX_PARTS) {
      failure(res, record, '12');
      return;
    }
    if (current?.kind === 'error') {
      // Vonage submits parts one by one, so a failure can come after some parts went out.
      const message = accept(params, current.afterParts);
      const sentParts = message.parts;
      if (sentParts.length > 0) record.message = message;
      const code = String(current.code);
      const failed = Array.from({ length: parts - sentParts.length }, () => ({
        status: code,
        'error-text': ERROR_TEXTS[code] ?? `Error ${code}`,
      }));
      answer(res, record, {
        'message-count': String(parts),
        messages: [...sentParts.map((p) => partAnswer(message, p)), ...failed],
      });
      return;
    }
    const message = accept(params);
    record.message = message;
    if (current?.kind === 'acceptThenHang') return;
    answer(res, record, {
      'message-count': String(message.parts.length),
      messages: message.parts.map((p) => partAnswer(message, p)),
    });
  }

  const http = await startFakeHttp(
    (exchange) => {
      const { req, res, url } = exchange;
      const record: VonageRecordedRequest = { ...exchange.record(''), path: url.pathname, params: {} };
      requests.push(record);
      void exchange.body.then((text) => {
        record.body = text;
        for (const [key, value] of url.searchParams) record.params[key] = value;
        if ((req.headers['content-type'] ?? '').includes('json')) {
          try {
            const json = JSON.parse(record.body) as Record<string, unknown>;
            for (const [key, value] of Object.entries(json)) {
              if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
                record.params[key] = String(value);
              }
            }
          } catch {
            failure(res, record, '3', 'Invalid JSON');
            return;
          }
        } else {
          for (const [key, value] of new URLSearchParams(record.body)) record.params[key] = value;
        }
        handle(res, record);
      });
    },
    { closeEachConnection: true },
  );

  function receipt(messageId: string, status: string, opts: VonageReceiptOptions = {}): VonageReceipt {
    const message = accepted.find((m) => m.messageIds.includes(messageId));
    if (!message) throw new Error(`vonage fake: no accepted part ${messageId}`);
    const target = opts.url ?? message.callback;
    if (!target) throw new Error(`vonage fake: message of part ${messageId} has no callback`);
    const part = message.parts.find((p) => p.messageId === messageId)!;
    const now = new Date();
    const params: Record<string, string> = {
      msisdn: message.to,
      to: message.from,
      'network-code': NETWORK,
      messageId,
      price: part.price,
      status,
      scts: now.toISOString().replace(/\D/g, '').slice(2, 12),
      'err-code': opts.errCode ?? DEFAULT_ERR_CODES[status] ?? '99',
      'api-key': options.apiKey,
      'message-timestamp': utc(now),
    };
    if (message.clientRef) params['client-ref'] = message.clientRef;
    Object.assign(params, opts.params);
    const secret = opts.signatureSecret ?? options.signatureSecret;
    if (!opts.unsigned && secret) {
      params.timestamp = String(opts.timestamp ?? Math.floor(now.getTime() / 1000));
      params.nonce = randomUUID();
      params.sig = signVonage(params, secret, method);
    }
    if (opts.tamper) params.status = status === 'delivered' ? 'failed' : 'delivered';
    const kind = opts.method ?? 'POST-JSON';
    if (kind === 'GET') {
      const url = new URL(target);
      for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
      return { method: 'GET', url: url.href, headers: {}, body: '', params };
    }
    if (kind === 'POST-FORM') {
      return {
        method: 'POST',
        url: target,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(params).toString(),
        params,
      };
    }
    return {
      method: 'POST',
      url: target,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(params),
      params,
    };
  }

  return {
    url: http.url,
    requests,
    accepted,
    setFault(next: VonageFault): Promise<void> {
      fault = next;
      return http.setRefusing(next?.kind === 'refuse');
    },
    receipt,
    sendReceipt(messageId, status, opts) {
      const dlr = receipt(messageId, status, opts);
      const init: RequestInit = { method: dlr.method, headers: dlr.headers };
      if (dlr.method === 'POST') init.body = dlr.body;
      return http.post(dlr.url, init);
    },
    close: () => http.close(),
  };
}
