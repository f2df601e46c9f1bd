import { execFile } from 'node:child_process';
import {
  createHash,
  createHmac,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  randomUUID,
  sign,
  timingSafeEqual,
} from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type FakeRequest, htmlError, type HttpFault, type PostResult, startFakeHttp } from './fake-http.ts';

/**
 * A local AWS End User Messaging SMS endpoint and SNS topic. The SMS side speaks the JSON 1.0
 * protocol (`POST /`, `X-Amz-Target: PinpointSMSVoiceV2.SendTextMessage`) and checks every
 * request's SigV4 signature against its own implementation of the algorithm, answering AWS's
 * own auth errors when it does not hold. The SNS side signs notifications with a test RSA key
 * whose self-signed certificate it serves, and answers SubscribeURL confirmations.
 */

export type FakeFault =
  | HttpFault
  /** `ExceptionName` or `ExceptionName:REASON`, e.g. `ConflictException:DESTINATION_PHONE_NUMBER_OPTED_OUT`. */
  | { kind: 'error'; code: string }
  | undefined;

/** `authenticated`: whether the SigV4 signature held. */
export interface RecordedRequest extends FakeRequest {
  /** The SendTextMessage input. */
  input?: Record<string, unknown>;
  /** The MessageId answered, when the message was accepted. */
  messageId?: string;
}

export interface SnsEnvelope {
  Type: string;
  MessageId: string;
  TopicArn: string;
  Subject?: string;
  Message: string;
  Timestamp: string;
  SignatureVersion: string;
  Signature: string;
  SigningCertURL: string;
  UnsubscribeURL?: string;
  SubscribeURL?: string;
  Token?: string;
}

export interface SnsOptions {
  signatureVersion?: '1' | '2';
  topicArn?: string;
  certificateUrl?: string;
  /** Sign with this key instead of the one whose certificate the fake serves. */
  signingKey?: KeyObject;
}

export interface AwsSmsFake {
  /** Base URL of both the SMS API and the SNS host. */
  readonly url: string;
  readonly topicArn: string;
  readonly certificateUrl: string;
  readonly requests: RecordedRequest[];
  /** Tokens the fake saw confirmed at its SubscribeURL. */
  readonly confirmations: string[];
  /** Every GET of the signing certificate. */
  readonly certificateFetches: string[];
  setFault(fault: FakeFault): void;
  /** An SMS event as the configuration set's event destination publishes it (reference 3.2). */
  smsEvent(
    messageId: string,
    eventType: string,
    overrides?: Record<string, unknown>,
  ): Record<string, unknown>;
  notification(message: string, options?: SnsOptions): SnsEnvelope;
  subscriptionConfirmation(options?: SnsOptions): SnsEnvelope;
  /** POSTs an SNS message as SNS does (text/plain body, x-amz-sns-* headers). */
  post(url: string, envelope: SnsEnvelope): Promise<PostResult>;
  /** Signs an SMS event as a notification and POSTs it. */
  sendReceipt(url: string, event: Record<string, unknown>, options?: SnsOptions): Promise<PostResult>;
  close(): Promise<void>;
}

export interface AwsSmsFakeOptions {
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

const SERVICE = 'sms-voice';
const TARGET = 'PinpointSMSVoiceV2.SendTextMessage';
const CERTIFICATE_PATH = '/SimpleNotificationService-0000000000000000000000.pem';
const MAX_SKEW_MS = 5 * 60_000;
const INVALID_SIGNATURE =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

const execFileAsync = promisify(execFile);
const sha256Hex = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

interface AuthFailure {
  status: number;
  type: string;
  message: string;
}

export async function startAwsSmsFake(options: AwsSmsFakeOptions): Promise<AwsSmsFake> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const certificatePem = await selfSignedCertificate(privateKey);
  const requests: RecordedRequest[] = [];
  const confirmations: string[] = [];
  const certificateFetches: string[] = [];
  const pendingTokens = new Set<string>();
  const sent = new Map<string, Record<string, unknown>>();
  let fault: FakeFault;
  const accountId = '111122223333';
  const topicArn = `arn:aws:sns:${options.region}:${accountId}:pigeon-sms-events`;

