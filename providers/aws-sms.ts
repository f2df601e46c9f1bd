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
  DEFAULT_SNS_CERTIFICATE_HOST,
  parseSnsEnvelope,
  type SnsEnvelope,
  type SnsTrust,
  SnsVerifier,
} from './aws-sns.ts';
import {
  type ErrorClass,
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
 * AWS End User Messaging SMS (`pinpoint-sms-voice-v2` SendTextMessage) through the official SDK,
 * which signs with SigV4. Delivery events reach us from a configuration set's SNS event
 * destination, as SNS HTTP(S) notifications whose signature we verify.
 */

/** SendTextMessage accepts a TimeToLive of 5 s to 72 h. */
const TTL_MIN_S = 5;
const TTL_MAX_S = 259_200;

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
  /** Which SigningCertURL and SubscribeURL hosts and schemes are trusted. */
  sns: SnsTrust;
}

type Sdk = typeof PinpointSdk;
interface LoadedSdk {
  client: InstanceType<Sdk['PinpointSMSVoiceV2Client']>;
  SendTextMessageCommand: Sdk['SendTextMessageCommand'];
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
  private readonly sns: SnsVerifier;

  constructor(
    readonly name: string,
    private readonly settings: AwsSmsSettings,
    private readonly logger: Logger,
  ) {
    this.sns = new SnsVerifier(settings.sns);
  }

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
    const envelope = await this.notification(request);
    return envelope ? parseSmsEvent(envelope.Message) : [];
  }

  /**
   * Two-way SMS: AWS publishes each inbound message to the phone number's SNS topic as JSON
   * (`originationNumber`, `destinationNumber`, `messageBody`, `inboundMessageId`), in the same
   * signed SNS envelope as events. AWS joins long messages itself.
   */
  async parseInbound(request: InboundHttpRequest): Promise<InboundSms[]> {
    const envelope = await this.notification(request);
    if (!envelope) return [];
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(envelope.Message) as Record<string, unknown>;
    } catch (cause) {
      throw new PigeonError('PIGEON_ERR_MALFORMED_JSON', 'two-way SMS message is not JSON', { cause });
    }
    const {
      originationNumber,
      destinationNumber,
      messageBody,
      inboundMessageId,
      previousPublishedMessageId,
    } = message;
    if (
      typeof originationNumber !== 'string' ||
      typeof destinationNumber !== 'string' ||
      typeof inboundMessageId !== 'string'
    ) {
      throw new PigeonError(
        'PIGEON_ERR_VALIDATION',
        'two-way SMS needs originationNumber, destinationNumber and inboundMessageId',
      );
    }
    const sms: InboundSms = {
      from: originationNumber,
      to: destinationNumber,
      body: typeof messageBody === 'string' ? messageBody : '',
      providerMessageId: inboundMessageId,
    };
    // The id AWS gave the message this answers: the receiver finds ours by it.
    if (typeof previousPublishedMessageId === 'string' && previousPublishedMessageId !== '') {
      sms.answersProviderMessageId = previousPublishedMessageId;
    }
    return [sms];
  }

  /**
   * The verified SNS envelope of a notification; undefined for SNS housekeeping (a subscription
   * confirmed here, an unsubscription logged). PIGEON_ERR_RECEIPT_SIGNATURE when it does not verify.
   */
  private async notification(request: InboundHttpRequest): Promise<SnsEnvelope | undefined> {
    const envelope = parseSnsEnvelope(request.rawBody);
    if (this.settings.topicArn !== undefined && envelope.TopicArn !== this.settings.topicArn) {
      throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', 'SNS message from an unexpected topic');
    }
    await this.sns.verify(envelope);
    switch (envelope.Type) {
      case 'SubscriptionConfirmation':
        await this.sns.confirmSubscription(envelope);
        this.logger.info(
          { provider: this.name, topicArn: envelope.TopicArn },
          ProviderEvents.snsSubscriptionConfirmed,
        );
        return undefined;
      case 'UnsubscribeConfirmation':
        this.logger.warn(
          { provider: this.name, topicArn: envelope.TopicArn },
          ProviderEvents.snsUnsubscribed,
        );
        return undefined;
      default:
        return envelope;
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
    sns: {
      certificateHost: hostPattern(options, name),
      allowHttp: optionalBoolean(options, 'snsAllowHttp', name),
    },
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
