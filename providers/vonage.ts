import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { PigeonError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { ReceiptStatus } from '../core/message.ts';
import { isGsm7 } from '../core/segments.ts';
import {
  ambiguousAnswer,
  httpStatusError,
  optionalString,
  optionalUrl,
  providerFetch,
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
  type SendRequest,
  type SendResult,
} from './provider.ts';
import { ProviderEvents } from './events.ts';

/**
 * Vonage SMS API (`POST /sms/json`, formerly Nexmo), sent with fetch.
 *
 * Vonage answers HTTP 200 for nearly every outcome; what counts is each part's `status` in
 * `messages[]`. A long message is split by Vonage into parts, each with its own message id, price
 * and delivery receipt: receipts are returned per part and folded into one status elsewhere.
 *
 * Requests are authenticated with the API secret, or signed (`sig`) when a signature secret is
 * configured. Delivery receipts are only accepted signed: without a signature secret anyone who
 * learns the webhook URL could mark messages delivered, so every receipt is refused.
 */

export const VONAGE_API = 'https://rest.nexmo.com';
export const VONAGE_SIGNATURE_METHODS = [
  'md5hash',
  'md5hmac',
  'sha1hmac',
  'sha256hmac',
  'sha512hmac',
] as const;
export type VonageSignatureMethod = (typeof VONAGE_SIGNATURE_METHODS)[number];
/** Vonage's own names for the methods (dashboard, Ruby and Python SDKs). */
const METHOD_ALIASES: Readonly<Record<string, VonageSignatureMethod>> = {
  md5: 'md5hmac',
  sha1: 'sha1hmac',
  sha256: 'sha256hmac',
  sha512: 'sha512hmac',
};
const HMAC_ALGORITHMS: Readonly<Record<Exclude<VonageSignatureMethod, 'md5hash'>, string>> = {
  md5hmac: 'md5',
  sha1hmac: 'sha1',
  sha256hmac: 'sha256',
  sha512hmac: 'sha512',
};
/** Signed receipts older or newer than this are refused (Vonage's documented tolerance). */
export const VONAGE_SIGNATURE_TOLERANCE_MS = 5 * 60_000;
/** Vonage's `ttl` bounds, in ms. */
const MIN_TTL_MS = 20_000;
const MAX_TTL_MS = 604_800_000;
/** Vonage's default throughput is per second; without its own hint, back off that long. */
const DEFAULT_THROTTLE_MS = 1_000;

export interface VonageSettings {
  apiKey: string;
  apiSecret?: string;
  signatureSecret?: string;
  signatureMethod: VonageSignatureMethod;
  baseUrl: string;
  from?: string;
}

/**
 * Classes of the SMS API's per-part `status` (developer.vonage.com/en/api-errors/sms). Permanent:
 * what is wrong with this recipient or message. Retryable: what is wrong with our account, keys,
 * sender or webhook settings, since another provider may deliver the same message. 7 (number
 * barred) is fraud_blocked: Vonage bars numbers on its abuse blocklist, while opt-outs are
 * reported differently (accepted, then a receipt with err-code 9), so 7 is not an opt-out.
 */
export const VONAGE_STATUS_CLASSES: Readonly<Record<string, ErrorClass>> = Object.freeze({
  '1': 'throttled', // sending faster than the account limit
  '2': 'permanent', // missing parameters
  '3': 'permanent', // invalid parameters (usually the `to` number)
  '4': 'retryable', // invalid credentials
  '5': 'retryable', // internal error
  '6': 'permanent', // invalid message, e.g. unrecognised number prefix
  '7': 'fraud_blocked', // number barred
  '8': 'retryable', // account suspended
  '9': 'retryable', // out of credit
  '10': 'throttled', // too many binds
  '11': 'retryable', // account not enabled for HTTP
  '12': 'permanent', // message too long
  '14': 'retryable', // invalid signature
  '15': 'retryable', // sender id not allowed for this destination
  '16': 'permanent', // invalid ttl
  '19': 'retryable', // facility not allowed
  '20': 'permanent', // invalid message class
  '22': 'permanent', // invalid network code
  '23': 'retryable', // invalid callback URL
  '29': 'retryable', // demo account, destination not whitelisted
  '32': 'retryable', // signature and api_secret both sent
  '33': 'permanent', // number de-activated
});

/** Receipt statuses; `accepted` and `buffered` are intermediate and absent. */
const FINAL_STATUSES: Readonly<Record<string, ReceiptStatus>> = Object.freeze({
  delivered: 'delivered',
  expired: 'expired',
  failed: 'undelivered',
  rejected: 'rejected',
  unknown: 'unknown',
});
const INTERMEDIATE_STATUSES = new Set(['accepted', 'buffered']);

/**
 * Vonage's signature over a parameter set (signing requests and signed webhooks): `sig` left
 * out, keys sorted, `&key=value` with `&` and `=` in values replaced by `_`; then md5 of that
 * plus the secret (`md5hash`) or an HMAC keyed by the secret. Lower-case hex.
 */
export function vonageSignature(
  params: Readonly<Record<string, string>>,
  secret: string,
  method: VonageSignatureMethod,
): string {
  let query = '';
  for (const key of Object.keys(params).sort()) {
    if (key === 'sig') continue;
    query += `&${key}=${params[key]!.replace(/[&=]/g, '_')}`;
  }
  if (method === 'md5hash') {
    return createHash('md5')
      .update(query + secret, 'utf8')
      .digest('hex');
  }
  return createHmac(HMAC_ALGORITHMS[method], secret).update(query, 'utf8').digest('hex');
}

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** Whether `params.sig` is the signature of the other params (hex compared case-insensitively). */
export function validVonageSignature(
  params: Readonly<Record<string, string>>,
  secret: string,
  method: VonageSignatureMethod,
): boolean {
  const given = params.sig;
  if (!given) return false;
  // Comparing digests keeps the comparison constant-time whatever the given length.
  return timingSafeEqual(
    digest(given.toLowerCase()),
    digest(vonageSignature(params, secret, method).toLowerCase()),
  );
}

interface VonagePart {
  status?: unknown;
  'message-id'?: unknown;
  'message-price'?: unknown;
  'error-text'?: unknown;
}

interface VonageAnswer {
  'message-count'?: unknown;
  messages?: unknown;
}

export class VonageProvider implements ProviderAdapter {
  readonly type = 'vonage';
  private readonly endpoint: string;

  constructor(
    readonly name: string,
    private readonly settings: VonageSettings,
    private readonly logger: Logger,
  ) {
    this.endpoint = new URL(
      'sms/json',
      settings.baseUrl.endsWith('/') ? settings.baseUrl : `${settings.baseUrl}/`,
    ).href;
  }

  async send(request: SendRequest, signal: AbortSignal): Promise<SendResult> {
    const from = request.from ?? this.settings.from;
    if (!from) throw new ProviderError('retryable', 'NO_SENDER', `${this.name}: no sender id configured`);
    const params: Record<string, string> = {
      api_key: this.settings.apiKey,
      // Vonage wants numbers without the leading +; alphanumeric sender ids pass unchanged.
      from: from.replace(/^\+(?=\d+$)/, ''),
      to: request.to.replace(/^\+/, ''),
      text: request.body,
      type: isGsm7(request.body) ? 'text' : 'unicode',
      'client-ref': request.messageId,
      callback: request.callbackUrl,
    };
    const ttl = ttlMs(request.expiresAt);
    if (ttl !== undefined) params.ttl = String(ttl);
    if (this.settings.signatureSecret) {
      params.timestamp = String(Math.floor(Date.now() / 1000));
      params.sig = vonageSignature(params, this.settings.signatureSecret, this.settings.signatureMethod);
    } else {
      params.api_secret = this.settings.apiSecret!;
    }

    const response = await providerFetch(
      this.endpoint,
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams(params).toString(),
      },
      signal,
    );
    if (!response.ok) {
      throw httpStatusError(this.name, response);
    }
    return this.resultFrom(await responseText(response, signal));
  }

  private resultFrom(text: string): SendResult {
    let answer: VonageAnswer;
    try {
      answer = JSON.parse(text) as VonageAnswer;
    } catch {
      answer = {};
    }
    const parts = Array.isArray(answer.messages) ? (answer.messages as VonagePart[]) : [];
    if (parts.length === 0) throw ambiguousAnswer('BAD_RESPONSE', `${this.name}: unreadable answer`);
    const accepted = parts.filter((p) => statusOf(p) === '0' && typeof p['message-id'] === 'string');
    const failed = parts.find((p) => statusOf(p) !== '0');
    if (failed) {
      const code = statusOf(failed);
      const errorText =
        typeof failed['error-text'] === 'string' ? `: ${failed['error-text'].slice(0, 200)}` : '';
      // Some parts already went out: sending the whole message again elsewhere would repeat them.
      const sent = accepted.length > 0 ? 'maybe' : 'no';
      const partial = accepted.length > 0 ? ` (after ${accepted.length} of ${parts.length} parts)` : '';
      throw vonageError(
        code,
        `${this.name} status ${code}${errorText}${partial}`,
        failed['error-text'],
        sent,
      );
    }
    const partIds = accepted.map((p) => p['message-id'] as string);
    if (partIds.length === 0) {
      throw ambiguousAnswer('BAD_RESPONSE', `${this.name}: answer without message-id`);
    }
    const result: SendResult = { providerMessageId: partIds[0]!, partIds };
    const count = Number(answer['message-count']);
    result.segments = Number.isInteger(count) && count > 0 ? count : partIds.length;
    const prices = accepted.map((p) => Number(p['message-price']));
    if (prices.every((p) => Number.isFinite(p))) {
      // Rounded to Vonage's 8 decimals so summing floats adds no noise.
      result.cost = Math.round(prices.reduce((a, b) => a + b, 0) * 1e8) / 1e8;
    }
    return result;
  }

  async parseReceipt(request: InboundHttpRequest): Promise<ParsedReceipt[]> {
    const params = this.verifiedParams(request, 'receipt');
    const messageId = params.messageId;
    const status = params.status;
    if (!messageId || !status) {
      throw new PigeonError('PIGEON_ERR_VALIDATION', 'delivery receipt needs messageId and status');
    }
    if (INTERMEDIATE_STATUSES.has(status)) return [];
    const normalised = FINAL_STATUSES[status];
    if (!normalised) {
      this.logger.warn({ provider: this.name, status }, ProviderEvents.receiptUnrecognisedStatus);
      return [];
    }
    const errCode = params['err-code'];
    const receipt: ParsedReceipt = {
      providerMessageId: messageId,
      status: normalised,
      providerStatus: normalised !== 'delivered' && errCode && errCode !== '0' ? errCode : status,
    };
    if (params['client-ref']) receipt.reference = params['client-ref'];
    const doneAt = params.scts ? carrierDate(params.scts) : undefined;
    if (doneAt) receipt.doneAt = doneAt;
    return [receipt];
  }

  /**
   * Vonage's inbound-SMS webhook, signed like receipts: `msisdn` (the sender) and `to` (our
   * number) without the '+', `text`, `messageId`, and for one part of a long SMS `concat=true`
   * with `concat-ref`, `concat-part` and `concat-total` (Vonage does not join parts itself).
   */
  async parseInbound(request: InboundHttpRequest): Promise<InboundSms[]> {
    const params = this.verifiedParams(request, 'inbound message');
    const { msisdn, to, messageId } = params;
    if (!msisdn || !to || !messageId) {
      throw new PigeonError('PIGEON_ERR_VALIDATION', 'inbound message needs msisdn, to and messageId');
    }
    const sms: InboundSms = {
      from: asE164(msisdn),
      to: asE164(to),
      body: params.text ?? '',
      providerMessageId: messageId,
    };
    const total = Number(params['concat-total']);
    const index = Number(params['concat-part']);
    if (
      params.concat === 'true' &&
      params['concat-ref'] &&
      Number.isInteger(total) &&
      Number.isInteger(index)
    ) {
      sms.part = { reference: params['concat-ref'], index, total };
    }
    return [sms];
  }

  /** The webhook's parameters once its `sig` and `timestamp` hold; PIGEON_ERR_RECEIPT_SIGNATURE else. */
  private verifiedParams(request: InboundHttpRequest, what: string): Record<string, string> {
    const secret = this.settings.signatureSecret;
    if (!secret) {
      throw new PigeonError(
        'PIGEON_ERR_RECEIPT_SIGNATURE',
        `signatureSecret is not configured: ${what}s refused`,
      );
    }
    const params = receiptParams(request);
    if (!params.sig || !params.timestamp) {
      throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', `${what} is not signed`);
    }
    const timestamp = Number(params.timestamp) * 1000;
    if (!Number.isFinite(timestamp) || Math.abs(Date.now() - timestamp) > VONAGE_SIGNATURE_TOLERANCE_MS) {
      throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', `${what} timestamp is too far from now`);
    }
    if (!validVonageSignature(params, secret, this.settings.signatureMethod)) {
      throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', 'Vonage signature does not match');
    }
    return params;
  }
}

