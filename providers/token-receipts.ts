import { createHash, timingSafeEqual } from 'node:crypto';
import { PigeonError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { optionalString } from './http.ts';
import type { InboundHttpRequest, ParsedReceipt } from './provider.ts';
import { ProviderEvents } from './events.ts';

/**
 * Receipts of providers that do not sign their pushes (Aliyun's SmsReport, Tencent's status
 * callback). The callback URL configured in the provider's console carries a secret
 * (`…/v1/receipts/<name>?token=<receiptToken>`), compared in constant time; without
 * `receiptToken` every push is refused. The body is a JSON array of reports, whose mainland
 * times are Beijing time without a zone.
 */

/** Mainland report times carry no zone; they are Beijing time. */
const MAINLAND_OFFSET = '+08:00';

/** The `receiptToken` option; its absence is logged, since every receipt will then be refused. */
export function receiptTokenOption(
  options: Record<string, unknown>,
  provider: string,
  logger: Logger,
): string | undefined {
  const token = optionalString(options, 'receiptToken', provider);
  if (!token) logger.warn({ provider }, ProviderEvents.receiptsRefusedWithoutToken);
  return token || undefined;
}

/** Throws PIGEON_ERR_RECEIPT_SIGNATURE unless the request URL's `token` is the expected one. */
export function requireReceiptToken(request: InboundHttpRequest, expected: string | undefined): void {
  if (!expected) {
    throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', 'receiptToken is not configured: receipts refused');
  }
  const given = new URL(request.url, 'http://receipt.invalid').searchParams.get('token') ?? '';
  // Hashing first makes the comparison constant-time whatever the lengths.
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  if (!timingSafeEqual(a, b)) {
    throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', 'receipt token does not match');
  }
}

export interface TokenPush {
  provider: string;
  token: string | undefined;
  /** What the provider calls the push, for error messages (`receipt push`, `status callback`). */
  what: string;
  logger: Logger;
}

/**
 * The receipts of an authenticated push: each report of its JSON array that `parseReport` reads.
 * Reports it cannot read are logged and skipped, so one odd report does not lose the batch.
 */
export function parseTokenPush(
  request: InboundHttpRequest,
  push: TokenPush,
  parseReport: (report: unknown) => ParsedReceipt | undefined,
): ParsedReceipt[] {
  requireReceiptToken(request, push.token);
  let body: unknown;
  try {
    body = JSON.parse(request.rawBody);
  } catch (cause) {
    throw new PigeonError('PIGEON_ERR_MALFORMED_JSON', `${push.what} is not JSON`, { cause });
  }
  if (!Array.isArray(body)) {
    throw new PigeonError('PIGEON_ERR_VALIDATION', `${push.what} must be a JSON array`);
  }
  const receipts: ParsedReceipt[] = [];
  for (const item of body as unknown[]) {
    const receipt = parseReport(item);
    if (receipt) receipts.push(receipt);
    else push.logger.warn({ provider: push.provider }, ProviderEvents.receiptUnrecognisedReport);
  }
  return receipts;
}

/** A mainland report time (`2024-01-01 12:00:05`, Beijing time) as an ISO time. */
export function beijingTime(value: string): string | undefined {
  const at = Date.parse(`${value.trim().replace(' ', 'T')}${MAINLAND_OFFSET}`);
  return Number.isNaN(at) ? undefined : new Date(at).toISOString();
}
