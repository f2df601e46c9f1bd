import { createHash, createHmac } from 'node:crypto';
import { PigeonError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import {
  ambiguousAnswer,
  fetchText,
  httpStatusError,
  optionalString,
  optionalUrl,
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
 * Tencent Cloud SMS (SendSms, API 2021-01-11), signed with TC3-HMAC-SHA256 and sent with fetch.
 *
 * Why not the SDK's client (tencentcloud-sdk-nodejs-sms): it does take a signal, but it derives
 * the signing scope's service from the endpoint's first label and signs the host without its
 * port, so it cannot be pointed at any endpoint but Tencent's own; and it folds every transport
 * error into a message string, losing "refused" (certainly not sent) versus "reset" (maybe
 * sent). Signing by hand is a few lines, checked against Tencent's official worked example.
 *
 * Status callbacks are not signed by Tencent; they are authenticated by a token in the callback
 * URL (see token-receipts.ts).
 */

export const TENCENT_ENDPOINT = 'https://sms.tencentcloudapi.com';
const SERVICE = 'sms';
const API_VERSION = '2021-01-11';
const CONTENT_TYPE = 'application/json; charset=utf-8';
const ALGORITHM = 'TC3-HMAC-SHA256';

/** How the message body fills the template: as its one parameter, or not at all. */
export type TemplateParamMode = 'body' | 'none';

export interface TencentSettings {
  secretId: string;
  secretKey: string;
  region: string;
  smsSdkAppId: string;
  signName: string;
  templateId: string;
  templateParams: TemplateParamMode;
  /** International sender id, used when routing gives none. Mainland numbers never carry one. */
  senderId?: string;
  endpoint: string;
  receiptToken?: string;
}

export interface Tc3Input {
  secretId: string;
  secretKey: string;
  service: string;
  /** The Host header as sent (with the port when it is not the default). */
  host: string;
  contentType: string;
  /** Unix seconds; the credential scope's date is its UTC day. */
  timestamp: number;
  payload: string;
}

export interface Tc3Signature {
  hashedPayload: string;
  canonicalRequest: string;
  stringToSign: string;
  signature: string;
  authorization: string;
}

const sha256Hex = (value: string) => createHash('sha256').update(value, 'utf8').digest('hex');
const hmac = (key: string | Buffer, value: string) =>
  createHmac('sha256', key).update(value, 'utf8').digest();

/** TC3-HMAC-SHA256 over a POST to `/` signing content-type and host, as Tencent's own SDKs do. */
export function tc3Sign(input: Tc3Input): Tc3Signature {
  const date = new Date(input.timestamp * 1000).toISOString().slice(0, 10);
  const signedHeaders = 'content-type;host';
  const hashedPayload = sha256Hex(input.payload);
  const canonicalRequest = [
    'POST',
    '/',
    '',
    `content-type:${input.contentType}\nhost:${input.host}\n`,
    signedHeaders,
    hashedPayload,
  ].join('\n');
  const scope = `${date}/${input.service}/tc3_request`;
  const stringToSign = `${ALGORITHM}\n${input.timestamp}\n${scope}\n${sha256Hex(canonicalRequest)}`;
  const signingKey = hmac(hmac(hmac(`TC3${input.secretKey}`, date), input.service), 'tc3_request');
  const signature = createHmac('sha256', signingKey).update(stringToSign, 'utf8').digest('hex');
  const authorization = `${ALGORITHM} Credential=${input.secretId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return { hashedPayload, canonicalRequest, stringToSign, signature, authorization };
}

interface SendStatus {
  SerialNo?: unknown;
  Fee?: unknown;
  Code?: unknown;
  Message?: unknown;
}

interface SendSmsAnswer {
  Response?: {
    Error?: { Code?: unknown; Message?: unknown };
    SendStatusSet?: SendStatus[];
  };
}

export class TencentProvider implements ProviderAdapter {
  readonly type = 'tencent';
  readonly receiptAck: ReceiptAck = {
    contentType: 'application/json',
    body: JSON.stringify({ result: 0, errmsg: 'OK' }),
  };
  private readonly endpoint: URL;
  private readonly push: TokenPush;

  constructor(
    readonly name: string,
    private readonly settings: TencentSettings,
    logger: Logger,
  ) {
    this.endpoint = new URL(settings.endpoint);
    this.push = { provider: name, token: settings.receiptToken, what: 'status callback', logger };
  }

  async send(request: SendRequest, signal: AbortSignal): Promise<SendResult> {
    const body: Record<string, unknown> = {
      PhoneNumberSet: [request.to],
      SmsSdkAppId: this.settings.smsSdkAppId,
      SignName: this.settings.signName,
      TemplateId: this.settings.templateId,
      TemplateParamSet: this.settings.templateParams === 'body' ? [request.body] : [],
      SessionContext: request.messageId,
    };
    const senderId = request.from ?? this.settings.senderId;
    if (senderId && !request.to.startsWith('+86')) body.SenderId = senderId;
    const payload = JSON.stringify(body);
    const timestamp = Math.floor(Date.now() / 1000);
    const { authorization } = tc3Sign({
      secretId: this.settings.secretId,
      secretKey: this.settings.secretKey,
      service: SERVICE,
      host: this.endpoint.host,
      contentType: CONTENT_TYPE,
      timestamp,
      payload,
    });
    const { response, text } = await fetchText(
      new URL('/', this.endpoint).href,
      {
        method: 'POST',
        headers: {
          authorization,
          'content-type': CONTENT_TYPE,
          'x-tc-action': 'SendSms',
          'x-tc-version': API_VERSION,
          'x-tc-region': this.settings.region,
          'x-tc-timestamp': String(timestamp),
        },
        body: payload,
      },
      signal,
    );
    if (!response.ok) throw httpStatusError(this.name, response);
    let answer: SendSmsAnswer;
    try {
      answer = JSON.parse(text) as SendSmsAnswer;
    } catch {
      answer = {};
    }
    const error = answer.Response?.Error;
    if (error) {
      const code = typeof error.Code === 'string' ? error.Code : 'UNKNOWN';
      throw tencentError(code, `${this.name} ${code}: ${stringOr(error.Message)}`);
    }
    const status = answer.Response?.SendStatusSet?.[0];
    if (!status || typeof status.Code !== 'string') {
      throw ambiguousAnswer('BAD_RESPONSE', `${this.name}: unreadable answer`);
    }
    if (status.Code !== 'Ok') {
      throw tencentError(status.Code, `${this.name} ${status.Code}: ${stringOr(status.Message)}`);
    }
    if (typeof status.SerialNo !== 'string') {
      throw ambiguousAnswer('NO_SERIAL_NO', `${this.name}: answer without SerialNo`);
    }
    const result: SendResult = { providerMessageId: status.SerialNo };
    if (typeof status.Fee === 'number' && status.Fee > 0) result.segments = status.Fee;
    return result;
  }

  async parseReceipt(request: InboundHttpRequest): Promise<ParsedReceipt[]> {
    return parseTokenPush(request, this.push, parseStatusReport);
  }
}

function stringOr(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** Codes whose class differs from what their family (the part before the dot) says. */
const ERROR_CLASSES: Record<string, ErrorClass> = {
  'InvalidParameterValue.IncorrectPhoneNumber': 'permanent',
  'FailedOperation.PhoneNumberParseFail': 'permanent',
  'FailedOperation.PhoneNumberInBlacklist': 'opted_out',
  'FailedOperation.ContainSensitiveWord': 'fraud_blocked',
  'InvalidParameter.DirtyWordFound': 'fraud_blocked',
  'InvalidParameterValue.TemplateWithDirtyWords': 'fraud_blocked',
  'FailedOperation.TemplateIncorrectOrUnapproved': 'permanent',
  'FailedOperation.TemplateUnapprovedOrNotExist': 'permanent',
  'FailedOperation.TemplateParamSetNotMatchApprovedTemplate': 'permanent',
  'FailedOperation.TemplateIdNotExist': 'permanent',
  'FailedOperation.MissingTemplateList': 'permanent',
  'FailedOperation.SignatureIncorrectOrUnapproved': 'permanent',
  'FailedOperation.MissingSignature': 'permanent',
  'FailedOperation.MissingSignatureList': 'permanent',
  'FailedOperation.SignIdNotExist': 'permanent',
  'FailedOperation.JsonParseFail': 'permanent',
  'FailedOperation.FailResolvePacket': 'permanent',
  // Balance, marketing hours and suspended accounts: this account cannot send now, another may.
  'FailedOperation.InsufficientBalanceInSmsPackage': 'retryable',
  'FailedOperation.MarketingSendTimeConstraint': 'retryable',
  // The destination country is not enabled in this app's settings: a configuration gap.
  'LimitExceeded.AppCountryOrRegionInBlacklist': 'retryable',
  'LimitExceeded.PhoneNumberCountLimit': 'permanent',
  RequestLimitExceeded: 'throttled',
  'RequestLimitExceeded.UinLimitExceeded': 'throttled',
};

const FAMILY_CLASSES: Record<string, ErrorClass> = {
  LimitExceeded: 'throttled',
  InvalidParameterValue: 'permanent',
  InvalidParameter: 'permanent',
  MissingParameter: 'permanent',
  UnsupportedOperation: 'permanent',
  AuthFailure: 'retryable',
  UnauthorizedOperation: 'retryable',
  InternalError: 'retryable',
  ResourceUnavailable: 'retryable',
  ServiceUnavailable: 'retryable',
};

/** The class of a Tencent error code (per number or for the whole request). */
export function tencentErrorClass(code: string): ErrorClass {
  const known = ERROR_CLASSES[code];
  if (known) return known;
  const family = FAMILY_CLASSES[code.split('.', 1)[0]!];
  // Unknown codes (FailedOperation.OtherError, …) answered without sending: another provider may.
  return family ?? 'retryable';
}

function tencentError(code: string, message: string): ProviderError {
  return new ProviderError(tencentErrorClass(code), code, message);
}

interface StatusReport {
  sid?: unknown;
  report_status?: unknown;
  errmsg?: unknown;
  user_receive_time?: unknown;
}

function parseStatusReport(item: unknown): ParsedReceipt | undefined {
  if (typeof item !== 'object' || item === null) return undefined;
  const report = item as StatusReport;
  if (typeof report.sid !== 'string' || report.sid === '') return undefined;
  if (report.report_status !== 'SUCCESS' && report.report_status !== 'FAIL') return undefined;
  const receipt: ParsedReceipt = {
    providerMessageId: report.sid,
    status: report.report_status === 'SUCCESS' ? 'delivered' : 'undelivered',
    providerStatus:
      typeof report.errmsg === 'string' && report.errmsg !== '' ? report.errmsg : report.report_status,
  };
  const doneAt =
    typeof report.user_receive_time === 'string' ? beijingTime(report.user_receive_time) : undefined;
  if (doneAt) receipt.doneAt = doneAt;
  return receipt;
}

export const createTencent: ProviderFactory = (name, options, deps) => {
  const endpoint = optionalUrl(options, 'endpoint', name, TENCENT_ENDPOINT);
  const templateParams = optionalString(options, 'templateParams', name) ?? 'body';
  if (templateParams !== 'body' && templateParams !== 'none') {
    throw new PigeonError(
      'PIGEON_ERR_CONFIG',
      `provider "${name}": option "templateParams" must be body or none`,
    );
  }
  const settings: TencentSettings = {
    secretId: requireString(options, 'secretId', name),
    secretKey: requireString(options, 'secretKey', name),
    region: optionalString(options, 'region', name) ?? 'ap-guangzhou',
    smsSdkAppId: requireString(options, 'smsSdkAppId', name),
    signName: requireString(options, 'signName', name),
    templateId: requireString(options, 'templateId', name),
    templateParams,
    endpoint,
  };
  const senderId = optionalString(options, 'senderId', name);
  if (senderId) settings.senderId = senderId;
  settings.receiptToken = receiptTokenOption(options, name, deps.logger);
  return new TencentProvider(name, settings, deps.logger);
};
