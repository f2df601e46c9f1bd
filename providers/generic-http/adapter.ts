import { timingSafeEqual } from 'node:crypto';
import { PigeonError } from '../../core/errors.ts';
import { hmacSha256 } from '../../core/hmac.ts';
import { classifyHttpStatus, fetchText, parseJson, parseRetryAfter, type ProviderRequest } from '../http.ts';
import {
  header,
  type InboundHttpRequest,
  type InboundSms,
  type ParsedReceipt,
  type ProviderAdapter,
  ProviderError,
  type ProviderFactory,
  type SendRequest,
  type SendResult,
} from '../provider.ts';
import {
  type GenericHttpSettings,
  genericHttpSettings,
  type InboundSettings,
  OUTCOMES,
  type OutcomeMatcher,
  type ReceiptSettings,
} from './settings.ts';
import { CONTENT_TYPES, ENCODERS, headerValue, placeholderValues, render } from './template.ts';

/**
 * A provider described by configuration instead of code, for the many small aggregators whose
 * API is "POST these fields, read an id back": a request template, matchers that classify the
 * answer into the error taxonomy, and an optional signed receipt webhook.
 */

/** `a.b.0.c` into parsed JSON; undefined when any step is missing. */
export function valueAtPath(value: unknown, path: string): unknown {
  let current = value;
  for (const key of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** What the matchers read of an answer. */
interface ReadAnswer {
  status: number;
  text: string;
  json: unknown;
  retryAfter: string | null;
}

function matches(matcher: OutcomeMatcher, response: ReadAnswer): boolean {
  if (matcher.status && !matcher.status.includes(response.status)) return false;
  if (matcher.bodyContains !== undefined && !response.text.includes(matcher.bodyContains)) return false;
  if (matcher.jsonPath !== undefined) {
    const value = valueAtPath(response.json, matcher.jsonPath);
    if (matcher.equals !== undefined) return value === matcher.equals;
    return value !== undefined && value !== null;
  }
  return true;
}

export class GenericHttpProvider implements ProviderAdapter {
  readonly type = 'http';

  constructor(
    readonly name: string,
    private readonly settings: GenericHttpSettings,
    private readonly now: () => number = Date.now,
  ) {}

  async send(request: SendRequest, signal: AbortSignal): Promise<SendResult> {
    const { settings } = this;
    const values = placeholderValues(request);
    const headers: Record<string, string> = {};
    for (const [name, template] of settings.headers) headers[name] = render(template, values, headerValue);
    const init: ProviderRequest = { method: settings.method, headers };
    if (settings.body) {
      init.body = render(settings.body, values, ENCODERS[settings.bodyEncoding]);
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
        headers['content-type'] = CONTENT_TYPES[settings.bodyEncoding];
      }
    }
    const url = render(settings.url, values, encodeURIComponent);
    const { response, text } = await fetchText(url, init, signal);
    return this.outcome(
      {
        status: response.status,
        text,
        json: parseJson(text),
        retryAfter: response.headers.get('retry-after'),
      },
      request,
    );
  }

  private outcome(response: ReadAnswer, request: SendRequest): SendResult {
    const { matchers, errorCodePath, messageIdPath } = this.settings;
    const coded = errorCodePath === undefined ? undefined : valueAtPath(response.json, errorCodePath);
    const rawCode =
      typeof coded === 'string' || typeof coded === 'number' ? String(coded) : String(response.status);
    const said = `${this.name}: provider answered HTTP ${response.status} (${rawCode})`;
    const matched = OUTCOMES.find((outcome) => {
      const matcher = matchers[outcome];
      return matcher !== undefined && matches(matcher, response);
    });
    const is2xx = response.status >= 200 && response.status < 300;
    switch (matched) {
      case 'permanent':
        return fail(new ProviderError('permanent', rawCode, said));
      case 'throttled': {
        const retryAfterMs = parseRetryAfter(response.retryAfter, this.now());
        return fail(
          new ProviderError('throttled', rawCode, said, retryAfterMs === undefined ? {} : { retryAfterMs }),
        );
      }
      case 'transient':
        return fail(new ProviderError('retryable', rawCode, said));
      case 'success':
        break;
      default:
        if (matchers.success || !is2xx) {
          if (is2xx) {
            // It said OK in a way we were not told about: it may well have taken the message.
            return fail(
              new ProviderError('permanent', 'UNRECOGNISED_RESPONSE', `${said}: matches no outcome`, {
                sent: 'maybe',
              }),
            );
          }
          return fail(classifyHttpStatus(response.status, rawCode, said, response.retryAfter));
        }
    }
    const id = messageIdPath === undefined ? undefined : valueAtPath(response.json, messageIdPath);
    // Without an id of the provider's own, receipts are matched by our id (echoed as reference).
    const providerMessageId =
      typeof id === 'string' && id !== '' ? id : typeof id === 'number' ? String(id) : request.messageId;
    return { providerMessageId };
  }

  async parseReceipt(request: InboundHttpRequest): Promise<ParsedReceipt[]> {
    const receipt = this.settings.receipt;
    if (!receipt) {
      throw new PigeonError(
        'PIGEON_ERR_RECEIPT_SIGNATURE',
        'no receipt secret is configured for this provider',
      );
    }
    this.verifySignature(receipt, request);
    let payload: unknown;
    try {
      payload = JSON.parse(request.rawBody);
    } catch (cause) {
      throw new PigeonError('PIGEON_ERR_MALFORMED_JSON', 'receipt body is not JSON', { cause });
    }
    const items = receipt.itemsPath ? valueAtPath(payload, receipt.itemsPath) : payload;
    const list = Array.isArray(items) ? (items as unknown[]) : [items];
    const parsed: ParsedReceipt[] = [];
    list.forEach((item, i) => {
      const id = valueAtPath(item, receipt.idPath);
      const word = valueAtPath(item, receipt.statusPath);
      if ((typeof id !== 'string' && typeof id !== 'number') || id === '') {
        throw new PigeonError('PIGEON_ERR_VALIDATION', `receipt ${i}: no id at "${receipt.idPath}"`);
      }
      if (typeof word !== 'string' && typeof word !== 'number') {
        throw new PigeonError('PIGEON_ERR_VALIDATION', `receipt ${i}: no status at "${receipt.statusPath}"`);
      }
      // Words not in the map are intermediate states (sent, buffered, …): nothing to record yet.
      const status = receipt.statusMap.get(String(word).toUpperCase());
      if (!status) return;
      const result: ParsedReceipt = { providerMessageId: String(id), status, providerStatus: String(word) };
      const reference = receipt.referencePath ? valueAtPath(item, receipt.referencePath) : undefined;
      if (typeof reference === 'string' && reference !== '') result.reference = reference;
      const doneAt = receipt.doneAtPath ? valueAtPath(item, receipt.doneAtPath) : undefined;
      if (typeof doneAt === 'string' || typeof doneAt === 'number') {
        const at = new Date(doneAt);
        if (!Number.isNaN(at.getTime())) result.doneAt = at.toISOString();
      }
      parsed.push(result);
    });
    return parsed;
  }

  /** An inbound SMS webhook: signed as receipts are, its fields where `inbound` says. */
  async parseInbound(request: InboundHttpRequest): Promise<InboundSms[]> {
    const { receipt, inbound } = this.settings;
    if (!receipt || !inbound) {
      throw new PigeonError(
        'PIGEON_ERR_RECEIPT_SIGNATURE',
        'no inbound mapping is configured for this provider',
      );
    }
    this.verifySignature(receipt, request);
    let payload: unknown;
    try {
      payload = JSON.parse(request.rawBody);
    } catch (cause) {
      throw new PigeonError('PIGEON_ERR_MALFORMED_JSON', 'inbound body is not JSON', { cause });
    }
    const items = inbound.itemsPath ? valueAtPath(payload, inbound.itemsPath) : payload;
    const list = Array.isArray(items) ? (items as unknown[]) : [items];
    return list.map((item, i) => inboundSms(inbound, item, i));
  }

  private verifySignature(receipt: ReceiptSettings, request: InboundHttpRequest): void {
    const signature = header(request, receipt.signatureHeader);
    if (!signature?.startsWith(receipt.signaturePrefix)) {
      throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', 'missing receipt signature');
    }
    let signed = request.rawBody;
    if (receipt.timestampHeader) {
      const timestamp = header(request, receipt.timestampHeader);
      const at = timestamp === undefined ? Number.NaN : timestampMs(timestamp);
      // The timestamp is what stops a captured receipt from being replayed later.
      if (Number.isNaN(at) || Math.abs(this.now() - at) > receipt.toleranceMs) {
        throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', 'missing or stale receipt timestamp');
      }
      signed = `${timestamp}.${request.rawBody}`;
    }
    const expected = Buffer.from(hmacSha256(receipt.signatureSecret).digest(signed, 'hex'));
    const given = Buffer.from(signature.slice(receipt.signaturePrefix.length).trim().toLowerCase());
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', 'receipt signature does not match');
    }
  }
}

