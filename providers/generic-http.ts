import { createHmac, timingSafeEqual } from 'node:crypto';
import { PigeonError } from '../core/errors.ts';
import { RECEIPT_STATUSES, type ReceiptStatus } from '../core/message.ts';
import { classifyHttpStatus, fetchText, parseJson, parseRetryAfter } from './http.ts';
import {
  header,
  type InboundHttpRequest,
  type ParsedReceipt,
  type ProviderAdapter,
  ProviderError,
  type ProviderFactory,
  type SendRequest,
  type SendResult,
} from './provider.ts';

/**
 * A provider described by configuration instead of code, for the many small aggregators whose
 * API is "POST these fields, read an id back": a request template, matchers that classify the
 * answer into the error taxonomy, and an optional signed receipt webhook.
 */

export const PLACEHOLDERS = [
  'to',
  'toDigits',
  'from',
  'body',
  'messageId',
  'callbackUrl',
  'segments',
] as const;
type Placeholder = (typeof PLACEHOLDERS)[number];

const BODY_ENCODINGS = ['json', 'form', 'raw'] as const;
type BodyEncoding = (typeof BODY_ENCODINGS)[number];

const METHODS = ['POST', 'PUT', 'PATCH', 'GET'] as const;

/** Literal text and placeholders, parsed once at construction. */
type Template = ReadonlyArray<string | { placeholder: Placeholder }>;

export interface OutcomeMatcher {
  status?: number[];
  bodyContains?: string;
  jsonPath?: string;
  equals?: string | number | boolean;
}

const OUTCOMES = ['permanent', 'throttled', 'transient', 'success'] as const;
type Outcome = (typeof OUTCOMES)[number];

interface ReceiptSettings {
  signatureHeader: string;
  signatureSecret: string;
  /** Text before the hex digest in the header, e.g. `sha256=`. */
  signaturePrefix: string;
  timestampHeader: string | undefined;
  toleranceMs: number;
  itemsPath: string | undefined;
  idPath: string;
  referencePath: string | undefined;
  statusPath: string;
  doneAtPath: string | undefined;
  /** Upper-cased provider words. */
  statusMap: ReadonlyMap<string, ReceiptStatus>;
}

export interface GenericHttpSettings {
  url: Template;
  method: (typeof METHODS)[number];
  headers: ReadonlyArray<readonly [string, Template]>;
  body: Template | undefined;
  bodyEncoding: BodyEncoding;
  messageIdPath: string | undefined;
  errorCodePath: string | undefined;
  matchers: Partial<Record<Outcome, OutcomeMatcher>>;
  receipt: ReceiptSettings | undefined;
}

