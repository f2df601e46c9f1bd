import { createHash, createHmac, randomInt, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type FakeRequest, htmlError, type HttpFault, type PostResult, startFakeHttp } from './fake-http.ts';

/**
 * A local Alibaba Cloud SMS endpoint (dysmsapi 2017-05-25 SendSms). Every request's signature V3
 * (ACS3-HMAC-SHA256) is checked against the fake's own implementation of the documented
 * algorithm, with Aliyun's own gateway errors when it does not hold (unknown key, stale date,
 * reused nonce, signature mismatch). Parameters may come in the query (as the SDK sends them) or
 * a form body. Business errors come back as HTTP 200 with a `Code`, as Aliyun answers them.
 */

export type FakeFault =
  | HttpFault
  /** An Aliyun `Code`, e.g. `isv.BUSINESS_LIMIT_CONTROL`. */
  | { kind: 'error'; code: string }
  | undefined;

export interface RecordedRequest extends FakeRequest {
  /** The API parameters (query and form body together). */
  params: Record<string, string>;
  /** The BizId answered, when the message was accepted. */
  bizId?: string;
}

export interface AliyunFake {
  readonly url: string;
  readonly requests: RecordedRequest[];
  setFault(fault: FakeFault): void;
  /** A mainland SmsReport item for an accepted request (phone_number, success, err_code, biz_id, out_id…). */
  mainlandReport(
    request: RecordedRequest,
    outcome?: { success?: boolean; errCode?: string },
  ): Record<string, unknown>;
  /** An international webhook item (To, Status, MessageId…). */
  internationalReport(
    request: RecordedRequest,
    status: '1' | '2' | '6',
    errorCode?: string,
  ): Record<string, unknown>;
  /** POSTs a batch push (a JSON array) as Aliyun's SmsReport HTTP push does. */
  sendReceipt(url: string, reports: unknown[]): Promise<PostResult>;
  close(): Promise<void>;
}

export interface AliyunFakeOptions {
  accessKeyId: string;
  accessKeySecret: string;
}

const HOST_ID = 'dysmsapi.aliyuncs.com';
const MAX_SKEW_MS = 15 * 60_000;

const MESSAGES: Record<string, string> = {
  'isv.BUSINESS_LIMIT_CONTROL': '触发号码天级流控Permits:10',
  'isv.MOBILE_NUMBER_ILLEGAL': '非法手机号',
  'isv.AMOUNT_NOT_ENOUGH': '账户余额不足',
  'isv.BLACK_KEY_CONTROL_LIMIT': '模板变量中存在限制发送的关键字',
  'isp.SYSTEM_ERROR': 'isp.SYSTEM_ERROR',
  'Throttling.User': 'Request was denied due to user flow control.',
};

const sha256Hex = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex');

