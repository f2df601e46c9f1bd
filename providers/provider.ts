import type { Cache } from '../core/cache/cache.ts';
import type { Config } from '../core/config.ts';
import type { Logger } from '../core/logger.ts';
import type { MessageClass, ReceiptStatus } from '../core/message.ts';

/**
 * The one error taxonomy. Every adapter maps its provider's codes to one of these classes and
 * keeps the raw code beside it; failover, retries and breakers decide by class alone.
 */
export const ERROR_CLASSES = ['retryable', 'throttled', 'permanent', 'fraud_blocked', 'opted_out'] as const;
export type ErrorClass = (typeof ERROR_CLASSES)[number];

/**
 * Whether the provider may have accepted the message. `no` is a definite non-send (connection
 * refused, 5xx or 429 before acceptance) and is safe to send elsewhere; `maybe` (timeout after
 * the request was written) is ambiguous, and bulk traffic must never be sent again.
 */
export type SendCertainty = 'no' | 'maybe';

export class ProviderError extends Error {
  readonly errorClass: ErrorClass;
  readonly rawCode: string;
  readonly sent: SendCertainty;
  readonly retryAfterMs: number | undefined;

  constructor(
    errorClass: ErrorClass,
    rawCode: string,
    message: string,
    options: { sent?: SendCertainty; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'ProviderError';
    this.errorClass = errorClass;
    this.rawCode = rawCode;
    this.sent = options.sent ?? 'no';
    this.retryAfterMs = options.retryAfterMs;
  }

  /** Errors that say something about the provider's health (and so may trip its breaker). */
  get isProviderFault(): boolean {
    return this.errorClass === 'retryable' || this.errorClass === 'throttled';
  }

  /**
   * Whether trying again (later, or through another provider) may get the message out: the same
   * classes that are the provider's fault; a permanent rejection, fraud block or opt-out is final.
   */
  get retriable(): boolean {
    return this.isProviderFault;
  }
}

export interface SendRequest {
  messageId: string;
  tenantId: string;
  /** E.164 with the leading +. */
  to: string;
  /** Sender id chosen by routing (route or provider default), or the message's own. */
  from: string | undefined;
  body: string;
  segments: number;
  messageClass: MessageClass;
  /** ISO 3166 alpha-2 of the destination, when known. */
  country: string | undefined;
  /** ISO time after which the message must not be delivered (providers with a validity period use it). */
  expiresAt: string;
  /** Where this provider should post delivery receipts for this message. */
  callbackUrl: string;
}

export interface SendResult {
  providerMessageId: string;
  /**
   * The provider's id of every part when it returns one per part (SMPP, Vonage); receipts come
   * per part and the message is delivered only when every part is. Includes providerMessageId.
   */
  partIds?: string[];
  /** Parts the provider billed, when it says; else the gateway's own count is used. */
  segments?: number;
  /** Price the provider reported for this message, when it does. */
  cost?: number;
}

/** A receipt as the provider sent it, before it is matched to a message. */
export interface ParsedReceipt {
  /** The provider's id of the message, or of the part this receipt is for. */
  providerMessageId: string;
  /** Our message id when the provider echoes a client reference; else matched by providerMessageId. */
  reference?: string;
  status: ReceiptStatus;
  /** The provider's raw status word or error code, kept for disputes. */
  providerStatus: string;
  doneAt?: string;
}

export interface InboundHttpRequest {
  method: string;
  /** Path and query as received, e.g. `/v1/receipts/twilio-main?x=1`. */
  url: string;
  /** The absolute URL the provider called (PIGEON_PUBLIC_URL + url): what signatures cover. */
  fullUrl: string;
  /** Lower-cased header names. */
  headers: Record<string, string | string[] | undefined>;
  rawBody: string;
}

/** An SMS someone sent to one of our numbers (a reply to a page, say), as the provider posted it. */
export interface InboundSms {
  /** The sender, E.164. */
  from: string;
  /** Our number it was sent to. */
  to: string;
  body: string;
  providerMessageId: string;
  receivedAt?: string;
  /**
   * One part of a longer SMS the provider did not join (UDH concatenation, Vonage's concat-*):
   * the gateway joins the parts once all have come. `reference` is the sender's handset's id for
   * the whole message, `index` counts from 1.
   */
  part?: { reference: string; index: number; total: number };
  /** The provider's id of the message this answers, when the provider says (AWS two-way SMS). */
  answersProviderMessageId?: string;
}

/** What the receipt webhook answers the provider, for providers that expect a particular body. */
export interface ReceiptAck {
  contentType: string;
  body: string;
}

export interface ProviderAdapter {
  readonly name: string;
  readonly type: string;
  /**
   * Sends one message. Rejects with a ProviderError carrying the class, the provider's raw code
   * and whether the provider may have taken it. Must abort the request when `signal` aborts.
   */
  send(request: SendRequest, signal: AbortSignal): Promise<SendResult>;
  /**
   * Verifies the receipt's signature (throws PigeonError PIGEON_ERR_RECEIPT_SIGNATURE) and
   * normalises it. May return [] for provider housekeeping calls (e.g. a subscription confirmation).
   */
  parseReceipt(request: InboundHttpRequest): Promise<ParsedReceipt[]>;
  /**
   * Verifies an inbound-SMS webhook's signature (throws PigeonError PIGEON_ERR_RECEIPT_SIGNATURE)
   * and normalises its messages. Absent: the provider cannot deliver SMS to the gateway.
   * The route answers with `receiptAck` when the adapter has one.
   */
  parseInbound?(request: InboundHttpRequest): Promise<InboundSms[]>;
  /** Body to answer a receipt with; a plain `{"received":n}` JSON when absent. */
  readonly receiptAck?: ReceiptAck;
  /**
   * For providers that push receipts over their own connection (SMPP deliver_sm). The receipt is
   * acknowledged to the provider once the listener's promise resolves; a rejection asks the
   * provider to deliver it again later.
   */
  onReceipt?(listener: (receipt: ParsedReceipt) => Promise<void> | void): void;
  /**
   * For providers that push inbound SMS over their own connection (SMPP deliver_sm from a
   * handset). Acknowledged to the provider, as receipts are, once the listener's promise resolves.
   */
  onInbound?(listener: (sms: InboundSms) => Promise<void> | void): void;
  /** Opens long-lived connections (SMPP bind); HTTP adapters need none. */
  start?(): Promise<void>;
  close?(): Promise<void>;
}

export interface ProviderDeps {
  config: Config;
  cache: Cache;
  logger: Logger;
}

/**
 * Builds an adapter from its provider definition's `options` (credentials already resolved from
 * the environment). Throws PigeonError PIGEON_ERR_CONFIG naming any missing or bad option.
 */
export type ProviderFactory = (
  name: string,
  options: Record<string, unknown>,
  deps: ProviderDeps,
) => ProviderAdapter;

/** A request header's (first) value. */
export function header(request: InboundHttpRequest, name: string): string | undefined {
  const value = request.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}
