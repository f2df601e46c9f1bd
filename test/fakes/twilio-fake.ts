import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { countSegments } from '../../core/segments.ts';
import { type FakeRequest, htmlError, type HttpFault, type PostResult, startFakeHttp } from './fake-http.ts';

/**
 * A local Twilio Programmable Messaging endpoint: `POST /2010-04-01/Accounts/{Sid}/Messages.json`
 * with HTTP Basic auth, form-encoded fields and Twilio's JSON answers (201 with an `SM…` sid,
 * errors as `{code, message, more_info, status}`). It posts status callbacks signed with
 * X-Twilio-Signature to the message's StatusCallback, as Twilio does, and plays scripted faults.
 */

export type TwilioFault =
  /** `status` answers every send with an HTML page, as a load balancer would; `hang` never answers. */
  | HttpFault
  | { kind: 'throttle'; retryAfterSeconds: number }
  /** Answers with this Twilio error code (e.g. 21211) and the HTTP status Twilio uses for it. */
  | { kind: 'error'; code: number | string }
  /** Accepts the message (it will be "delivered"), then never answers: an ambiguous send. */
  | { kind: 'acceptThenHang' }
  /** Stops listening, so connections are refused; clearing the fault listens on the same port. */
  | { kind: 'refuse' }
  | undefined;

/** `authenticated`: whether Basic auth held. */
export interface TwilioRecordedRequest extends FakeRequest {
  /** The form fields (first value of each). */
  form: Record<string, string>;
  /** HTTP status answered; undefined while (or if never) answered. */
  status?: number;
  /** The sid of the message created, when one was. */
  sid?: string;
}

export interface TwilioFakeMessage {
  sid: string;
  accountSid: string;
  to: string;
  from?: string;
  messagingServiceSid?: string;
  body: string;
  statusCallback?: string;
  validityPeriod?: number;
  numSegments: number;
  status: string;
  dateCreated: string;
}

export interface TwilioReceiptOptions {
  /** `ErrorCode` to report (defaults: 30003 for undelivered, 30008 for failed). */
  errorCode?: string;
  /** Extra or overriding callback parameters. */
  params?: Record<string, string>;
  /** Sign with this token instead of the account's (a forged callback). */
  authToken?: string;
  /** Change a parameter after signing (a tampered callback). */
  tamper?: boolean;
  /** Post to this URL instead of the message's StatusCallback. */
  url?: string;
}

