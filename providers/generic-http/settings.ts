import { PigeonError } from '../../core/errors.ts';
import { RECEIPT_STATUSES, type ReceiptStatus } from '../../core/message.ts';
import type { SendRequest } from '../provider.ts';
import {
  BODY_ENCODINGS,
  type BodyEncoding,
  type Placeholder,
  PLACEHOLDERS,
  placeholderValues,
  render,
  type Template,
} from './template.ts';

/** A generic HTTP provider's options, validated once into settings the adapter runs from. */

const METHODS = ['POST', 'PUT', 'PATCH', 'GET'] as const;

export interface OutcomeMatcher {
  status?: number[];
  bodyContains?: string;
  jsonPath?: string;
  equals?: string | number | boolean;
}

export const OUTCOMES = ['permanent', 'throttled', 'transient', 'success'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface ReceiptSettings {
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

/**
 * Where an inbound (MO) SMS webhook's fields are, as dot paths into its JSON body. Signed as the
 * receipts are: the `receipt` signature settings cover both webhooks.
 */
export interface InboundSettings {
  itemsPath: string | undefined;
  fromPath: string;
  toPath: string;
  textPath: string;
  idPath: string;
  receivedAtPath: string | undefined;
  /** A part of a longer SMS the provider did not join: its reference, index (from 1) and total. */
  partReferencePath: string | undefined;
  partIndexPath: string | undefined;
  partTotalPath: string | undefined;
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
  inbound: InboundSettings | undefined;
}

const TOP_KEYS = [
  'url',
  'method',
  'headers',
  'body',
  'bodyEncoding',
  'messageIdPath',
  'errorCodePath',
  'receipt',
  'inbound',
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
const INBOUND_KEYS = [
  'itemsPath',
  'fromPath',
  'toPath',
  'textPath',
  'idPath',
  'receivedAtPath',
  'partReferencePath',
  'partIndexPath',
  'partTotalPath',
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

  inbound(value: unknown, receipt: ReceiptSettings | undefined): InboundSettings | undefined {
    if (value === undefined) return undefined;
    const raw = this.object(value, 'inbound', INBOUND_KEYS);
    // One signature scheme per provider: an unsigned inbound webhook would let anyone opt
    // numbers out or in.
    if (!receipt) this.fail('inbound', 'needs "receipt", whose signature settings sign inbound SMS too');
    const parts = [raw.partReferencePath, raw.partIndexPath, raw.partTotalPath].filter(
      (p) => p !== undefined,
    );
    if (parts.length !== 0 && parts.length !== 3) {
      this.fail('inbound', 'needs all of partReferencePath, partIndexPath and partTotalPath, or none');
    }
    return {
      itemsPath: this.path(raw.itemsPath, 'inbound.itemsPath', true),
      fromPath: this.path(raw.fromPath, 'inbound.fromPath'),
      toPath: this.path(raw.toPath, 'inbound.toPath'),
      textPath: this.path(raw.textPath, 'inbound.textPath'),
      idPath: this.path(raw.idPath, 'inbound.idPath'),
      receivedAtPath: this.path(raw.receivedAtPath, 'inbound.receivedAtPath', true),
      partReferencePath: this.path(raw.partReferencePath, 'inbound.partReferencePath', true),
      partIndexPath: this.path(raw.partIndexPath, 'inbound.partIndexPath', true),
      partTotalPath: this.path(raw.partTotalPath, 'inbound.partTotalPath', true),
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
  const receipt = r.receipt(options.receipt);
  return {
    url,
    method,
    headers,
    body,
    bodyEncoding: r.oneOf(options.bodyEncoding, 'bodyEncoding', BODY_ENCODINGS, 'json'),
    messageIdPath: r.path(options.messageIdPath, 'messageIdPath', true),
    errorCodePath: r.path(options.errorCodePath, 'errorCodePath', true),
    matchers,
    receipt,
    inbound: r.inbound(options.inbound, receipt),
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
