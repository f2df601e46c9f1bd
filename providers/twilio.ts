import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { PigeonError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { ReceiptStatus } from '../core/message.ts';
import {
  ambiguousAnswer,
  classifyHttpStatus,
  httpStatusError,
  optionalString,
  optionalUrl,
  parseRetryAfter,
  providerFetch,
  type ProviderResponse,
  requireString,
  responseText,
} from './http.ts';
import {
  type ErrorClass,
  header,
  type InboundHttpRequest,
  type InboundSms,
  type ParsedReceipt,
  type ProviderAdapter,
  ProviderError,
  type ProviderFactory,
  type ReceiptAck,
  type SendRequest,
  type SendResult,
} from './provider.ts';
import { ProviderEvents } from './events.ts';

/**
 * Twilio Programmable Messaging (REST API 2010-04-01), sent with fetch.
 *
 * Why not the twilio SDK: it takes no AbortSignal, so our send timeout could not cancel the
 * request, and it folds refused connections and resets into one error, losing "certainly not
 * sent" versus "maybe sent". The API is one form-encoded POST with Basic auth.
 *
 * Status callbacks are signed with X-Twilio-Signature (HMAC-SHA1 keyed by the auth token over
 * the URL and the sorted POST parameters). The callback URL carries our message id, which the
 * signature covers: Twilio echoes no client reference, and without it a receipt for a send whose
 * answer we never got (a timeout after Twilio took it) could not be matched.
 */

export const TWILIO_API = 'https://api.twilio.com';
export const TWILIO_SIGNATURE_HEADER = 'x-twilio-signature';
/** Query parameter of the status callback URL that carries our message id. */
export const TWILIO_REFERENCE_PARAM = 'pigeonRef';
/** Twilio's largest ValidityPeriod; a message that may live longer gets Twilio's default. */
export const TWILIO_MAX_VALIDITY_SECONDS = 36_000;
const API_VERSION = '2010-04-01';
const ACCOUNT_SID = /^AC[0-9a-fA-F]{32}$/;
const MESSAGING_SERVICE_SID = /^MG[0-9a-fA-F]{32}$/;

export interface TwilioSettings {
  accountSid: string;
  authToken: string;
  baseUrl: string;
  /** Sender used when routing gives none and no Messaging Service is configured. */
  from?: string;
  /** When set, Twilio picks the sender from the service's pool (unless routing names one). */
  messagingServiceSid?: string;
}

/**
 * Classes of Twilio REST error codes (twilio.com/docs/api/errors). The line drawn: what is wrong
 * with the recipient or the message is permanent; what is wrong with our Twilio account, sender
 * or region settings is retryable, because another provider may well deliver the same message.
 * Codes not listed are classed by HTTP status.
 */
export const TWILIO_ERROR_CLASSES: Readonly<Record<string, ErrorClass>> = Object.freeze({
  // The recipient or the message itself.
  '21211': 'permanent', // invalid 'To' number
  '21401': 'permanent', // invalid phone number
  '21407': 'permanent', // number type does not support SMS
  '21614': 'permanent', // 'To' is not a mobile number (landline)
  '21265': 'permanent', // 'To' is a short code
  '21266': 'permanent', // 'To' and 'From' are the same
  '21604': 'permanent', // 'To' missing
  '21602': 'permanent', // body missing
  '21617': 'permanent', // body longer than 1600 characters
  '21619': 'permanent', // neither body nor media
  '30005': 'permanent', // unknown destination handset
  '30006': 'permanent', // landline or unreachable carrier
  '21610': 'opted_out', // recipient replied STOP to this sender
  // Carrier spam filtering and Twilio's SMS-pumping protection.
  '30007': 'fraud_blocked',
  '30450': 'fraud_blocked',
  // Our account, sender or geo settings: this provider cannot send it, another may.
  '21408': 'retryable', // region not enabled in Geo Permissions
  '21612': 'retryable', // Twilio cannot route this To/From combination
  '21603': 'retryable', // 'From' missing
  '21606': 'retryable', // 'From' is not SMS-capable
  '21212': 'retryable', // invalid 'From'
  '21659': 'retryable', // 'From' is not a Twilio number
  '21660': 'retryable', // 'From' belongs to another account
  '21608': 'retryable', // trial account, 'To' not verified
  '30002': 'retryable', // account suspended
  '30034': 'retryable', // unregistered US A2P 10DLC sender
  '20003': 'retryable', // authentication failed
  '20005': 'retryable', // account not active
  '20500': 'retryable',
  '20503': 'retryable',
  '30008': 'retryable',
  // Rate and queue limits.
  '20429': 'throttled', // too many concurrent requests
  '21611': 'throttled', // the sender's queue is full (10 h of traffic)
  '14107': 'throttled', // send rate between two numbers exceeded
  '30022': 'throttled', // US A2P 10DLC rate limit
  '30001': 'throttled', // queue overflow
});

/** Normalised status of a status-callback `MessageStatus`; intermediate ones are absent. */
const FINAL_STATUSES: Readonly<Record<string, ReceiptStatus>> = Object.freeze({
  delivered: 'delivered',
  // Reading implies delivery; it also settles a message whose `delivered` callback was lost.
  read: 'delivered',
  undelivered: 'undelivered',
  // Twilio itself did not hand it to a carrier (queue overflow, suspended account, filtering).
  failed: 'rejected',
  canceled: 'rejected',
  partially_delivered: 'undelivered',
});
const INTERMEDIATE_STATUSES = new Set([
  'queued',
  'accepted',
  'scheduled',
  'sending',
  'sent',
  'receiving',
  'received',
]);

export type TwilioParams = Record<string, string | string[]>;

/** X-Twilio-Signature over `url` exactly as given and the POST parameters. */
export function twilioSignature(authToken: string, url: string, params: TwilioParams): string {
  let data = url;
  for (const key of Object.keys(params).sort()) {
    const value = params[key]!;
    // Repeated parameters: each distinct value once, in order (as twilio-node does).
    const values = Array.isArray(value) ? [...new Set(value)].sort() : [value];
    for (const v of values) data += key + v;
  }
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

/**
 * The forms of a URL Twilio may have signed. Twilio is not consistent about ports, so like
 * twilio-node we accept the URL as given, with its port (the scheme's default written out when
 * absent) and with no port at all.
 */
export function twilioUrlVariants(url: string): string[] {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return [url];
  }
  const variants = new Set([url]);
  const userinfo = parsed.username
    ? `${parsed.username}${parsed.password ? `:${parsed.password}` : ''}@`
    : '';
  const rest = `${parsed.pathname}${parsed.search}${parsed.hash}`;
  variants.add(`${parsed.protocol}//${userinfo}${parsed.hostname}${rest}`);
  // URL drops a default port, so `port` is empty for one written out as well as for none.
  const port =
    parsed.port || (parsed.protocol === 'https:' ? '443' : parsed.protocol === 'http:' ? '80' : '');
  if (port) variants.add(`${parsed.protocol}//${userinfo}${parsed.hostname}:${port}${rest}`);
  return [...variants];
}

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** Whether `signature` is Twilio's for the URL (in any of its port forms) and parameters. */
export function validTwilioSignature(
  authToken: string,
  signature: string,
  url: string,
  params: TwilioParams,
): boolean {
  // Comparing digests keeps the comparison constant-time whatever the given length.
  const given = digest(signature);
  let valid = false;
  for (const variant of twilioUrlVariants(url)) {
    if (timingSafeEqual(given, digest(twilioSignature(authToken, variant, params)))) valid = true;
  }
  return valid;
}

interface TwilioAnswer {
  sid?: unknown;
  num_segments?: unknown;
  price?: unknown;
  code?: unknown;
  message?: unknown;
}

export class TwilioProvider implements ProviderAdapter {
  readonly type = 'twilio';
  /** Empty TwiML: Twilio needs nothing back but a 2xx. */
  readonly receiptAck: ReceiptAck = { contentType: 'text/xml', body: '<Response/>' };
  private readonly endpoint: string;
  private readonly authorization: string;

  constructor(
    readonly name: string,
    private readonly settings: TwilioSettings,
    private readonly logger: Logger,
  ) {
    this.endpoint = new URL(
      `${API_VERSION}/Accounts/${settings.accountSid}/Messages.json`,
      settings.baseUrl.endsWith('/') ? settings.baseUrl : `${settings.baseUrl}/`,
    ).href;
    this.authorization = `Basic ${Buffer.from(`${settings.accountSid}:${settings.authToken}`).toString('base64')}`;
  }

  async send(request: SendRequest, signal: AbortSignal): Promise<SendResult> {
    const form = new URLSearchParams({ To: request.to, Body: request.body });
    if (this.settings.messagingServiceSid) {
      form.set('MessagingServiceSid', this.settings.messagingServiceSid);
      if (request.from) form.set('From', request.from);
    } else {
      const from = request.from ?? this.settings.from;
      if (!from) {
        throw new ProviderError(
          'retryable',
          'NO_SENDER',
          `${this.name}: no From number or MessagingServiceSid`,
        );
      }
      form.set('From', from);
    }
    form.set('StatusCallback', withReference(request.callbackUrl, request.messageId));
    const validity = validityPeriodSeconds(request.expiresAt);
    if (validity !== undefined) form.set('ValidityPeriod', String(validity));

    const response = await providerFetch(
      this.endpoint,
      {
        method: 'POST',
        headers: {
          authorization: this.authorization,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: form.toString(),
      },
      signal,
    );
    if (!response.ok) {
      // The status is known already; a body we cannot read does not change the class.
      const text = await response.text().catch(() => '');
      throw this.errorFrom(response, text);
    }
    const answer = parseAnswer(await responseText(response, signal));
    if (typeof answer.sid !== 'string' || answer.sid === '') {
      throw ambiguousAnswer('BAD_RESPONSE', `${this.name}: answer without a sid`);
    }
    const result: SendResult = { providerMessageId: answer.sid };
    const segments = Number(answer.num_segments);
    if (Number.isInteger(segments) && segments > 0) result.segments = segments;
    // Twilio reports charges as negative amounts, and usually only once the message is sent.
    if (answer.price !== null && answer.price !== undefined && answer.price !== '') {
      const price = Number(answer.price);
      if (Number.isFinite(price)) result.cost = Math.abs(price);
    }
    return result;
  }

  private errorFrom(response: ProviderResponse, text: string): ProviderError {
    const answer = parseAnswer(text);
    const retryAfter = response.headers.get('retry-after');
    const code =
      typeof answer.code === 'number' || (typeof answer.code === 'string' && /^\d+$/.test(answer.code))
        ? String(answer.code)
        : undefined;
    if (!code) return httpStatusError(this.name, response);
    const detail = typeof answer.message === 'string' ? `: ${answer.message.slice(0, 200)}` : '';
    const message = `${this.name} ${code}${detail}`;
    const errorClass = TWILIO_ERROR_CLASSES[code];
    if (!errorClass) return classifyHttpStatus(response.status, code, message, retryAfter);
    const retryAfterMs =
      errorClass === 'throttled' || errorClass === 'retryable' ? parseRetryAfter(retryAfter) : undefined;
    return new ProviderError(errorClass, code, message, retryAfterMs === undefined ? {} : { retryAfterMs });
  }

  async parseReceipt(request: InboundHttpRequest): Promise<ParsedReceipt[]> {
    const { url, fields } = this.verified(request, 'receipt');
    const sid = fields.MessageSid ?? fields.SmsSid;
    const status = fields.MessageStatus ?? fields.SmsStatus;
    if (!sid || !status) {
      throw new PigeonError('PIGEON_ERR_VALIDATION', 'status callback needs MessageSid and MessageStatus');
    }
    if (INTERMEDIATE_STATUSES.has(status)) return [];
    const normalised = FINAL_STATUSES[status];
    if (!normalised) {
      this.logger.warn({ provider: this.name, status }, ProviderEvents.receiptUnrecognisedStatus);
      return [];
    }
    const errorCode = fields.ErrorCode && fields.ErrorCode !== '0' ? fields.ErrorCode : undefined;
    const receipt: ParsedReceipt = {
      providerMessageId: sid,
      status: normalised,
      providerStatus: normalised === 'delivered' ? status : (errorCode ?? status),
    };
    const reference = url.searchParams.get(TWILIO_REFERENCE_PARAM);
    if (reference) receipt.reference = reference;
    const doneAt = fields.RawDlrDoneDate ? carrierDate(fields.RawDlrDoneDate) : undefined;
    if (doneAt) receipt.doneAt = doneAt;
    return [receipt];
  }

  /**
   * Twilio's incoming-message webhook (the number's "A message comes in" URL): form-encoded From,
   * To, Body and MessageSid, signed exactly like status callbacks.
   */
  async parseInbound(request: InboundHttpRequest): Promise<InboundSms[]> {
    const { fields } = this.verified(request, 'inbound');
    const sid = fields.MessageSid ?? fields.SmsSid;
    if (!sid || !fields.From || !fields.To) {
      throw new PigeonError('PIGEON_ERR_VALIDATION', 'incoming message needs MessageSid, From and To');
    }
    return [{ from: fields.From, to: fields.To, body: fields.Body ?? '', providerMessageId: sid }];
  }

  /** The request's URL and fields once its X-Twilio-Signature holds; PIGEON_ERR_RECEIPT_SIGNATURE else. */
  private verified(
    request: InboundHttpRequest,
    what: 'receipt' | 'inbound',
  ): { url: URL; fields: Record<string, string> } {
    const signature = header(request, TWILIO_SIGNATURE_HEADER);
    if (!signature) throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', 'missing X-Twilio-Signature');
    let url: URL;
    try {
      url = new URL(request.fullUrl);
    } catch {
      throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', `${what} URL cannot be verified`);
    }
    return { url, fields: this.verifiedFields(request, url, signature) };
  }

  /** The callback's parameters, once its signature holds; throws PIGEON_ERR_RECEIPT_SIGNATURE. */
  private verifiedFields(request: InboundHttpRequest, url: URL, signature: string): Record<string, string> {
    const bodyHash = url.searchParams.get('bodySHA256');
    if (bodyHash !== null) {
      // JSON webhooks: the signature covers the URL alone, and the URL carries the body's hash.
      const actual = createHash('sha256').update(request.rawBody, 'utf8').digest('hex');
      const hashMatches = timingSafeEqual(digest(bodyHash.toLowerCase()), digest(actual));
      if (!validTwilioSignature(this.settings.authToken, signature, request.fullUrl, {}) || !hashMatches) {
        throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', 'Twilio signature does not match');
      }
      let body: unknown;
      try {
        body = JSON.parse(request.rawBody);
      } catch (cause) {
        throw new PigeonError('PIGEON_ERR_MALFORMED_JSON', 'status callback is not JSON', { cause });
      }
      const fields: Record<string, string> = {};
      if (typeof body === 'object' && body !== null) {
        for (const [key, value] of Object.entries(body)) {
          if (typeof value === 'string' || typeof value === 'number') fields[key] = String(value);
        }
      }
      return fields;
    }
    const form = new URLSearchParams(request.rawBody);
    const params: TwilioParams = {};
    const fields: Record<string, string> = {};
    for (const key of new Set(form.keys())) {
      const values = form.getAll(key);
      params[key] = values.length === 1 ? values[0]! : values;
      fields[key] = values[0]!;
    }
    if (!validTwilioSignature(this.settings.authToken, signature, request.fullUrl, params)) {
      throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', 'Twilio signature does not match');
    }
    return fields;
  }
}

function parseAnswer(text: string): TwilioAnswer {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? value : {};
  } catch {
    return {};
  }
}

function withReference(callbackUrl: string, messageId: string): string {
  const url = new URL(callbackUrl);
  url.searchParams.set(TWILIO_REFERENCE_PARAM, messageId);
  return url.href;
}

/** Seconds left until `expiresAt`, when within Twilio's ValidityPeriod range; else undefined. */
export function validityPeriodSeconds(expiresAt: string, now = Date.now()): number | undefined {
  const at = Date.parse(expiresAt);
  if (Number.isNaN(at)) return undefined;
  const seconds = Math.floor((at - now) / 1000);
  if (seconds > TWILIO_MAX_VALIDITY_SECONDS) return undefined;
  // Already (nearly) expired: the shortest life Twilio allows rather than its 10-hour default.
  return Math.max(1, seconds);
}

/** `RawDlrDoneDate` (YYMMDDhhmm, or with seconds, in UTC) as an ISO time. */
function carrierDate(value: string): string | undefined {
  const m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?$/.exec(value.trim());
  if (!m) return undefined;
  const at = Date.UTC(
    2000 + Number(m[1]),
    Number(m[2]) - 1,
    Number(m[3]),
    Number(m[4]),
    Number(m[5]),
    Number(m[6] ?? 0),
  );
  return Number.isNaN(at) ? undefined : new Date(at).toISOString();
}

export const createTwilio: ProviderFactory = (name, options, deps) => {
  const baseUrl = optionalUrl(options, 'baseUrl', name, TWILIO_API);
  const accountSid = requireString(options, 'accountSid', name);
  if (!ACCOUNT_SID.test(accountSid)) {
    throw new PigeonError(
      'PIGEON_ERR_CONFIG',
      `provider "${name}": option "accountSid" must look like AC + 32 hex digits`,
    );
  }
  const settings: TwilioSettings = {
    accountSid,
    authToken: requireString(options, 'authToken', name),
    baseUrl,
  };
  const from = optionalString(options, 'from', name);
  if (from) settings.from = from;
  const messagingServiceSid = optionalString(options, 'messagingServiceSid', name);
  if (messagingServiceSid) {
    if (!MESSAGING_SERVICE_SID.test(messagingServiceSid)) {
      throw new PigeonError(
        'PIGEON_ERR_CONFIG',
        `provider "${name}": option "messagingServiceSid" must look like MG + 32 hex digits`,
      );
    }
    settings.messagingServiceSid = messagingServiceSid;
  }
  return new TwilioProvider(name, settings, deps.logger);
};