export interface TwilioCallback {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface TwilioFake {
  readonly url: string;
  readonly accountSid: string;
  readonly authToken: string;
  /** Every request received, in order. */
  readonly requests: TwilioRecordedRequest[];
  /** Messages the fake accepted (including those of acceptThenHang). */
  readonly accepted: TwilioFakeMessage[];
  /** Sets the fault for the next requests; resolves once the listening socket matches it. */
  setFault(fault: TwilioFault): Promise<void>;
  /** A signed status callback for an accepted message, without sending it. */
  callback(sid: string, status: string, options?: TwilioReceiptOptions): TwilioCallback;
  /** POSTs a signed status callback to the message's StatusCallback. */
  sendReceipt(sid: string, status: string, options?: TwilioReceiptOptions): Promise<PostResult>;
  close(): Promise<void>;
}

export interface TwilioFakeOptions {
  accountSid?: string;
  authToken?: string;
}

const API_VERSION = '2010-04-01';
const MESSAGES_PATH = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/;
const E164 = /^\+[1-9]\d{6,14}$/;
const MAX_BODY = 1600;

/** HTTP status and message Twilio answers for its error codes; others are 400s. */
const ERRORS: Record<string, { status: number; message: string }> = {
  '20003': { status: 401, message: 'Authenticate' },
  '20404': { status: 404, message: 'The requested resource was not found' },
  '20429': { status: 429, message: 'Too Many Requests' },
  '20500': { status: 500, message: 'Internal Server Error' },
  '20503': { status: 503, message: 'Service Unavailable' },
  '21211': { status: 400, message: "The 'To' number is not a valid phone number." },
  '21408': {
    status: 400,
    message: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number",
  },
  '21602': { status: 400, message: 'Message body is required.' },
  '21603': { status: 400, message: "A 'From' phone number is required." },
  '21604': { status: 400, message: "A 'To' phone number is required." },
  '21610': { status: 400, message: 'Attempt to send to unsubscribed recipient' },
  '21611': { status: 400, message: "This 'From' number has exceeded the maximum number of queued messages" },
  '21612': { status: 400, message: "The 'To' phone number is not currently reachable via SMS" },
  '21614': { status: 400, message: "'To' number is not a valid mobile number" },
  '21617': { status: 400, message: 'The concatenated message body exceeds the 1600 character limit.' },
  '30007': { status: 400, message: 'Message filtered' },
  '30450': { status: 400, message: 'Message delivery blocked' },
};

function twilioDate(at: Date): string {
  return at.toUTCString().replace('GMT', '+0000');
}

/** X-Twilio-Signature: HMAC-SHA1 over the URL and the sorted parameters, base64. */
export function signTwilio(authToken: string, url: string, params: Record<string, string>): string {
  let data = url;
  for (const key of Object.keys(params).sort()) data += key + params[key]!;
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

export async function startTwilioFake(options: TwilioFakeOptions = {}): Promise<TwilioFake> {
  const accountSid = options.accountSid ?? `AC${randomBytes(16).toString('hex')}`;
  const authToken = options.authToken ?? randomBytes(16).toString('hex');
  const expectedAuth = Buffer.from(`Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`);
  const requests: TwilioRecordedRequest[] = [];
  const accepted: TwilioFakeMessage[] = [];
  let fault: TwilioFault;

  function answer(
    res: ServerResponse,
    record: TwilioRecordedRequest,
    status: number,
    body: unknown,
    headers = {},
  ) {
    record.status = status;
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(body));
  }

  function error(res: ServerResponse, record: TwilioRecordedRequest, code: string, headers = {}) {
    const known = ERRORS[code] ?? { status: 400, message: `Error ${code}` };
    const body = {
      code: Number(code),
      message: known.message,
      more_info: `https://www.twilio.com/docs/errors/${code}`,
      status: known.status,
    };
    answer(res, record, known.status, body, headers);
  }

  function authenticated(req: IncomingMessage): boolean {
    const given = Buffer.from(req.headers.authorization ?? '');
    return given.length === expectedAuth.length && timingSafeEqual(given, expectedAuth);
  }

  function validate(form: Record<string, string>): string | undefined {
    if (!form.To) return '21604';
    if (!E164.test(form.To)) return '21211';
    if (!form.From && !form.MessagingServiceSid) return '21603';
    if (!form.Body) return '21602';
    if (form.Body.length > MAX_BODY) return '21617';
    return undefined;
  }

  function createMessage(form: Record<string, string>): TwilioFakeMessage {
    const message: TwilioFakeMessage = {
      sid: `SM${randomBytes(16).toString('hex')}`,
      accountSid,
      to: form.To!,
      body: form.Body!,
      numSegments: countSegments(form.Body!).segments,
      // With a Messaging Service Twilio answers `accepted` and picks the sender later.
      status: form.MessagingServiceSid ? 'accepted' : 'queued',
      dateCreated: twilioDate(new Date()),
    };
    if (form.From) message.from = form.From;
    if (form.MessagingServiceSid) message.messagingServiceSid = form.MessagingServiceSid;
    if (form.StatusCallback) message.statusCallback = form.StatusCallback;
    if (form.ValidityPeriod) message.validityPeriod = Number(form.ValidityPeriod);
    accepted.push(message);
    return message;
  }

  function resource(message: TwilioFakeMessage) {
    const uri = `/${API_VERSION}/Accounts/${accountSid}/Messages/${message.sid}`;
    return {
      account_sid: accountSid,
      api_version: API_VERSION,
      body: message.body,
      date_created: message.dateCreated,
      date_sent: null,
      date_updated: message.dateCreated,
      direction: 'outbound-api',
      error_code: null,
      error_message: null,
      from: message.from ?? null,
      messaging_service_sid: message.messagingServiceSid ?? null,
      num_media: '0',
      num_segments: String(message.numSegments),
      price: null,
      price_unit: 'USD',
      sid: message.sid,
      status: message.status,
      subresource_uris: { media: `${uri}/Media.json` },
      to: message.to,
      uri: `${uri}.json`,
    };
  }

  function handle(req: IncomingMessage, res: ServerResponse, record: TwilioRecordedRequest) {
    const match = MESSAGES_PATH.exec(record.path);
    if (!authenticated(req)) {
      error(res, record, '20003', { 'www-authenticate': 'Basic realm="Twilio API"' });
      return;
    }
    record.authenticated = true;
    if (!match || req.method !== 'POST') {
      error(res, record, '20404');
      return;
    }
    if (match[1] !== accountSid) {
      error(res, record, '20404');
      return;
    }
    const current = fault;
    if (current?.kind === 'hang') return;
    if (current?.kind === 'status') {
      record.status = current.status;
      return htmlError(res, current.status);
    }
    if (current?.kind === 'throttle') {
      error(res, record, '20429', { 'retry-after': String(current.retryAfterSeconds) });
      return;
    }
    if (current?.kind === 'error') {
      error(res, record, String(current.code));
      return;
    }
    const invalid = validate(record.form);
    if (invalid) {
      error(res, record, invalid);
      return;
    }
    const message = createMessage(record.form);
    record.sid = message.sid;
    if (current?.kind === 'acceptThenHang') return;
    answer(res, record, 201, resource(message));
  }

  const http = await startFakeHttp(
    (exchange) => {
      const { req, res, url } = exchange;
      const record: TwilioRecordedRequest = { ...exchange.record(''), path: url.pathname, form: {} };
      requests.push(record);
      void exchange.body.then((text) => {
        record.body = text;
        for (const [key, value] of new URLSearchParams(text)) record.form[key] ??= value;
        handle(req, res, record);
      });
    },
    { closeEachConnection: true },
  );

  function find(sid: string): TwilioFakeMessage {
    const message = accepted.find((m) => m.sid === sid);
    if (!message) throw new Error(`twilio fake: no accepted message ${sid}`);
    return message;
  }

  function callback(sid: string, status: string, opts: TwilioReceiptOptions = {}): TwilioCallback {
    const message = find(sid);
    const target = opts.url ?? message.statusCallback;
    if (!target) throw new Error(`twilio fake: message ${sid} has no StatusCallback`);
    const params: Record<string, string> = {
      AccountSid: accountSid,
      ApiVersion: API_VERSION,
      From: message.from ?? '+15005550006',
      MessageSid: sid,
      MessageStatus: status,
      SmsSid: sid,
      SmsStatus: status,
      To: message.to,
    };
    if (message.messagingServiceSid) params.MessagingServiceSid = message.messagingServiceSid;
    const errorCode =
      opts.errorCode ?? (status === 'undelivered' ? '30003' : status === 'failed' ? '30008' : undefined);
    if (errorCode) params.ErrorCode = errorCode;
    if (status === 'delivered' || status === 'undelivered') {
      params.RawDlrDoneDate = new Date().toISOString().replace(/\D/g, '').slice(2, 12);
    }
    Object.assign(params, opts.params);
    const signature = signTwilio(opts.authToken ?? authToken, target, params);
    if (opts.tamper) params.MessageStatus = status === 'delivered' ? 'undelivered' : 'delivered';
    return {
      url: target,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': signature,
        'user-agent': 'TwilioProxy/1.1',
      },
      body: new URLSearchParams(params).toString(),
    };
  }

  return {
    url: http.url,
    accountSid,
    authToken,
    requests,
    accepted,
    setFault(next: TwilioFault): Promise<void> {
      fault = next;
      return http.setRefusing(next?.kind === 'refuse');
    },
    callback,
    sendReceipt(sid, status, opts) {
      const post = callback(sid, status, opts);
      return http.post(post.url, { method: 'POST', headers: post.headers, body: post.body });
    },
    close: () => http.close(),
  };
}