  function verifySigV4(req: IncomingMessage, body: string): AuthFailure | undefined {
    const authorization = req.headers.authorization;
    if (!authorization) {
      return {
        status: 403,
        type: 'MissingAuthenticationTokenException',
        message: 'Missing Authentication Token',
      };
    }
    const match =
      /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/.exec(
        authorization,
      );
    if (!match) {
      return {
        status: 400,
        type: 'IncompleteSignatureException',
        message: `Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.`,
      };
    }
    const [, accessKeyId, date, region, service, signedHeaders, signature] = match as unknown as string[];
    if (accessKeyId !== options.accessKeyId) {
      return {
        status: 400,
        type: 'UnrecognizedClientException',
        message: 'The security token included in the request is invalid.',
      };
    }
    if (region !== options.region || service !== SERVICE) {
      return {
        status: 400,
        type: 'InvalidSignatureException',
        message: `Credential should be scoped to a valid region and service.`,
      };
    }
    const amzDate = String(req.headers['x-amz-date'] ?? '');
    const at = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
    if (!at || !amzDate.startsWith(date!)) {
      return {
        status: 400,
        type: 'InvalidSignatureException',
        message: 'Date must be in ISO-8601 basic format.',
      };
    }
    const time = Date.UTC(+at[1]!, +at[2]! - 1, +at[3]!, +at[4]!, +at[5]!, +at[6]!);
    if (Math.abs(Date.now() - time) > MAX_SKEW_MS) {
      return { status: 400, type: 'InvalidSignatureException', message: 'Signature expired.' };
    }
    const names = signedHeaders!.split(';');
    if (!names.includes('host') || !names.includes('x-amz-date')) {
      return { status: 400, type: 'InvalidSignatureException', message: INVALID_SIGNATURE };
    }
    const canonicalHeaders = names
      .map((name) => {
        const value = req.headers[name];
        const joined = Array.isArray(value) ? value.join(',') : (value ?? '');
        return `${name}:${joined.trim().replace(/\s+/g, ' ')}\n`;
      })
      .join('');
    const url = new URL(req.url ?? '/', 'http://fake');
    const canonicalQuery = [...url.searchParams]
      .map(([k, v]) => `${encodeRfc3986(k)}=${encodeRfc3986(v)}`)
      .sort()
      .join('&');
    const canonicalRequest = [
      req.method,
      url.pathname,
      canonicalQuery,
      canonicalHeaders,
      signedHeaders,
      sha256Hex(body),
    ].join('\n');
    const scope = `${date}/${region}/${service}/aws4_request`;
    const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
    const key = hmac(
      hmac(hmac(hmac(`AWS4${options.secretAccessKey}`, date!), region), service),
      'aws4_request',
    );
    const expected = createHmac('sha256', key).update(stringToSign, 'utf8').digest();
    const given = Buffer.from(signature!, 'hex');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return { status: 400, type: 'InvalidSignatureException', message: INVALID_SIGNATURE };
    }
    return undefined;
  }

  function awsError(res: ServerResponse, status: number, type: string, message: string, reason?: string) {
    const body: Record<string, unknown> = {
      __type: `com.amazonaws.pinpointsmsvoicev2#${type}`,
      Message: message,
    };
    if (reason) body.Reason = reason;
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.0',
      'x-amzn-requestid': randomUUID(),
    });
    res.end(JSON.stringify(body));
  }

  function handleSend(req: IncomingMessage, res: ServerResponse, record: RecordedRequest) {
    const failure = verifySigV4(req, record.body);
    if (failure) {
      // Auth errors of AWS's front door use the lower-case `message` member.
      res.writeHead(failure.status, { 'content-type': 'application/x-amz-json-1.0' });
      res.end(JSON.stringify({ __type: failure.type, message: failure.message }));
      return;
    }
    record.authenticated = true;
    if (req.headers['x-amz-target'] !== TARGET) {
      awsError(res, 400, 'UnknownOperationException', 'Unknown operation');
      return;
    }
    let input: Record<string, unknown>;
    try {
      input = JSON.parse(record.body) as Record<string, unknown>;
    } catch {
      awsError(res, 400, 'SerializationException', 'Could not parse the request body');
      return;
    }
    record.input = input;
    const current = fault;
    if (current?.kind === 'hang') return;
    if (current?.kind === 'status') return htmlError(res, current.status);
    if (current?.kind === 'error') {
      const [type, reason] = current.code.split(':');
      awsError(res, type === 'InternalServerException' ? 500 : 400, type!, `fake ${current.code}`, reason);
      return;
    }
    const invalid = validate(input);
    if (invalid) {
      awsError(res, 400, 'ValidationException', invalid, 'FIELD_VALIDATION_FAILED');
      return;
    }
    const messageId = randomUUID();
    record.messageId = messageId;
    sent.set(messageId, input);
    res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': randomUUID() });
    res.end(JSON.stringify({ MessageId: messageId }));
  }

  function handleConfirm(url: URL, res: ServerResponse) {
    const token = url.searchParams.get('Token') ?? '';
    if (url.searchParams.get('TopicArn') !== topicArn || !pendingTokens.delete(token)) {
      res.writeHead(400, { 'content-type': 'text/xml' });
      res.end(
        '<ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameter</Code></Error></ErrorResponse>',
      );
      return;
    }
    confirmations.push(token);
    res.writeHead(200, { 'content-type': 'text/xml' });
    res.end(
      `<ConfirmSubscriptionResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><ConfirmSubscriptionResult><SubscriptionArn>${topicArn}:${randomUUID()}</SubscriptionArn></ConfirmSubscriptionResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></ConfirmSubscriptionResponse>`,
    );
  }

  const http = await startFakeHttp((exchange) => {
    const { req, res, url } = exchange;
    void exchange.body.then((text) => {
      if (req.method === 'GET' && url.pathname === CERTIFICATE_PATH) {
        certificateFetches.push(url.pathname);
        res.writeHead(200, { 'content-type': 'application/x-x509-ca-cert' });
        res.end(certificatePem);
        return;
      }
      if (req.method === 'GET' && url.searchParams.get('Action') === 'ConfirmSubscription') {
        handleConfirm(url, res);
        return;
      }
      if (req.method !== 'POST' || url.pathname !== '/') {
        res.writeHead(404).end();
        return;
      }
      const record: RecordedRequest = exchange.record(text);
      requests.push(record);
      handleSend(req, res, record);
    });
  });
  const base = http.url;
  const certificateUrl = `${base}${CERTIFICATE_PATH}`;

  function signEnvelope(fields: Omit<SnsEnvelope, 'Signature'>, key: KeyObject): SnsEnvelope {
    const names =
      fields.Type === 'Notification'
        ? (['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'] as const)
        : (['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'] as const);
    let canonical = '';
    for (const name of names) {
      if (fields[name] !== undefined) canonical += `${name}\n${fields[name]}\n`;
    }
    const digest = fields.SignatureVersion === '1' ? 'sha1' : 'sha256';
    return { ...fields, Signature: sign(digest, Buffer.from(canonical, 'utf8'), key).toString('base64') };
  }

  const fake: AwsSmsFake = {
    url: base,
    topicArn,
    certificateUrl,
    requests,
    confirmations,
    certificateFetches,
    setFault(next) {
      fault = next;
    },
    smsEvent(messageId, eventType, overrides = {}) {
      const input = sent.get(messageId) ?? {};
      const now = Date.now();
      return {
        eventType,
        eventVersion: '1.0',
        eventTimestamp: now,
        isFinal: !['TEXT_QUEUED', 'TEXT_PENDING', 'TEXT_SENT'].includes(eventType),
        originationPhoneNumber: input.OriginationIdentity ?? '+12065550152',
        destinationPhoneNumber: input.DestinationPhoneNumber ?? '+14255550156',
        isoCountryCode: 'US',
        isInternationalSend: false,
        mcc: '310',
        mnc: '800',
        messageId,
        messageRequestTimestamp: now - 300,
        messageEncoding: 'GSM',
        messageType: input.MessageType ?? 'TRANSACTIONAL',
        messageStatus: eventType.replace(/^TEXT_/, ''),
        messageStatusDescription: 'Message has been accepted by phone carrier',
        context: input.Context ?? {},
        totalMessageParts: 1,
        totalMessagePrice: 0.00581,
        totalCarrierFee: 0.0,
        ...overrides,
      };
    },
    notification(message, opts = {}) {
      return signEnvelope(
        {
          Type: 'Notification',
          MessageId: randomUUID(),
          TopicArn: opts.topicArn ?? topicArn,
          Message: message,
          Timestamp: new Date().toISOString(),
          SignatureVersion: opts.signatureVersion ?? '2',
          SigningCertURL: opts.certificateUrl ?? certificateUrl,
          UnsubscribeURL: `${base}/?Action=Unsubscribe&SubscriptionArn=${encodeURIComponent(`${topicArn}:sub`)}`,
        },
        opts.signingKey ?? privateKey,
      );
    },
    subscriptionConfirmation(opts = {}) {
      const token = randomBytes(32).toString('hex');
      pendingTokens.add(token);
      const arn = opts.topicArn ?? topicArn;
      return signEnvelope(
        {
          Type: 'SubscriptionConfirmation',
          MessageId: randomUUID(),
          Token: token,
          TopicArn: arn,
          Message: `You have chosen to subscribe to the topic ${arn}.\nTo confirm the subscription, visit the SubscribeURL included in this message.`,
          SubscribeURL: `${base}/?Action=ConfirmSubscription&TopicArn=${encodeURIComponent(arn)}&Token=${token}`,
          Timestamp: new Date().toISOString(),
          SignatureVersion: opts.signatureVersion ?? '2',
          SigningCertURL: opts.certificateUrl ?? certificateUrl,
        },
        opts.signingKey ?? privateKey,
      );
    },
    post(url, envelope) {
      return http.post(url, {
        method: 'POST',
        headers: {
          'content-type': 'text/plain; charset=UTF-8',
          'x-amz-sns-message-type': envelope.Type,
          'x-amz-sns-message-id': envelope.MessageId,
          'x-amz-sns-topic-arn': envelope.TopicArn,
          'user-agent': 'Amazon Simple Notification Service Agent',
        },
        body: JSON.stringify(envelope),
      });
    },
    async sendReceipt(url, event, opts) {
      return fake.post(url, fake.notification(JSON.stringify(event), opts));
    },
    close: () => http.close(),
  };
  return fake;
}

