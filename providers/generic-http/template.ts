import type { SendRequest } from '../provider.ts';

/** Request templates: literal text with `{{placeholder}}`s, filled per request and encoded per place. */

export const PLACEHOLDERS = [
  'to',
  'toDigits',
  'from',
  'body',
  'messageId',
  'callbackUrl',
  'segments',
] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];

export const BODY_ENCODINGS = ['json', 'form', 'raw'] as const;
export type BodyEncoding = (typeof BODY_ENCODINGS)[number];

/** Literal text and placeholders, parsed once at construction. */
export type Template = ReadonlyArray<string | { placeholder: Placeholder }>;

// Lone surrogates (possible in JSON input) would make encodeURIComponent throw mid-send.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const wellFormed = (value: string) => value.replace(LONE_SURROGATE, '\uFFFD');

export const ENCODERS: Record<BodyEncoding, (value: string) => string> = {
  json: (value) => JSON.stringify(value).slice(1, -1),
  form: (value) => encodeURIComponent(value),
  raw: (value) => value,
};

// fetch refuses header values outside Latin-1 and any CR/LF; percent-encoding them (and `%`, so
// it stays reversible) keeps a placeholder value in a header from failing the send or splitting
// the header.
export const headerValue = (value: string) =>
  value.replace(/[^\t\x20-\x24\x26-\x7e]/gu, (c) =>
    [...Buffer.from(c, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );

/** Fills a template, each placeholder value passed through `encode`. */
export function render(
  template: Template,
  values: Record<Placeholder, string>,
  encode: (v: string) => string,
) {
  let out = '';
  for (const part of template) out += typeof part === 'string' ? part : encode(values[part.placeholder]);
  return out;
}

/** What each placeholder stands for in one request. */
export function placeholderValues(request: SendRequest): Record<Placeholder, string> {
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

/** The content-type sent with a body when the headers name none. */
export const CONTENT_TYPES: Record<BodyEncoding, string> = {
  json: 'application/json',
  form: 'application/x-www-form-urlencoded',
  raw: 'text/plain; charset=utf-8',
};
