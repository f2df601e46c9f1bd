import type { ReceiptStatus } from '../../core/message.ts';

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
}

export interface SendRequest {
  messageId: string;
  tenantId: string;
  to: string;
  from: string | undefined;
  body: string;
  segments: number;
  /** Where this provider should post delivery receipts for this message. */
  callbackUrl: string;
}

export interface SendResult {
  providerMessageId: string;
  /** Parts the provider billed, when it says; else the gateway's own count is used. */
  segments?: number;
  cost?: number;
}

/** A receipt as the provider sent it, before it is matched to a message. */
export interface ParsedReceipt {
  providerMessageId: string;
  /** Our message id when the provider echoes a client reference; else matched by providerMessageId. */
  reference?: string;
  status: ReceiptStatus;
  providerStatus: string;
  doneAt?: string;
}

export interface InboundHttpRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  rawBody: string;
}

export interface ProviderAdapter {
  readonly name: string;
  readonly type: string;
  send(request: SendRequest, signal: AbortSignal): Promise<SendResult>;
  /** Verifies the receipt's signature (throws PIGEON_ERR_RECEIPT_SIGNATURE) and normalises it. */
  parseReceipt(request: InboundHttpRequest): ParsedReceipt[];
  close?(): Promise<void>;
}