/** A string or number at `path`, as text; undefined when absent or empty. */
function textAt(item: unknown, path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  const value = valueAtPath(item, path);
  if (typeof value === 'number') return String(value);
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function inboundSms(inbound: InboundSettings, item: unknown, i: number): InboundSms {
  const required = (path: string, what: string): string => {
    const value = textAt(item, path);
    if (value === undefined)
      throw new PigeonError('PIGEON_ERR_VALIDATION', `inbound SMS ${i}: no ${what} at "${path}"`);
    return value;
  };
  const body = valueAtPath(item, inbound.textPath);
  if (typeof body !== 'string') {
    throw new PigeonError('PIGEON_ERR_VALIDATION', `inbound SMS ${i}: no text at "${inbound.textPath}"`);
  }
  const sms: InboundSms = {
    from: e164(required(inbound.fromPath, 'sender')),
    to: e164(required(inbound.toPath, 'recipient')),
    body,
    providerMessageId: required(inbound.idPath, 'id'),
  };
  const receivedAt = textAt(item, inbound.receivedAtPath);
  if (receivedAt !== undefined) {
    const at = new Date(/^\d+$/.test(receivedAt) ? timestampMs(receivedAt) : receivedAt);
    if (!Number.isNaN(at.getTime())) sms.receivedAt = at.toISOString();
  }
  const reference = textAt(item, inbound.partReferencePath);
  const index = Number(textAt(item, inbound.partIndexPath));
  const total = Number(textAt(item, inbound.partTotalPath));
  if (reference !== undefined && Number.isInteger(index) && Number.isInteger(total) && total > 1) {
    if (index < 1 || index > total) {
      throw new PigeonError('PIGEON_ERR_VALIDATION', `inbound SMS ${i}: part ${index} of ${total}`);
    }
    sms.part = { reference, index, total };
  }
  return sms;
}

/** Aggregators often drop the + of international numbers: digits long enough to be one get it. */
function e164(address: string): string {
  const trimmed = address.trim();
  return /^[1-9]\d{7,14}$/.test(trimmed) ? `+${trimmed}` : trimmed;
}

function fail(error: ProviderError): never {
  throw error;
}

/** Unix seconds, Unix milliseconds or an HTTP/ISO date. */
function timestampMs(value: string): number {
  if (/^\d+$/.test(value)) {
    const n = Number(value);
    return n < 1e11 ? n * 1000 : n;
  }
  return Date.parse(value);
}

export const createGenericHttp: ProviderFactory = (name, options) =>
  new GenericHttpProvider(name, genericHttpSettings(name, options));