function validate(input: Record<string, unknown>): string | undefined {
  if (
    typeof input.DestinationPhoneNumber !== 'string' ||
    !/^\+[1-9]\d{6,14}$/.test(input.DestinationPhoneNumber)
  ) {
    return 'DestinationPhoneNumber must be in E.164 format';
  }
  if (
    typeof input.MessageBody !== 'string' ||
    input.MessageBody.length === 0 ||
    input.MessageBody.length > 1600
  ) {
    return 'MessageBody must be 1 to 1600 characters';
  }
  if (
    input.MessageType !== undefined &&
    input.MessageType !== 'TRANSACTIONAL' &&
    input.MessageType !== 'PROMOTIONAL'
  ) {
    return 'MessageType must be TRANSACTIONAL or PROMOTIONAL';
  }
  const ttl = input.TimeToLive;
  if (ttl !== undefined && (!Number.isInteger(ttl) || (ttl as number) < 5 || (ttl as number) > 259_200)) {
    return 'TimeToLive must be between 5 and 259200';
  }
  const context = input.Context;
  if (context !== undefined && (typeof context !== 'object' || context === null || Array.isArray(context))) {
    return 'Context must be a map of strings';
  }
  return undefined;
}

function encodeRfc3986(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** A self-signed X.509 certificate for the key, made by the openssl CLI. */
async function selfSignedCertificate(privateKey: KeyObject): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pigeon-sns-'));
  try {
    const keyPath = join(dir, 'key.pem');
    await writeFile(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const { stdout } = await execFileAsync('openssl', [
      'req',
      '-x509',
      '-new',
      '-key',
      keyPath,
      '-subj',
      '/CN=sns.us-east-1.amazonaws.com',
      '-days',
      '2',
      '-sha256',
    ]);
    return stdout;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
