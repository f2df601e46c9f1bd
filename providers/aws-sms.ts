import { type KeyObject, verify, X509Certificate } from 'node:crypto';
import type * as PinpointSdk from '@aws-sdk/client-pinpoint-sms-voice-v2';
import { PigeonError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { ReceiptStatus } from '../core/message.ts';
import {
  ambiguousAnswer,
  classifyHttpStatus,
  optionalString,
  parseRetryAfter,
  requireString,
  transportError,
} from './http.ts';
import {
  type ErrorClass,
  type InboundHttpRequest,
  type ParsedReceipt,
  type ProviderAdapter,
  ProviderError,
  type ProviderFactory,
  type SendRequest,
  type SendResult,
} from './provider.ts';

/**
 * AWS End User Messaging SMS (`pinpoint-sms-voice-v2` SendTextMessage) through the official SDK,
 * which signs with SigV4. Delivery events reach us from a configuration set's SNS event
 * destination, as SNS HTTP(S) notifications whose signature we verify.
 */

export const DEFAULT_SNS_CERTIFICATE_HOST = /^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/;

/** SendTextMessage accepts a TimeToLive of 5 s to 72 h. */
const TTL_MIN_S = 5;
const TTL_MAX_S = 259_200;
const CERTIFICATE_CACHE_MAX = 32;
const CERTIFICATE_MAX_BYTES = 64 * 1024;
const SNS_FETCH_TIMEOUT_MS = 5_000;

export interface AwsSmsSettings {
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** Overrides the regional endpoint (VPC endpoints, tests). */
  endpoint?: string;
  /** Used when routing gives no sender: a phone number, sender id, pool id or their ARN. */
  originationIdentity?: string;
  /** The configuration set whose event destination publishes delivery events to SNS. */
  configurationSetName?: string;
  /** When set, notifications from any other topic are refused. */
  topicArn?: string;
  /** Hosts SigningCertURL and SubscribeURL may point at. */
  snsCertificateHost: RegExp;
  /** Lets SigningCertURL and SubscribeURL use plain http; only for tests against a local fake. */
  snsAllowHttp: boolean;
}

type Sdk = typeof PinpointSdk;
interface LoadedSdk {
  client: InstanceType<Sdk['PinpointSMSVoiceV2Client']>;
  SendTextMessageCommand: Sdk['SendTextMessageCommand'];
}

interface CachedCertificate {
  publicKey: KeyObject;
  validTo: number;
}

interface SnsEnvelope {
  Type: string;
  MessageId: string;
  TopicArn: string;
  Message: string;
  Timestamp: string;
  SignatureVersion: string;
  Signature: string;
  SigningCertURL: string;
  Subject?: string;
  SubscribeURL?: string;
  Token?: string;
}

/** The SMS event of a configuration set's event destination (the SNS `Message`). */
interface SmsEvent {
  eventType?: unknown;
  isFinal?: unknown;
  messageId?: unknown;
  eventTimestamp?: unknown;
  context?: unknown;
}

export class AwsSmsProvider implements ProviderAdapter {
  readonly type = 'aws-sms';
  private sdk: Promise<LoadedSdk> | undefined;
  private readonly certificates = new Map<string, Promise<CachedCertificate>>();

  constructor(
    readonly name: string,
    private readonly settings: AwsSmsSettings,
    private readonly logger: Logger,
  ) {}

  async send(request: SendRequest, signal: AbortSignal): Promise<SendResult> {
    const { client, SendTextMessageCommand } = await this.loadSdk();
    const input: PinpointSdk.SendTextMessageCommandInput = {
      DestinationPhoneNumber: request.to,
      MessageBody: request.body,
      MessageType: request.messageClass === 'marketing' ? 'PROMOTIONAL' : 'TRANSACTIONAL',
      TimeToLive: timeToLive(request.expiresAt),
      Context: { messageId: request.messageId },
    };
    const origination = request.from ?? this.settings.originationIdentity;
    if (origination) input.OriginationIdentity = origination;
    if (this.settings.configurationSetName) input.ConfigurationSetName = this.settings.configurationSetName;
    try {
      // The SDK's node handler destroys the socket when abortSignal fires, so our timeout
      // really cancels the request rather than leaving it to finish in the background.
      const output = await client.send(new SendTextMessageCommand(input), { abortSignal: signal });
      if (!output.MessageId) throw ambiguousAnswer('NO_MESSAGE_ID', `${this.name}: answer without MessageId`);
      return { providerMessageId: output.MessageId };
    } catch (err) {
      throw classifyAwsError(err, signal);
    }
  }

  async parseReceipt(request: InboundHttpRequest): Promise<ParsedReceipt[]> {
    const envelope = parseEnvelope(request.rawBody);
    if (this.settings.topicArn !== undefined && envelope.TopicArn !== this.settings.topicArn) {
      throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', 'SNS message from an unexpected topic');
    }
    await this.verifySignature(envelope);
    switch (envelope.Type) {
      case 'SubscriptionConfirmation':
        await this.confirmSubscription(envelope);
        return [];
      case 'UnsubscribeConfirmation':
        this.logger.warn({ provider: this.name, topicArn: envelope.TopicArn }, 'sns.unsubscribed');
        return [];
      default:
        return parseSmsEvent(envelope.Message);
    }
  }

  async close(): Promise<void> {
    const sdk = this.sdk;
    this.sdk = undefined;
    if (sdk) (await sdk.catch(() => undefined))?.client.destroy();
  }

  /** Loaded on first send so that building the registry does not pull in the whole SDK. */
  private async loadSdk(): Promise<LoadedSdk> {
    this.sdk ??= import('@aws-sdk/client-pinpoint-sms-voice-v2').then((sdk) => ({
      client: new sdk.PinpointSMSVoiceV2Client({
        region: this.settings.region,
        ...(this.settings.endpoint === undefined ? {} : { endpoint: this.settings.endpoint }),
        credentials: {
          accessKeyId: this.settings.accessKeyId,
          secretAccessKey: this.settings.secretAccessKey,
          ...(this.settings.sessionToken === undefined ? {} : { sessionToken: this.settings.sessionToken }),
        },
        // The bridge owns retries and failover; SDK retries would multiply load on a provider
        // already in trouble and hide its throttling from the breaker.
        maxAttempts: 1,
      }),
      SendTextMessageCommand: sdk.SendTextMessageCommand,
    }));
    try {
      return await this.sdk;
    } catch (cause) {
      this.sdk = undefined;
      throw new ProviderError('retryable', 'SDK_UNAVAILABLE', `${this.name}: AWS SDK failed to load`, {
        cause,
      });
    }
  }

  private async verifySignature(envelope: SnsEnvelope): Promise<void> {
    const digest =
      envelope.SignatureVersion === '1' ? 'sha1' : envelope.SignatureVersion === '2' ? 'sha256' : undefined;
    if (!digest) {
      throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', 'unsupported SNS SignatureVersion');
    }
    const certificate = await this.certificate(envelope.SigningCertURL);
    const valid = verify(
      digest,
      Buffer.from(snsStringToSign(envelope), 'utf8'),
      certificate.publicKey,
      Buffer.from(envelope.Signature, 'base64'),
    );
    if (!valid) throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', 'SNS signature does not match');
  }

  /**
   * The signing certificate, fetched once per URL. Trust comes from fetching it over TLS from an
   * SNS host (as AWS's own message validators do), so the URL is checked before any fetch.
   */
  private async certificate(url: string): Promise<CachedCertificate> {
    this.checkSnsUrl(url, 'SigningCertURL');
    let pending = this.certificates.get(url);
    if (!pending) {
      pending = fetchCertificate(url);
      this.certificates.set(url, pending);
      if (this.certificates.size > CERTIFICATE_CACHE_MAX) {
        const oldest = this.certificates.keys().next().value;
        if (oldest !== undefined) this.certificates.delete(oldest);
      }
    }
    let certificate: CachedCertificate;
    try {
      certificate = await pending;
    } catch (err) {
      this.certificates.delete(url);
      throw err;
    }
    if (certificate.validTo < Date.now()) {
      this.certificates.delete(url);
      throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', 'SNS signing certificate has expired');
    }
    return certificate;
  }

  private checkSnsUrl(value: string, field: string): void {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', `SNS ${field} is not a URL`);
    }
    const schemeAllowed =
      url.protocol === 'https:' || (this.settings.snsAllowHttp && url.protocol === 'http:');
    if (!schemeAllowed || !this.settings.snsCertificateHost.test(url.hostname)) {
      throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', `SNS ${field} is not an SNS address`);
    }
    if (field === 'SigningCertURL' && !url.pathname.endsWith('.pem')) {
      throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', 'SNS SigningCertURL is not a certificate');
    }
  }

  private async confirmSubscription(envelope: SnsEnvelope): Promise<void> {
    if (!envelope.SubscribeURL) {
      throw new PigeonError('PIGEON_ERR_VALIDATION', 'SubscriptionConfirmation without SubscribeURL');
    }
    this.checkSnsUrl(envelope.SubscribeURL, 'SubscribeURL');
    let response: Response;
    try {
      response = await fetch(envelope.SubscribeURL, {
        signal: AbortSignal.timeout(SNS_FETCH_TIMEOUT_MS),
        redirect: 'error',
      });
      await response.arrayBuffer();
    } catch (cause) {
      // Retriable: SNS sends the confirmation again when we do not answer 2xx.
      throw new PigeonError('PIGEON_ERR_INTERNAL', 'could not confirm the SNS subscription', { cause });
    }
    if (!response.ok) {
      throw new PigeonError('PIGEON_ERR_INTERNAL', `SNS refused the subscription (${response.status})`);
    }
    this.logger.info({ provider: this.name, topicArn: envelope.TopicArn }, 'sns.subscription_confirmed');
  }
}