function encodeRfc3986(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function formatBeijing(at: number): string {
  return new Date(at + 8 * 3_600_000).toISOString().slice(0, 19).replace('T', ' ');
}

interface GatewayError {
  status: number;
  code: string;
  message: string;
}

export async function startAliyunFake(options: AliyunFakeOptions): Promise<AliyunFake> {
  const requests: RecordedRequest[] = [];
  const nonces = new Set<string>();
  let fault: FakeFault;

  function verifyAcs3(req: IncomingMessage, body: string): GatewayError | undefined {
    const incomplete = {
      status: 400,
      code: 'IncompleteSignature',
      message: 'The request signature does not conform to Aliyun standards.',
    };
    const authorization = req.headers.authorization;
    const match =
      /^ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([a-z0-9;-]+),Signature=([0-9a-f]{64})$/.exec(
        authorization ?? '',
      );
    if (!match) return incomplete;
    const [, accessKeyId, signedHeaders, signature] = match as unknown as string[];
    if (accessKeyId !== options.accessKeyId) {
      return {
        status: 404,
        code: 'InvalidAccessKeyId.NotFound',
        message: 'Specified access key is not found.',
      };
    }
    const date = Date.parse(String(req.headers['x-acs-date'] ?? ''));
    if (Number.isNaN(date) || Math.abs(Date.now() - date) > MAX_SKEW_MS) {
      return {
        status: 400,
        code: 'InvalidTimeStamp.Expired',
        message: 'Specified time stamp or date value is expired.',
      };
    }
    const nonce = String(req.headers['x-acs-signature-nonce'] ?? '');
    if (nonce === '') return incomplete;
    if (nonces.has(nonce)) {
      return {
        status: 400,
        code: 'SignatureNonceUsed',
        message: 'Specified signature nonce was used already.',
      };
    }
    const names = signedHeaders!.split(';');
    const unsigned = Object.keys(req.headers).filter(
      (name) => name.startsWith('x-acs-') && !names.includes(name),
    );
    if (!names.includes('host') || unsigned.length > 0) return incomplete;
    if (req.headers['x-acs-content-sha256'] !== sha256Hex(body)) {
      return {
        status: 400,
        code: 'SignatureDoesNotMatch',
        message: 'The content hash does not match the body.',
      };
    }
    const url = new URL(req.url ?? '/', 'http://fake');
    const canonicalQuery = [...url.searchParams]
      .map(([key, value]) => [encodeRfc3986(key), encodeRfc3986(value)] as const)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, value]) => `${key}=${value}`)
      .join('&');
    const canonicalHeaders = names
      .map((name) => `${name}:${String(req.headers[name] ?? '').trim()}\n`)
      .join('');
    const canonicalRequest = [
      req.method,
      url.pathname,
      canonicalQuery,
      canonicalHeaders,
      signedHeaders,
      req.headers['x-acs-content-sha256'],
    ].join('\n');
    const stringToSign = `ACS3-HMAC-SHA256\n${sha256Hex(canonicalRequest)}`;
    const expected = createHmac('sha256', options.accessKeySecret).update(stringToSign, 'utf8').digest();
    const given = Buffer.from(signature!, 'hex');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return {
        status: 400,
        code: 'SignatureDoesNotMatch',
        message: 'Specified signature does not match our calculation.',
      };
    }
    nonces.add(nonce);
    return undefined;
  }

  function answer(res: ServerResponse, status: number, body: Record<string, unknown>) {
    res.writeHead(status, { 'content-type': 'application/json;charset=utf-8' });
    res.end(JSON.stringify({ RequestId: randomUUID().toUpperCase(), ...body }));
  }

  function gatewayError(res: ServerResponse, error: GatewayError) {
    answer(res, error.status, {
      HostId: HOST_ID,
      Code: error.code,
      Message: error.message,
      Recommend: `https://api.aliyun.com/troubleshoot?q=${error.code}`,
    });
  }

  function handle(req: IncomingMessage, res: ServerResponse, record: RecordedRequest) {
    const failure = verifyAcs3(req, record.body);
    if (failure) return gatewayError(res, failure);
    record.authenticated = true;
    if (req.headers['x-acs-action'] !== 'SendSms') {
      return gatewayError(res, {
        status: 404,
        code: 'InvalidAction.NotFound',
        message: 'Specified api is not found.',
      });
    }
    if (req.headers['x-acs-version'] !== '2017-05-25') {
      return gatewayError(res, {
        status: 400,
        code: 'InvalidVersion',
        message: 'Specified parameter Version is not valid.',
      });
    }
    const current = fault;
    if (current?.kind === 'hang') return;
    if (current?.kind === 'status') return htmlError(res, current.status);
    if (current?.kind === 'error') {
      const business = current.code.startsWith('isv.') || current.code.startsWith('isp.');
      const message = MESSAGES[current.code] ?? `fake ${current.code}`;
      if (business) return answer(res, 200, { Code: current.code, Message: message });
      return gatewayError(res, {
        status: current.code === 'ServiceUnavailable' ? 503 : 400,
        code: current.code,
        message,
      });
    }
    const params = record.params;
    for (const name of ['PhoneNumbers', 'SignName', 'TemplateCode']) {
      if (!params[name]) {
        return gatewayError(res, {
          status: 400,
          code: `Missing${name}`,
          message: `${name} is mandatory for this action.`,
        });
      }
    }
    // Aliyun wants digits only: mainland numbers bare (or 86-prefixed), others with country code.
    if (!params.PhoneNumbers!.split(',').every((n) => /^\d{5,20}$/.test(n))) {
      return answer(res, 200, {
        Code: 'isv.MOBILE_NUMBER_ILLEGAL',
        Message: MESSAGES['isv.MOBILE_NUMBER_ILLEGAL'],
      });
    }
    if (params.TemplateParam !== undefined) {
      try {
        const parsed: unknown = JSON.parse(params.TemplateParam);
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
          throw new Error('not a map');
      } catch {
        return answer(res, 200, {
          Code: 'isv.INVALID_JSON_PARAM',
          Message: 'JSON参数不合法，只接受字符串值',
        });
      }
    }
    const bizId = `${randomInt(1e8, 1e9)}${randomInt(1e7, 1e8)}^0`;
    record.bizId = bizId;
    answer(res, 200, { Code: 'OK', Message: 'OK', BizId: bizId });
  }

  const http = await startFakeHttp((exchange) => {
    const { req, res, url } = exchange;
    void exchange.body.then((text) => {
      if (url.pathname !== '/' || (req.method !== 'POST' && req.method !== 'GET')) {
        res.writeHead(404).end();
        return;
      }
      const params = Object.fromEntries(url.searchParams);
      if (String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
        Object.assign(params, Object.fromEntries(new URLSearchParams(text)));
      }
      const record: RecordedRequest = { ...exchange.record(text), params };
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
    mainlandReport(request, outcome = {}) {
      const success = outcome.success ?? true;
      const now = Date.now();
      return {
        phone_number: request.params.PhoneNumbers,
        send_time: formatBeijing(now - 3_000),
        report_time: formatBeijing(now),
        success,
        err_code: outcome.errCode ?? (success ? 'DELIVERED' : 'MK:0001'),
        err_msg: success ? '用户接收成功' : '用户接收失败',
        sms_size: '1',
        biz_id: request.bizId,
        out_id: request.params.OutId ?? '',
      };
    },
    internationalReport(request, status, errorCode) {
      return {
        To: request.params.PhoneNumbers,
        Status: status,
        MessageId: request.bizId,
        SmsSize: '1',
        TaskId: String(randomInt(1e5, 1e6)),
        SendDate: new Date(Date.now() - 3_000).toUTCString().replace('GMT', '+0000'),
        ReceiveDate: new Date().toUTCString().replace('GMT', '+0000'),
        ErrorCode: errorCode ?? (status === '1' ? 'success' : 'DELIVERY_FAILED'),
        ErrorDescription: status === '1' ? 'success' : 'failed',
      };
    },
    sendReceipt: (target, reports) => http.postJson(target, reports, 'application/json;charset=utf-8'),
    close: () => http.close(),
  };
}
