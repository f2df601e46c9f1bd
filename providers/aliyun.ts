import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { Logger } from '../core/logger.ts';
import type { ReceiptStatus } from '../core/message.ts';
import {
  ambiguousAnswer,
  classifyHttpStatus,
  fetchText,
  httpStatusError,
  optionalString,
  optionalUrl,
  parseJson,
  requireString,
} from './http.ts';
import {
  type ErrorClass,
  type InboundHttpRequest,
  type ParsedReceipt,
  type ProviderAdapter,
  ProviderError,
  type ProviderFactory,
  type ReceiptAck,
  type SendRequest,
  type SendResult,
} from './provider.ts';
import { beijingTime, parseTokenPush, receiptTokenOption, type TokenPush } from './token-receipts.ts';

/**
 * Alibaba Cloud SMS (dysmsapi 2017-05-25 SendSms), signed with ACS3-HMAC-SHA256 (signature V3)
 * as the official SDK signs today, and sent with fetch.
 *
 * Why not the SDK's own client: its transport (`@darabonba/typescript` over httpx) takes no
 * AbortSignal, only its own timeouts, so our send timeout could not cancel the request in flight.
 * Signing by hand is a few lines against the documented algorithm; the tests prove it equal to
 * the SDK's by sending real SDK requests to the same signature-checking fake.
 *
 * Receipts: Aliyun's HTTP batch push (SmsReport) is not signed; it is authenticated by a token in
 * the callback URL (see token-receipts.ts).
 */

export const ALIYUN_ENDPOINT = 'https://dysmsapi.aliyuncs.com';
const API_VERSION = '2017-05-25';
const ALGORITHM = 'ACS3-HMAC-SHA256';
const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');

export interface AliyunSettings {
  accessKeyId: string;
  accessKeySecret: string;
  signName: string;
  templateCode: string;
  /** Template variable the message body fills (default `content`). */
  templateParam: string;
  endpoint: string;
  receiptToken?: string;
}

export class AliyunProvider implements ProviderAdapter {
  readonly type = 'aliyun';
  readonly receiptAck: ReceiptAck = {
    contentType: 'application/json; charset=utf-8',
    body: JSON.stringify({ code: 0, msg: '接收成功' }),
  };
  private readonly endpoint: URL;
  private readonly push: TokenPush;

  constructor(
    readonly name: string,
    private readonly settings: AliyunSettings,
    logger: Logger,
  ) {
    this.endpoint = new URL(settings.endpoint);
    this.push = { provider: name, token: settings.receiptToken, what: 'receipt push', logger };
  }

  async send(request: SendRequest, signal: AbortSignal): Promise<SendResult> {
    const query: Record<string, string> = {
      PhoneNumbers: aliyunPhoneNumber(request.to),
      SignName: this.settings.signName,
      TemplateCode: this.settings.templateCode,
      TemplateParam: JSON.stringify({ [this.settings.templateParam]: request.body }),
      OutId: request.messageId,
    };
    const acsHeaders: Record<string, string> = {
      'x-acs-action': 'SendSms',
      'x-acs-version': API_VERSION,
      'x-acs-date': new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      'x-acs-signature-nonce': randomBytes(16).toString('hex'),
      'x-acs-content-sha256': EMPTY_SHA256,
    };
    const authorization = acs3Authorization({
      method: 'POST',
      path: '/',
      query,
      // fetch sends this Host itself, from the URL (with the port when it is not the default).
      headers: { host: this.endpoint.host, ...acsHeaders },
      accessKeyId: this.settings.accessKeyId,
      accessKeySecret: this.settings.accessKeySecret,
    });
    const url = new URL('/', this.endpoint);
    url.search = canonicalQuery(query);
    const { response, text } = await fetchText(
      url.href,
      { method: 'POST', headers: { ...acsHeaders, authorization, accept: 'application/json' } },
      signal,
    );
    const payload = parseJson(text) as { Code?: unknown; Message?: unknown; BizId?: unknown } | undefined;
    const code = typeof payload?.Code === 'string' ? payload.Code : undefined;
    if (response.ok && code === 'OK' && typeof payload?.BizId === 'string') {
      return { providerMessageId: payload.BizId };
    }
    if (!code) {
      if (!response.ok) throw httpStatusError(this.name, response);
      throw ambiguousAnswer('BAD_RESPONSE', `${this.name}: unreadable answer`);
    }
    const message = `${this.name} ${code}: ${typeof payload?.Message === 'string' ? payload.Message : ''}`;
    const klass = aliyunErrorClass(code);
    if (klass) throw new ProviderError(klass, code, message);
    throw response.ok
      ? new ProviderError('retryable', code, message)
      : classifyHttpStatus(response.status, code, message, response.headers.get('retry-after'));
  }