async function fetchCertificate(url: string): Promise<CachedCertificate> {
  let pem: string;
  try {
    const response = await fetch(url, {
      signal: AbortSignal.timeout(SNS_FETCH_TIMEOUT_MS),
      redirect: 'error',
    });
    const body = await response.arrayBuffer();
    if (!response.ok || body.byteLength > CERTIFICATE_MAX_BYTES) {
      throw new Error(`certificate fetch answered ${response.status} with ${body.byteLength} bytes`);
    }
    pem = Buffer.from(body).toString('utf8');
  } catch (cause) {
    // Retriable: the notification is genuine as far as we know, and SNS retries on a 5xx.
    throw new PigeonError('PIGEON_ERR_INTERNAL', 'could not fetch the SNS signing certificate', { cause });
  }
  try {
    const certificate = new X509Certificate(pem);
    return { publicKey: certificate.publicKey, validTo: Date.parse(certificate.validTo) };
  } catch (cause) {
    throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', 'SNS signing certificate is not valid', { cause });
  }
}

const NOTIFICATION_FIELDS = ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'] as const;
const CONFIRMATION_FIELDS = [
  'Message',
  'MessageId',
  'SubscribeURL',
  'Timestamp',
  'Token',
  'TopicArn',
  'Type',
] as const;

