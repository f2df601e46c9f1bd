import { createHash, createHmac, randomInt, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type FakeRequest, htmlError, type HttpFault, type PostResult, startFakeHttp } from './fake-http.ts';

/**
 * A local Tencent Cloud SMS endpoint (SendSms, 2021-01-11). Every request's TC3-HMAC-SHA256
 * signature is checked against the fake's own implementation of the documented algorithm;
 * failures get Tencent's AuthFailure.* answers. Like Tencent, it answers HTTP 200 for every API
 * error, with `Response.Error` for the whole request or a per-number `Code` in `SendStatusSet`.
 */

export type FakeFault =
  | HttpFault
  /** A Tencent error code, for the whole request or (perNumber) in the number's SendStatus. */
  | { kind: 'error'; code: string; perNumber?: boolean }
  | undefined;

export interface RecordedRequest extends FakeRequest {
  input?: Record<string, unknown>;
  /** SerialNo per accepted number. */
  serialNos: Record<string, string>;
}

export interface TencentFake {
  readonly url: string;
  readonly requests: RecordedRequest[];
  setFault(fault: FakeFault): void;
  /** A status-callback item for an accepted number (user_receive_time, nationcode, mobile, report_status…). */
  statusReport(
    serialNo: string,
    phoneNumber: string,
    success: boolean,
    errmsg?: string,
  ): Record<string, unknown>;
  /** POSTs a status callback (a JSON array) as Tencent does. */
  sendReceipt(url: string, reports: unknown[]): Promise<PostResult>;
  close(): Promise<void>;
}

export interface TencentFakeOptions {
  secretId: string;
  secretKey: string;
  smsSdkAppId: string;
}

const MAX_SKEW_S = 300;
const PER_NUMBER_MESSAGES: Record<string, string> = {
  'LimitExceeded.PhoneNumberDailyLimit':
    'the number of SMS messages sent from a single mobile number every day exceeds the upper limit',
  'InvalidParameterValue.IncorrectPhoneNumber': 'invalid mobile number',
  'FailedOperation.PhoneNumberInBlacklist': 'the mobile number is in the blocklist',
};

const sha256Hex = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

function beijing(at: number): string {
  return new Date(at + 8 * 3_600_000).toISOString().slice(0, 19).replace('T', ' ');
}

interface ApiError {
  code: string;
  message: string;
}