/** `a.b.0.c` into parsed JSON; undefined when any step is missing. */
export function valueAtPath(value: unknown, path: string): unknown {
  let current = value;
  for (const key of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

// Lone surrogates (possible in JSON input) would make encodeURIComponent throw mid-send.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const wellFormed = (value: string) => value.replace(LONE_SURROGATE, '\uFFFD');

const ENCODERS: Record<BodyEncoding, (value: string) => string> = {
  json: (value) => JSON.stringify(value).slice(1, -1),
  form: (value) => encodeURIComponent(value),
  raw: (value) => value,
};

// fetch refuses header values outside Latin-1 and any CR/LF; percent-encoding them (and `%`, so
// it stays reversible) keeps a placeholder value in a header from failing the send or splitting
// the header.
const headerValue = (value: string) =>
  value.replace(/[^\t\x20-\x24\x26-\x7e]/gu, (c) =>
    [...Buffer.from(c, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );

function render(template: Template, values: Record<Placeholder, string>, encode: (v: string) => string) {
  let out = '';
  for (const part of template) out += typeof part === 'string' ? part : encode(values[part.placeholder]);
  return out;
}

function placeholderValues(request: SendRequest): Record<Placeholder, string> {
  return {
    to: request.to,
    toDigits: request.to.replace(/^\+/, ''),
    from: wellFormed(request.from ?? ''),
    body: wellFormed(request.body),
    messageId: request.messageId,
    callbackUrl: request.callbackUrl,
    segments: String(request.segments),
  };
}

interface ProviderResponse {
  status: number;
  text: string;
  json: unknown;
  retryAfter: string | null;
}

function matches(matcher: OutcomeMatcher, response: ProviderResponse): boolean {
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
    const init: RequestInit = { method: settings.method, headers };
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

  private outcome(response: ProviderResponse, request: SendRequest): SendResult {
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
    const expected = Buffer.from(createHmac('sha256', receipt.signatureSecret).update(signed).digest('hex'));
    const given = Buffer.from(signature.slice(receipt.signaturePrefix.length).trim().toLowerCase());
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new PigeonError('PIGEON_ERR_RECEIPT_SIGNATURE', 'receipt signature does not match');
    }
  }
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

const CONTENT_TYPES: Record<BodyEncoding, string> = {
  json: 'application/json',
  form: 'application/x-www-form-urlencoded',
  raw: 'text/plain; charset=utf-8',
};

// ---------------------------------------------------------------------------------------------
// Options

const TOP_KEYS = [
  'url',
  'method',
  'headers',
  'body',
  'bodyEncoding',
  'messageIdPath',
  'errorCodePath',
  'receipt',
  ...OUTCOMES,
];
const MATCHER_KEYS = ['status', 'bodyContains', 'jsonPath', 'equals'];
const RECEIPT_KEYS = [
  'signatureHeader',
  'signatureSecret',
  'signaturePrefix',
  'timestampHeader',
  'toleranceSeconds',
  'itemsPath',
  'idPath',
  'referencePath',
  'statusPath',
  'doneAtPath',
  'statusMap',
];
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const JSON_PATH = /^[^.]+(\.[^.]+)*$/;

/**
 * Reads a provider definition's options, naming the path of the first bad one. Values are never
 * repeated in the message: headers and the receipt secret hold credentials.
 */
class OptionReader {
  constructor(private readonly provider: string) {}

  fail(path: string, expected: string): never {
    throw new PigeonError('PIGEON_ERR_CONFIG', `provider "${this.provider}": option "${path}" ${expected}`);
  }

  object(value: unknown, path: string, known: readonly string[] | undefined): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      this.fail(path, 'must be an object');
    const record = value as Record<string, unknown>;
    if (known) {
      for (const key of Object.keys(record)) {
        if (!known.includes(key))
          this.fail(path ? `${path}.${key}` : key, `is unknown (known: ${known.join(', ')})`);
      }
    }
    return record;
  }

  string(value: unknown, path: string): string;
  string(value: unknown, path: string, optional: true): string | undefined;
  string(value: unknown, path: string, optional = false): string | undefined {
    if (value === undefined && optional) return undefined;
    if (typeof value !== 'string' || value === '') this.fail(path, 'must be a non-empty string');
    return value;
  }

  path(value: unknown, path: string): string;
  path(value: unknown, path: string, optional: true): string | undefined;
  path(value: unknown, path: string, optional = false): string | undefined {
    const text = optional ? this.string(value, path, true) : this.string(value, path);
    if (text !== undefined && !JSON_PATH.test(text)) this.fail(path, 'must be a dot path like "data.id"');
    return text;
  }

  oneOf<T extends string>(value: unknown, path: string, allowed: readonly T[], fallback: T): T {
    if (value === undefined) return fallback;
    if (!allowed.includes(value as T)) this.fail(path, `must be one of ${allowed.join(', ')}`);
    return value as T;
  }

  template(value: unknown, path: string): Template {
    if (typeof value !== 'string') this.fail(path, 'must be a string');
    const source = value;
    const parts: Array<string | { placeholder: Placeholder }> = [];
    let last = 0;
    for (const match of source.matchAll(/\{\{\s*([^{}]*?)\s*\}\}/g)) {
      const name = match[1] as Placeholder;
      if (!PLACEHOLDERS.includes(name)) {
        this.fail(
          path,
          `uses an unknown placeholder (known: ${PLACEHOLDERS.map((p) => `{{${p}}}`).join(', ')})`,
        );
      }
      parts.push(source.slice(last, match.index));
      parts.push({ placeholder: name });
      last = match.index + match[0].length;
    }
    parts.push(source.slice(last));
    if (parts.some((p) => typeof p === 'string' && p.includes('{{'))) {
      this.fail(path, 'has an unterminated placeholder');
    }
    return parts.filter((p) => p !== '');
  }

  matcher(value: unknown, path: string): OutcomeMatcher | undefined {
    if (value === undefined) return undefined;
    const raw = this.object(value, path, MATCHER_KEYS);
    const matcher: OutcomeMatcher = {};
    if (raw.status !== undefined) {
      if (
        !Array.isArray(raw.status) ||
        raw.status.length === 0 ||
        !raw.status.every((s) => Number.isInteger(s) && (s as number) >= 100 && (s as number) <= 599)
      ) {
        this.fail(`${path}.status`, 'must be a non-empty array of HTTP status codes');
      }
      matcher.status = raw.status as number[];
    }
    if (raw.bodyContains !== undefined)
      matcher.bodyContains = this.string(raw.bodyContains, `${path}.bodyContains`);
    if (raw.jsonPath !== undefined) matcher.jsonPath = this.path(raw.jsonPath, `${path}.jsonPath`);
    if (raw.equals !== undefined) {
      if (!['string', 'number', 'boolean'].includes(typeof raw.equals)) {
        this.fail(`${path}.equals`, 'must be a string, number or boolean');
      }
      if (matcher.jsonPath === undefined) this.fail(`${path}.equals`, 'needs jsonPath');
      matcher.equals = raw.equals as string | number | boolean;
    }
    if (Object.keys(matcher).length === 0) this.fail(path, 'needs status, bodyContains or jsonPath');
    return matcher;
  }

  receipt(value: unknown): ReceiptSettings | undefined {
    if (value === undefined) return undefined;
    const raw = this.object(value, 'receipt', RECEIPT_KEYS);
    const statusMap = new Map<string, ReceiptStatus>();
    const map = this.object(raw.statusMap, 'receipt.statusMap', undefined);
    for (const [word, status] of Object.entries(map)) {
      if (!RECEIPT_STATUSES.includes(status as ReceiptStatus)) {
        this.fail(`receipt.statusMap.${word}`, `must be one of ${RECEIPT_STATUSES.join(', ')}`);
      }
      statusMap.set(word.toUpperCase(), status as ReceiptStatus);
    }
    if (statusMap.size === 0) this.fail('receipt.statusMap', 'must map at least one provider status');
    const signatureHeader = this.string(raw.signatureHeader, 'receipt.signatureHeader');
    const timestampHeader = this.string(raw.timestampHeader, 'receipt.timestampHeader', true);
    for (const [name, path] of [
      [signatureHeader, 'receipt.signatureHeader'],
      [timestampHeader, 'receipt.timestampHeader'],
    ] as const) {
      if (name !== undefined && !HEADER_NAME.test(name)) this.fail(path, 'must be an HTTP header name');
    }
    const tolerance = raw.toleranceSeconds ?? 300;
    if (typeof tolerance !== 'number' || !Number.isInteger(tolerance) || tolerance < 1) {
      this.fail('receipt.toleranceSeconds', 'must be a positive integer');
    }
    const prefix = raw.signaturePrefix ?? '';
    if (typeof prefix !== 'string') this.fail('receipt.signaturePrefix', 'must be a string');
    return {
      signatureHeader: signatureHeader.toLowerCase(),
      signatureSecret: this.string(raw.signatureSecret, 'receipt.signatureSecret'),
      signaturePrefix: prefix,
      timestampHeader: timestampHeader?.toLowerCase(),
      toleranceMs: tolerance * 1000,
      itemsPath: this.path(raw.itemsPath, 'receipt.itemsPath', true),
      idPath: this.path(raw.idPath, 'receipt.idPath'),
      referencePath: this.path(raw.referencePath, 'receipt.referencePath', true),
      statusPath: this.path(raw.statusPath, 'receipt.statusPath'),
      doneAtPath: this.path(raw.doneAtPath, 'receipt.doneAtPath', true),
      statusMap,
    };
  }
}

/** Validates the whole option object once, at construction; throws PIGEON_ERR_CONFIG naming the path. */
export function genericHttpSettings(provider: string, options: Record<string, unknown>): GenericHttpSettings {
  const r = new OptionReader(provider);
  r.object(options, '', TOP_KEYS);
  const url = r.template(r.string(options.url, 'url'), 'url');
  const sample = render(url, placeholderValues(SAMPLE_REQUEST), encodeURIComponent);
  let protocol = '';
  try {
    protocol = new URL(sample).protocol;
  } catch {
    r.fail('url', 'must be an absolute URL');
  }
  if (protocol !== 'http:' && protocol !== 'https:') r.fail('url', 'must be an http or https URL');
  const method = r.oneOf(options.method, 'method', METHODS, 'POST');
  const headers: Array<readonly [string, Template]> = [];
  if (options.headers !== undefined) {
    for (const [name, value] of Object.entries(r.object(options.headers, 'headers', undefined))) {
      if (!HEADER_NAME.test(name)) r.fail(`headers.${name}`, 'is not a valid HTTP header name');
      const template = r.template(value, `headers.${name}`);
      if (template.some((p) => typeof p === 'string' && !/^[\t\x20-\x7e]*$/.test(p))) {
        r.fail(`headers.${name}`, 'may hold printable ASCII only (placeholders are encoded)');
      }
      headers.push([name, template]);
    }
  }
  const body = options.body === undefined ? undefined : r.template(options.body, 'body');
  if (body && method === 'GET') r.fail('body', 'cannot be sent with method GET');
  const matchers: Partial<Record<Outcome, OutcomeMatcher>> = {};
  for (const outcome of OUTCOMES) {
    const matcher = r.matcher(options[outcome], outcome);
    if (matcher) matchers[outcome] = matcher;
  }
  return {
    url,
    method,
    headers,
    body,
    bodyEncoding: r.oneOf(options.bodyEncoding, 'bodyEncoding', BODY_ENCODINGS, 'json'),
    messageIdPath: r.path(options.messageIdPath, 'messageIdPath', true),
    errorCodePath: r.path(options.errorCodePath, 'errorCodePath', true),
    matchers,
    receipt: r.receipt(options.receipt),
  };
}

const SAMPLE_REQUEST: SendRequest = {
  messageId: '01J00000000000000000000000',
  tenantId: 'sample',
  to: '+14155550123',
  from: 'Pigeon',
  body: 'sample',
  segments: 1,
  messageClass: 'transactional',
  country: 'US',
  expiresAt: new Date(0).toISOString(),
  callbackUrl: 'https://pigeon.example/v1/receipts/sample',
};

export const createGenericHttp: ProviderFactory = (name, options) =>
  new GenericHttpProvider(name, genericHttpSettings(name, options));