/** The string SNS signs: `name\nvalue\n` for each documented field present, in this order. */
export function snsStringToSign(envelope: SnsEnvelope): string {
  const fields = envelope.Type === 'Notification' ? NOTIFICATION_FIELDS : CONFIRMATION_FIELDS;
  let out = '';
  for (const field of fields) {
    const value = envelope[field];
    if (typeof value === 'string') out += `${field}\n${value}\n`;
  }
  return out;
}

const SNS_TYPES = new Set(['Notification', 'SubscriptionConfirmation', 'UnsubscribeConfirmation']);
const REQUIRED_SNS_FIELDS = [
  'Type',
  'MessageId',
  'TopicArn',
  'Message',
  'Timestamp',
  'SignatureVersion',
  'Signature',
  'SigningCertURL',
] as const;

function parseEnvelope(rawBody: string): SnsEnvelope {
  let body: unknown;
  try {
    body = JSON.parse(rawBody);
  } catch (cause) {
    throw new PigeonError('PIGEON_ERR_MALFORMED_JSON', 'SNS message is not JSON', { cause });
  }
  if (typeof body !== 'object' || body === null) {
    throw new PigeonError('PIGEON_ERR_VALIDATION', 'SNS message is not an object');
  }
  const fields = body as Record<string, unknown>;
  // Without these there is nothing to verify: raw message delivery must stay off.
  for (const field of REQUIRED_SNS_FIELDS) {
    if (typeof fields[field] !== 'string') {
      throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', `SNS message lacks ${field}`);
    }
  }
  if (!SNS_TYPES.has(fields.Type as string)) {
    throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', 'unknown SNS message type');
  }
  // A signed field of another type would be left out of the string to sign, unsigned.
  const signedOptional =
    fields.Type === 'Notification' ? (['Subject'] as const) : (['SubscribeURL', 'Token'] as const);
  for (const field of signedOptional) {
    const value = fields[field];
    const present = value !== undefined && value !== null;
    if ((fields.Type !== 'Notification' || present) && typeof value !== 'string') {
      throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', `SNS message has no valid ${field}`);
    }
  }
  return body as SnsEnvelope;
}

