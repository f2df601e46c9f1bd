import type { MessageClass } from '../core/message.ts';
import { parseE164 } from '../core/phone.ts';
import { countSegments } from '../core/segments.ts';
import { type ProviderAdapter, ProviderError, type SendRequest } from './provider.ts';

/**
 * Sends one message straight to providers, without Kafka, the bridge or routing rules: how on-call
 * pages still go out when the pipeline is down. The providers are tried in the order given until
 * one takes the message.
 *
 * A provider that may have taken the message (a timeout after the request was written) is not
 * treated as a success: the next one is tried too. For a page, a second copy is a small price; no
 * page at all is not.
 */

export interface DirectProvider {
  name: string;
  adapter: ProviderAdapter;
  /** Sender id the provider's definition names, used when the message names none. */
  senderId?: string;
  /** Longest wait for this provider (default 5 s). */
  timeoutMs?: number;
}

export interface DirectMessage {
  messageId: string;
  tenantId: string;
  /** E.164. */
  to: string;
  body: string;
  from?: string;
  messageClass: MessageClass;
  expiresAt: string;
}

export type DirectSendResult =
  | { ok: true; provider: string; providerMessageId: string }
  | { ok: false; failures: Array<{ provider: string; error: ProviderError }> };

const DEFAULT_TIMEOUT_MS = 5_000;

/** Tries each provider in turn; resolves with the first that took the message, or every failure. */
export async function sendDirect(
  providers: readonly DirectProvider[],
  message: DirectMessage,
  options: { publicUrl: string; signal?: AbortSignal },
): Promise<DirectSendResult> {
  const recipient = parseE164(message.to);
  const failures: Array<{ provider: string; error: ProviderError }> = [];
  for (const provider of providers) {
    if (options.signal?.aborted) break;
    const request: SendRequest = {
      messageId: message.messageId,
      tenantId: message.tenantId,
      to: message.to,
      from: message.from ?? provider.senderId,
      body: message.body,
      segments: countSegments(message.body).segments,
      messageClass: message.messageClass,
      country: recipient?.country,
      expiresAt: message.expiresAt,
      // Receipts come back to the API's webhook like any other; with no message row they are
      // acknowledged and counted as unmatched, which is all a page needs.
      callbackUrl: `${options.publicUrl}/v1/receipts/${encodeURIComponent(provider.name)}`,
    };
    const timeout = AbortSignal.timeout(provider.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    try {
      const result = await Promise.race([provider.adapter.send(request, signal), rejectOnAbort(signal)]);
      return { ok: true, provider: provider.name, providerMessageId: result.providerMessageId };
    } catch (err) {
      failures.push({ provider: provider.name, error: asProviderError(err, signal) });
    }
  }
  return { ok: false, failures };
}

/** An adapter that ignores the signal must not hold the page up past its timeout. */
function rejectOnAbort(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    const abort = () => reject(new ProviderError('retryable', 'TIMEOUT', 'timed out', { sent: 'maybe' }));
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
  });
}

function asProviderError(err: unknown, signal: AbortSignal): ProviderError {
  if (err instanceof ProviderError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return signal.aborted
    ? new ProviderError('retryable', 'TIMEOUT', `timed out: ${message}`, { sent: 'maybe', cause: err })
    : new ProviderError('retryable', 'ERROR', message, { sent: 'maybe', cause: err });
}

/** One line naming each provider's failure, for logs and error details (never a number or a text). */
export function describeFailures(
  failures: ReadonlyArray<{ provider: string; error: ProviderError }>,
): string {
  if (failures.length === 0) return 'no provider to send through';
  return failures.map((f) => `${f.provider}: ${f.error.errorClass} ${f.error.rawCode}`).join('; ');
}