  async parseReceipt(request: InboundHttpRequest): Promise<ParsedReceipt[]> {
    return parseTokenPush(request, this.push, parseReport);
  }
}

/**
 * Aliyun's number format: no `+`; mainland mobiles as the bare 11 digits, everything else with
 * its country code.
 */
export function aliyunPhoneNumber(e164: string): string {
  const mainland = /^\+86(1\d{10})$/.exec(e164);
  if (mainland) return mainland[1]!;
  return e164.startsWith('+') ? e164.slice(1) : e164;
}

/** RFC 3986 percent-encoding as Aliyun canonicalises it (space %20, `*` %2A, `~` kept). */
export function percentEncode(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

export function canonicalQuery(query: Record<string, string>): string {
  return Object.keys(query)
    .sort()
    .map((key) => `${percentEncode(key)}=${percentEncode(query[key]!)}`)
    .join('&');
}

export interface Acs3Input {
  method: string;
  path: string;
  query: Record<string, string>;
  /** host, x-acs-* and content-type headers, lower-cased; all of them are signed. */
  headers: Record<string, string>;
  accessKeyId: string;
  accessKeySecret: string;
}

/** The `Authorization` header of signature V3 (ACS3-HMAC-SHA256). */
export function acs3Authorization(input: Acs3Input): string {
  const names = Object.keys(input.headers)
    .map((name) => name.toLowerCase())
    .filter((name) => name === 'host' || name === 'content-type' || name.startsWith('x-acs-'))
    .sort();
  const lower = Object.fromEntries(Object.entries(input.headers).map(([k, v]) => [k.toLowerCase(), v]));
  const canonicalHeaders = names.map((name) => `${name}:${lower[name]!.trim()}\n`).join('');
  const signedHeaders = names.join(';');
  const canonicalRequest = [
    input.method,
    input.path,
    canonicalQuery(input.query),
    canonicalHeaders,
    signedHeaders,
    lower['x-acs-content-sha256'] ?? EMPTY_SHA256,
  ].join('\n');
  const stringToSign = `${ALGORITHM}\n${createHash('sha256').update(canonicalRequest).digest('hex')}`;
  const signature = createHmac('sha256', input.accessKeySecret).update(stringToSign).digest('hex');
  return `${ALGORITHM} Credential=${input.accessKeyId},SignedHeaders=${signedHeaders},Signature=${signature}`;
}

/**
 * `isv.*` codes are about the request or the account, `isp.*` about Aliyun itself. Per-number
 * flow control is `throttled`: another provider may take the message now.
 */
const ERROR_CLASSES: Record<string, ErrorClass> = {
  'isv.BUSINESS_LIMIT_CONTROL': 'throttled',
  'isv.DAY_LIMIT_CONTROL': 'throttled',
  'isv.MONTH_LIMIT_CONTROL': 'throttled',
  'Throttling.User': 'throttled',
  Throttling: 'throttled',
  'Throttling.Api': 'throttled',
  'isv.MOBILE_NUMBER_ILLEGAL': 'permanent',
  'isv.SMS_TEMPLATE_ILLEGAL': 'permanent',
  'isv.SMS_SIGNATURE_ILLEGAL': 'permanent',
  'isv.SMS_SIGN_ILLEGAL': 'permanent',
  'isv.SMS_SIGNATURE_SCENE_ILLEGAL': 'permanent',
  'isv.TEMPLATE_MISSING_PARAMETERS': 'permanent',
  'isv.TEMPLATE_PARAMS_ILLEGAL': 'permanent',
  'isv.INVALID_PARAMETERS': 'permanent',
  'isv.INVALID_JSON_PARAM': 'permanent',
  'isv.PARAM_LENGTH_LIMIT': 'permanent',
  'isv.PARAM_NOT_SUPPORT_URL': 'permanent',
  'isv.MOBILE_COUNT_OVER_LIMIT': 'permanent',
  'isv.SMS_CONTENT_ILLEGAL': 'permanent',
  'isv.DOMESTIC_NUMBER_NOT_SUPPORTED': 'permanent',
  'isv.EXTEND_CODE_ERROR': 'permanent',
  'isv.BLACK_KEY_CONTROL_LIMIT': 'fraud_blocked',
  'isv.AMOUNT_NOT_ENOUGH': 'retryable',
  'isv.OUT_OF_SERVICE': 'retryable',
  'isv.PRODUCT_UN_SUBSCRIPT': 'retryable',
  'isv.PRODUCT_UNSUBSCRIBE': 'retryable',
  'isv.ACCOUNT_NOT_EXISTS': 'retryable',
  'isv.ACCOUNT_ABNORMAL': 'retryable',
  'isv.DENY_IP_RANGE': 'retryable',
  'isv.SYSTEM_ERROR': 'retryable',
  'isp.SYSTEM_ERROR': 'retryable',
  'isp.RAM_PERMISSION_DENY': 'retryable',
  'isv.RAM_PERMISSION_DENY': 'retryable',
  'Forbidden.RAM': 'retryable',
  // Gateway errors about our credentials or clock: this account cannot send, another may.
  SignatureDoesNotMatch: 'retryable',
  IncompleteSignature: 'retryable',
  'InvalidAccessKeyId.NotFound': 'retryable',
  'InvalidAccessKeyId.Inactive': 'retryable',
  'InvalidTimeStamp.Expired': 'retryable',
  SignatureNonceUsed: 'retryable',
  ServiceUnavailable: 'retryable',
  InternalError: 'retryable',
};

/** The class of an Aliyun `Code`, or undefined for codes this table does not know. */
export function aliyunErrorClass(code: string): ErrorClass | undefined {
  const known = ERROR_CLASSES[code];
  if (known) return known;
  if (code.startsWith('isp.')) return 'retryable';
  if (code.startsWith('isv.')) return 'permanent';
  return undefined;
}

interface MainlandReport {
  biz_id?: unknown;
  out_id?: unknown;
  success?: unknown;
  err_code?: unknown;
  report_time?: unknown;
}

interface InternationalReport {
  MessageId?: unknown;
  Status?: unknown;
  ErrorCode?: unknown;
  ReceiveDate?: unknown;
}

/** International `Status`: 1 delivered, 2 failed, 6 expired; others (in progress) settle nothing. */
const INTERNATIONAL_STATUS: Record<string, ReceiptStatus> = {
  '1': 'delivered',
  '2': 'undelivered',
  '6': 'expired',
};

function parseReport(item: unknown): ParsedReceipt | undefined {
  if (typeof item !== 'object' || item === null) return undefined;
  if ('biz_id' in item) {
    const report = item as MainlandReport;
    if (typeof report.biz_id !== 'string' || typeof report.success !== 'boolean') return undefined;
    const receipt: ParsedReceipt = {
      providerMessageId: report.biz_id,
      status: report.success ? 'delivered' : 'undelivered',
      providerStatus:
        typeof report.err_code === 'string' && report.err_code !== ''
          ? report.err_code
          : report.success
            ? 'DELIVERED'
            : 'FAILED',
    };
    if (typeof report.out_id === 'string' && report.out_id !== '') receipt.reference = report.out_id;
    const doneAt = typeof report.report_time === 'string' ? beijingTime(report.report_time) : undefined;
    if (doneAt) receipt.doneAt = doneAt;
    return receipt;
  }
  const report = item as InternationalReport;
  if (typeof report.MessageId !== 'string') return undefined;
  const status = INTERNATIONAL_STATUS[String(report.Status)];
  if (!status) return undefined;
  const receipt: ParsedReceipt = {
    providerMessageId: report.MessageId,
    status,
    providerStatus: typeof report.ErrorCode === 'string' ? report.ErrorCode : String(report.Status),
  };
  if (typeof report.ReceiveDate === 'string') {
    const at = Date.parse(report.ReceiveDate);
    if (!Number.isNaN(at)) receipt.doneAt = new Date(at).toISOString();
  }
  return receipt;
}

export const createAliyun: ProviderFactory = (name, options, deps) => {
  const endpoint = optionalUrl(options, 'endpoint', name, ALIYUN_ENDPOINT);
  const settings: AliyunSettings = {
    accessKeyId: requireString(options, 'accessKeyId', name),
    accessKeySecret: requireString(options, 'accessKeySecret', name),
    signName: requireString(options, 'signName', name),
    templateCode: requireString(options, 'templateCode', name),
    templateParam: optionalString(options, 'templateParam', name) ?? 'content',
    endpoint,
    receiptToken: receiptTokenOption(options, name, deps.logger),
  };
  return new AliyunProvider(name, settings, deps.logger);
};