/** Event types that say nothing final yet. */
const INTERMEDIATE_EVENTS = new Set(['TEXT_QUEUED', 'TEXT_PENDING', 'TEXT_SENT']);

const FINAL_EVENTS: Record<string, ReceiptStatus> = {
  TEXT_DELIVERED: 'delivered',
  TEXT_BLOCKED: 'rejected',
  TEXT_CARRIER_BLOCKED: 'rejected',
  TEXT_SPAM: 'rejected',
  TEXT_PROTECT_BLOCKED: 'rejected',
  TEXT_INVALID_MESSAGE: 'rejected',
  TEXT_INVALID: 'undelivered',
  TEXT_UNREACHABLE: 'undelivered',
  TEXT_CARRIER_UNREACHABLE: 'undelivered',
  TEXT_UNKNOWN: 'undelivered',
  TEXT_TTL_EXPIRED: 'expired',
};

/** The status an SMS event settles, or undefined when it settles nothing yet. */
export function smsEventStatus(eventType: string, isFinal: unknown): ReceiptStatus | undefined {
  if (INTERMEDIATE_EVENTS.has(eventType) || isFinal === false) return undefined;
  // "Accepted by the carrier": where carriers return no handset receipt AWS marks it final and
  // it is all the delivery news there will be; elsewhere TEXT_DELIVERED follows.
  if (eventType === 'TEXT_SUCCESSFUL') return isFinal === true ? 'delivered' : undefined;
  const status = FINAL_EVENTS[eventType];
  if (status) return status;
  return eventType.startsWith('TEXT_') && isFinal === true ? 'unknown' : undefined;
}

function parseSmsEvent(message: string): ParsedReceipt[] {
  let event: SmsEvent;
  try {
    event = JSON.parse(message) as SmsEvent;
  } catch (cause) {
    throw new PigeonError('PIGEON_ERR_MALFORMED_JSON', 'SNS Message is not an SMS event', { cause });
  }
  if (typeof event !== 'object' || event === null) {
    throw new PigeonError('PIGEON_ERR_VALIDATION', 'SNS Message is not an SMS event');
  }
  if (typeof event.eventType !== 'string' || typeof event.messageId !== 'string') {
    throw new PigeonError('PIGEON_ERR_VALIDATION', 'SMS event needs string eventType and messageId');
  }
  const status = smsEventStatus(event.eventType, event.isFinal);
  if (!status) return [];
  const receipt: ParsedReceipt = {
    providerMessageId: event.messageId,
    status,
    providerStatus: event.eventType,
  };
  const reference = (event.context as { messageId?: unknown } | undefined)?.messageId;
  if (typeof reference === 'string') receipt.reference = reference;
  if (typeof event.eventTimestamp === 'number') receipt.doneAt = new Date(event.eventTimestamp).toISOString();
  return [receipt];
}

function timeToLive(expiresAt: string): number {
  const seconds = Math.ceil((Date.parse(expiresAt) - Date.now()) / 1000);
  if (!Number.isFinite(seconds)) return TTL_MAX_S;
  return Math.min(TTL_MAX_S, Math.max(TTL_MIN_S, seconds));
}

/** Reasons that say this account cannot send it (registration, country, price cap), not the message. */
const ACCOUNT_VALIDATION_REASONS = new Set([
  'SENDER_ID_NOT_REGISTERED',
  'SENDER_ID_REQUIRES_REGISTRATION',
  'SENDER_ID_NOT_SUPPORTED',
  'INVALID_IDENTITY_FOR_DESTINATION_COUNTRY',
  'COUNTRY_NOT_ENABLED',
  'CHANNEL_NOT_ENABLED',
  'INTERNATIONAL_SENDING_NOT_SUPPORTED',
  'PRICE_OVER_THRESHOLD',
  'RESOURCE_NOT_ACCESSIBLE',
]);

/** Our own protect configuration refusing the destination: an anti-fraud decision, not a fault. */
const PROTECT_REASONS = new Set([
  'DESTINATION_COUNTRY_BLOCKED_BY_PROTECT_CONFIGURATION',
  'DESTINATION_PHONE_NUMBER_BLOCKED_BY_PROTECT_NUMBER_OVERRIDE',
]);