/** Vonage writes numbers without the '+'; an alphanumeric or short code stays as it is. */
function asE164(value: string): string {
  return /^\d{8,15}$/.test(value) ? `+${value}` : value;
}

/** A part's status code; Vonage sends it as a string, its SDK fixtures sometimes as a number. */
function statusOf(part: VonagePart): string {
  return typeof part.status === 'string' || typeof part.status === 'number' ? String(part.status) : 'UNKNOWN';
}

function vonageError(code: string, message: string, errorText: unknown, sent: 'no' | 'maybe'): ProviderError {
  const errorClass = VONAGE_STATUS_CLASSES[code] ?? 'retryable';
  if (errorClass !== 'throttled') return new ProviderError(errorClass, code, message, { sent });
  // "Throughput Rate Exceeded - please wait [ 250 ] and retry": the wait is in milliseconds.
  const hint = typeof errorText === 'string' ? /please wait \[\s*(\d+)\s*\]/i.exec(errorText) : null;
  const retryAfterMs = hint ? Math.max(Number(hint[1]), 1) : DEFAULT_THROTTLE_MS;
  return new ProviderError(errorClass, code, message, { sent, retryAfterMs });
}

/**
 * The receipt's parameters: Vonage sends them as a query string (GET) or a JSON or form body
 * (POST), as the account's webhook settings say.
 */
