import { PigeonError } from '../core/errors.ts';
import { type ProviderRequest, type ProviderResponse, providerRequest } from './http-transport.ts';
import { ProviderError } from './provider.ts';

export type { ProviderRequest, ProviderResponse } from './http-transport.ts';

/**
 * Shared plumbing for HTTP adapters: option reading, the network-error half of the error taxonomy
 * (the provider-specific half lives in each adapter), reading answers, and Retry-After parsing.
 */

/** Errors raised before any byte reached the provider: the message was certainly not sent. */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  // The provider's certificate was refused during the handshake, before the request was written.
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

export function requireString(options: Record<string, unknown>, key: string, provider: string): string {
  const value = options[key];
  if (typeof value !== 'string' || value === '') {
    throw new PigeonError(
      'PIGEON_ERR_CONFIG',
      `provider "${provider}": option "${key}" must be a non-empty string`,
    );
  }
  return value;
}

export function optionalString(
  options: Record<string, unknown>,
  key: string,
  provider: string,
): string | undefined {
  const value = options[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    throw new PigeonError('PIGEON_ERR_CONFIG', `provider "${provider}": option "${key}" must be a string`);
  }
  return value;
}

export function optionalNumber(
  options: Record<string, unknown>,
  key: string,
  provider: string,
  fallback: number,
): number {
  const value = options[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new PigeonError('PIGEON_ERR_CONFIG', `provider "${provider}": option "${key}" must be a number`);
  }
  return value;
}

/** An option holding an absolute URL, `fallback` when absent. */
export function optionalUrl(
  options: Record<string, unknown>,
  key: string,
  provider: string,
  fallback: string,
): string {
  const value = optionalString(options, key, provider) ?? fallback;
  if (!URL.canParse(value)) {
    throw new PigeonError('PIGEON_ERR_CONFIG', `provider "${provider}": option "${key}" must be a URL`);
  }
  return value;
}

/** `Retry-After` as milliseconds: delta-seconds or an HTTP date; undefined when absent or bad. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * One provider request with the taxonomy applied to transport failures: refused or unresolvable →
 * definite non-send; aborted (our timeout) or reset mid-flight → ambiguous, because the provider
 * may have taken the request. HTTP error statuses are returned, for the adapter to classify.
 */
export async function providerFetch(
  url: string,
  init: ProviderRequest,
  signal: AbortSignal,
): Promise<ProviderResponse> {
  try {
    return await providerRequest(url, init, signal);
  } catch (err) {
    throw transportError(err, signal);
  }
}

/**
 * `providerFetch` and the whole answer as text. A connection lost while the answer is read is a
 * transport error like any other: the provider may have taken the message.
 */
export async function fetchText(
  url: string,
  init: ProviderRequest,
  signal: AbortSignal,
): Promise<{ response: ProviderResponse; text: string }> {
  const response = await providerFetch(url, init, signal);
  return { response, text: await responseText(response, signal) };
}

/** The answer's body as text, classed as a transport error when it cannot be read to the end. */
export async function responseText(response: ProviderResponse, signal: AbortSignal): Promise<string> {
  try {
    return await response.text();
  } catch (err) {
    throw transportError(err, signal);
  }
}

/** JSON text parsed, or undefined when it is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export function transportError(err: unknown, signal?: AbortSignal): ProviderError {
  if (err instanceof ProviderError) return err;
  if (signal?.aborted) {
    return new ProviderError('retryable', 'TIMEOUT', 'provider did not answer in time', {
      sent: 'maybe',
      cause: err,
    });
  }
  const code =
    (err as { cause?: { code?: string } }).cause?.code ?? (err as { code?: string }).code ?? 'NETWORK';
  return new ProviderError('retryable', code, `transport error: ${(err as Error).message}`, {
    sent: NOT_SENT_CODES.has(code) ? 'no' : 'maybe',
    cause: err,
  });
}

/**
 * The generic reading of an HTTP status the provider answered with, for codes an adapter does not
 * know better: 429 throttled, 5xx retryable (answered, so not sent), 401/403 retryable (our
 * credentials, not the message, are wrong: another provider may take it), other 4xx permanent.
 */
export function classifyHttpStatus(
  status: number,
  rawCode: string,
  message: string,
  retryAfter?: string | null,
): ProviderError {
  const retryAfterMs = parseRetryAfter(retryAfter);
  const opts = retryAfterMs === undefined ? {} : { retryAfterMs };
  if (status === 429) return new ProviderError('throttled', rawCode, message, opts);
  if (status >= 500 || status === 401 || status === 403 || status === 408)
    return new ProviderError('retryable', rawCode, message, opts);
  return new ProviderError('permanent', rawCode, message);
}

/** An error status answered without a body the adapter can read: classed by the status alone. */
export function httpStatusError(provider: string, response: ProviderResponse): ProviderError {
  return classifyHttpStatus(
    response.status,
    String(response.status),
    `${provider}: HTTP ${response.status}`,
    response.headers.get('retry-after'),
  );
}

/** A success answer that does not say what became of the message: it may well have been taken. */
export function ambiguousAnswer(rawCode: string, message: string): ProviderError {
  return new ProviderError('retryable', rawCode, message, { sent: 'maybe' });
}