/** Errors of the request's signature or credentials, common to every AWS JSON service. */
const AUTH_ERRORS = new Set([
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'IncompleteSignature',
  'IncompleteSignatureException',
  'MissingAuthenticationTokenException',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
]);

/**
 * The error taxonomy for what the SDK throws. Service errors carry the HTTP status in
 * `$metadata`; anything without one never got an answer and is read as a transport error.
 */
export function classifyAwsError(err: unknown, signal: AbortSignal): ProviderError {
  if (err instanceof ProviderError) return err;
  const sdkError = err as {
    name?: string;
    message?: string;
    Reason?: unknown;
    $fault?: unknown;
    $metadata?: { httpStatusCode?: unknown };
    $response?: { headers?: Record<string, string | undefined> };
  };
  const status = sdkError.$metadata?.httpStatusCode;
  if (typeof status !== 'number') return transportError(err, signal);
  const retryAfter = sdkError.$response?.headers?.['retry-after'];
  // Without $fault the SDK found no AWS error in the body (a proxy's HTML page, say).
  if (sdkError.$fault === undefined) {
    return classifyHttpStatus(status, String(status), `aws-sms: HTTP ${status}`, retryAfter);
  }
  const name = sdkError.name ?? 'UnknownError';
  const reason = typeof sdkError.Reason === 'string' ? sdkError.Reason : undefined;
  const rawCode = reason ? `${name}:${reason}` : name;
  const message = `aws-sms ${rawCode}: ${sdkError.message ?? ''}`;
  const errorClass = awsErrorClass(name, reason);
  if (!errorClass) return classifyHttpStatus(status, rawCode, message, retryAfter);
  const retryAfterMs = errorClass === 'throttled' ? parseRetryAfter(retryAfter) : undefined;
  return new ProviderError(errorClass, rawCode, message, {
    cause: err,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });
}

function awsErrorClass(name: string, reason: string | undefined): ErrorClass | undefined {
  switch (name) {
    case 'ThrottlingException':
      return 'throttled';
    case 'ServiceQuotaExceededException':
      // A spent monthly budget does not come back by waiting a moment; other quotas do.
      return reason?.startsWith('MONTHLY_SPEND_LIMIT') ? 'retryable' : 'throttled';
    case 'ValidationException':
      return reason !== undefined && ACCOUNT_VALIDATION_REASONS.has(reason) ? 'retryable' : 'permanent';
    case 'ConflictException':
      if (reason === 'DESTINATION_PHONE_NUMBER_OPTED_OUT') return 'opted_out';
      if (reason !== undefined && PROTECT_REASONS.has(reason)) return 'fraud_blocked';
      // Inactive or mismatched origination identities and the like: our setup, not the message.
      return 'retryable';
    case 'AccessDeniedException':
    case 'ResourceNotFoundException':
    case 'InternalServerException':
      return 'retryable';
    default:
      return AUTH_ERRORS.has(name) ? 'retryable' : undefined;
  }
}

function optionalBoolean(options: Record<string, unknown>, key: string, provider: string): boolean {
  const value = options[key];
  if (value === undefined) return false;
  if (typeof value !== 'boolean') {
    throw new PigeonError('PIGEON_ERR_CONFIG', `provider "${provider}": option "${key}" must be a boolean`);
  }
  return value;
}

function hostPattern(options: Record<string, unknown>, provider: string): RegExp {
  const source = optionalString(options, 'snsCertificateHost', provider);
  if (source === undefined) return DEFAULT_SNS_CERTIFICATE_HOST;
  try {
    return new RegExp(source);
  } catch {
    throw new PigeonError(
      'PIGEON_ERR_CONFIG',
      `provider "${provider}": option "snsCertificateHost" must be a regular expression`,
    );
  }
}

export const createAwsSms: ProviderFactory = (name, options, deps) => {
  const settings: AwsSmsSettings = {
    region: requireString(options, 'region', name),
    accessKeyId: requireString(options, 'accessKeyId', name),
    secretAccessKey: requireString(options, 'secretAccessKey', name),
    snsCertificateHost: hostPattern(options, name),
    snsAllowHttp: optionalBoolean(options, 'snsAllowHttp', name),
  };
  const optional = [
    'sessionToken',
    'endpoint',
    'originationIdentity',
    'configurationSetName',
    'topicArn',
  ] as const;
  for (const key of optional) {
    const value = optionalString(options, key, name);
    if (value !== undefined) settings[key] = value;
  }
  return new AwsSmsProvider(name, settings, deps.logger);
};