function receiptParams(request: InboundHttpRequest): Record<string, string> {
  const params: Record<string, string> = {};
  if (request.method.toUpperCase() === 'GET' || request.rawBody.trim() === '') {
    const query = new URL(request.url, 'http://receipt.invalid').searchParams;
    for (const [key, value] of query) params[key] = value;
    return params;
  }
  if ((header(request, 'content-type') ?? '').includes('json')) {
    let body: unknown;
    try {
      body = JSON.parse(request.rawBody);
    } catch (cause) {
      throw new PigeonError('PIGEON_ERR_MALFORMED_JSON', 'delivery receipt is not JSON', { cause });
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new PigeonError('PIGEON_ERR_VALIDATION', 'delivery receipt must be a JSON object');
    }
    for (const [key, value] of Object.entries(body)) {
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
        params[key] = String(value);
      }
    }
    return params;
  }
  for (const [key, value] of new URLSearchParams(request.rawBody)) params[key] = value;
  return params;
}

/** Time left until `expiresAt` within Vonage's `ttl` bounds; undefined when it is unreadable. */
export function ttlMs(expiresAt: string, now = Date.now()): number | undefined {
  const at = Date.parse(expiresAt);
  if (Number.isNaN(at)) return undefined;
  return Math.min(MAX_TTL_MS, Math.max(MIN_TTL_MS, at - now));
}