export async function startTencentFake(options: TencentFakeOptions): Promise<TencentFake> {
  const requests: RecordedRequest[] = [];
  let fault: FakeFault;

  function verifyTc3(req: IncomingMessage, body: string): ApiError | undefined {
    const match =
      /^TC3-HMAC-SHA256 Credential=([^/]+)\/(\d{4}-\d{2}-\d{2})\/([a-z]+)\/tc3_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(
        req.headers.authorization ?? '',
      );
    if (!match) {
      return {
        code: 'AuthFailure.InvalidAuthorization',
        message: 'Authorization in the request header is invalid.',
      };
    }
    const [, secretId, date, service, signedHeaders, signature] = match as unknown as string[];
    if (secretId !== options.secretId) {
      return {
        code: 'AuthFailure.SecretIdNotFound',
        message: 'The SecretId is not found, please ensure that your SecretId is correct.',
      };
    }
    const timestamp = Number(req.headers['x-tc-timestamp']);
    if (!Number.isInteger(timestamp) || Math.abs(Date.now() / 1000 - timestamp) > MAX_SKEW_S) {
      return { code: 'AuthFailure.SignatureExpire', message: 'Signature expired.' };
    }
    const names = signedHeaders!.split(';');
    const scopeDate = new Date(timestamp * 1000).toISOString().slice(0, 10);
    const badSignature = {
      code: 'AuthFailure.SignatureFailure',
      message: 'The provided credentials could not be validated. Please check your signature is correct.',
    };
    if (
      date !== scopeDate ||
      service !== 'sms' ||
      !names.includes('content-type') ||
      !names.includes('host')
    ) {
      return badSignature;
    }
    const canonicalHeaders = names
      .map((name) => `${name}:${String(req.headers[name] ?? '').trim()}\n`)
      .join('');
    const url = new URL(req.url ?? '/', 'http://fake');
    const canonicalRequest = [
      req.method,
      url.pathname,
      url.search.slice(1),
      canonicalHeaders,
      signedHeaders,
      sha256Hex(body),
    ].join('\n');
    const stringToSign = [
      'TC3-HMAC-SHA256',
      timestamp,
      `${date}/${service}/tc3_request`,
      sha256Hex(canonicalRequest),
    ].join('\n');
    const key = hmac(hmac(hmac(`TC3${options.secretKey}`, date), service), 'tc3_request');
    const expected = createHmac('sha256', key).update(stringToSign, 'utf8').digest();
    const given = Buffer.from(signature!, 'hex');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return badSignature;
    return undefined;
  }

  function respond(res: ServerResponse, response: Record<string, unknown>) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ Response: { ...response, RequestId: randomUUID() } }));
  }

  function apiError(res: ServerResponse, error: ApiError) {
    respond(res, { Error: { Code: error.code, Message: error.message } });
  }

  function handle(req: IncomingMessage, res: ServerResponse, record: RecordedRequest) {
    const failure = verifyTc3(req, record.body);
    if (failure) return apiError(res, failure);
    record.authenticated = true;
    if (req.headers['x-tc-action'] !== 'SendSms') {
      return apiError(res, { code: 'InvalidAction', message: 'The requested action does not exist.' });
    }
    if (req.headers['x-tc-version'] !== '2021-01-11') {
      return apiError(res, { code: 'NoSuchVersion', message: 'The requested version does not exist.' });
    }
    if (!req.headers['x-tc-region']) {
      return apiError(res, {
        code: 'MissingParameter',
        message: 'The request is missing a required parameter `Region`.',
      });
    }
    let input: Record<string, unknown>;
    try {
      input = JSON.parse(record.body) as Record<string, unknown>;
    } catch {
      return apiError(res, {
        code: 'FailedOperation.JsonParseFail',
        message: 'Failed to parse the request body.',
      });
    }
    record.input = input;
    const current = fault;
    if (current?.kind === 'hang') return;
    if (current?.kind === 'status') return htmlError(res, current.status);
    if (current?.kind === 'error' && !current.perNumber) {
      return apiError(res, { code: current.code, message: `fake ${current.code}` });
    }
    const numbers = input.PhoneNumberSet;
    if (!Array.isArray(numbers) || numbers.length === 0) {
      return apiError(res, {
        code: 'MissingParameter.EmptyPhoneNumberSet',
        message: 'The list of mobile numbers passed in is empty.',
      });
    }
    if (input.SmsSdkAppId !== options.smsSdkAppId) {
      return apiError(res, {
        code: 'InvalidParameterValue.SdkAppIdNotExist',
        message: 'The SdkAppId does not exist.',
      });
    }
    if (typeof input.TemplateId !== 'string' || input.TemplateId === '') {
      return apiError(res, {
        code: 'FailedOperation.TemplateIncorrectOrUnapproved',
        message: 'The template is unapproved or does not exist.',
      });
    }
    const params = Array.isArray(input.TemplateParamSet) ? (input.TemplateParamSet as unknown[]) : [];
    const length = params.map(String).join('').length;
    const fee = length <= 70 ? 1 : Math.ceil(length / 67);
    const statuses = numbers.map((number: unknown) => {
      const phone = String(number);
      const base = {
        PhoneNumber: phone,
        SessionContext: input.SessionContext ?? '',
        IsoCode: phone.startsWith('+86') ? 'CN' : 'US',
      };
      let code = 'Ok';
      if (current?.kind === 'error') code = current.code;
      else if (!/^\+[1-9]\d{6,14}$/.test(phone)) code = 'InvalidParameterValue.IncorrectPhoneNumber';
      if (code !== 'Ok') {
        return {
          ...base,
          SerialNo: '',
          Fee: 0,
          Code: code,
          Message: PER_NUMBER_MESSAGES[code] ?? `fake ${code}`,
        };
      }
      const serialNo = `2433:${randomInt(1e9, 1e10)}${randomInt(1e9, 1e10)}`;
      record.serialNos[phone] = serialNo;
      return { ...base, SerialNo: serialNo, Fee: fee, Code: 'Ok', Message: 'send success' };
    });
    respond(res, { SendStatusSet: statuses });
  }

  const http = await startFakeHttp((exchange) => {
    const { req, res, url } = exchange;
    void exchange.body.then((text) => {
      if (req.method !== 'POST' || url.pathname !== '/') {
        res.writeHead(404).end();
        return;
      }
      const record: RecordedRequest = { ...exchange.record(text), serialNos: {} };
      requests.push(record);
      handle(req, res, record);
    });
  });

  return {
    url: http.url,
    requests,
    setFault(next) {
      fault = next;
    },
    statusReport(serialNo, phoneNumber, success, errmsg) {
      const mainland = phoneNumber.startsWith('+86');
      return {
        user_receive_time: beijing(Date.now()),
        nationcode: mainland ? '86' : phoneNumber.slice(1, 2),
        mobile: mainland ? phoneNumber.slice(3) : phoneNumber.slice(2),
        report_status: success ? 'SUCCESS' : 'FAIL',
        errmsg: errmsg ?? (success ? 'DELIVRD' : 'UNDELIV'),
        description: success
          ? 'The SMS message is successfully delivered'
          : 'The SMS message failed to be delivered',
        sid: serialNo,
      };
    },
    sendReceipt: (target, reports) => http.postJson(target, reports),
    close: () => http.close(),
  };
}