/** `scts` (YYMMDDhhmm, UTC): when the carrier reported the final state. */
function carrierDate(value: string): string | undefined {
  const m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(value.trim());
  if (!m) return undefined;
  const at = Date.UTC(2000 + Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]));
  return Number.isNaN(at) ? undefined : new Date(at).toISOString();
}

function signatureMethod(value: string | undefined, provider: string): VonageSignatureMethod {
  if (value === undefined) return 'md5hash';
  const method = METHOD_ALIASES[value] ?? value;
  if (!(VONAGE_SIGNATURE_METHODS as readonly string[]).includes(method)) {
    throw new PigeonError(
      'PIGEON_ERR_CONFIG',
      `provider "${provider}": option "signatureMethod" must be one of ${VONAGE_SIGNATURE_METHODS.join(', ')}`,
    );
  }
  return method as VonageSignatureMethod;
}

export const createVonage: ProviderFactory = (name, options, deps) => {
  const baseUrl = optionalUrl(options, 'baseUrl', name, VONAGE_API);
  const settings: VonageSettings = {
    apiKey: requireString(options, 'apiKey', name),
    signatureMethod: signatureMethod(optionalString(options, 'signatureMethod', name), name),
    baseUrl,
  };
  const apiSecret = optionalString(options, 'apiSecret', name);
  if (apiSecret) settings.apiSecret = apiSecret;
  const signatureSecret = optionalString(options, 'signatureSecret', name);
  if (signatureSecret) settings.signatureSecret = signatureSecret;
  if (!apiSecret && !signatureSecret) {
    throw new PigeonError(
      'PIGEON_ERR_CONFIG',
      `provider "${name}": option "apiSecret" or "signatureSecret" must be a non-empty string`,
    );
  }
  if (!signatureSecret)
    deps.logger.warn({ provider: name }, ProviderEvents.receiptsRefusedWithoutSignatureSecret);
  const from = optionalString(options, 'from', name);
  if (from) settings.from = from;
  return new VonageProvider(name, settings, deps.logger);
};
