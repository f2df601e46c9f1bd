import { PigeonError } from '../core/errors.ts';

/**
 * Provider options as an admin may see them. Masking goes by position, not by name: a credential
 * hides in a URL's userinfo or query, a header, a body template or an option named anything, so
 * every value is masked unless its position is on a short list of fields known to hold no secret.
 */

/** Shown instead of a credential; sent back unchanged in a PUT, it keeps the stored value. */
export const MASK = '••••';

/**
 * What a position holds: `plain` is shown as is, `secret` is masked whole, `url` keeps scheme,
 * host, port and path but masks userinfo, query values and fragment; an object names the shapes
 * of its keys (`*` for any other key) and masks every key it does not name.
 */
export type OptionShape = 'plain' | 'secret' | 'url' | { readonly [key: string]: OptionShape };

const P = 'plain';

/** Per adapter type, the options that hold no secret. Anything else, including unknown types, is masked. */
const SHAPES: Readonly<Record<string, OptionShape>> = {
  simulator: { latencyMs: P, failureRatio: P, receiptDelayMs: P, undeliveredRatio: P, faults: P },
  twilio: { baseUrl: 'url', from: P, messagingServiceSid: P },
  vonage: { baseUrl: 'url', from: P, signatureMethod: P },
  'aws-sms': {
    region: P,
    endpoint: 'url',
    originationIdentity: P,
    configurationSetName: P,
    topicArn: P,
    snsCertificateHost: P,
    snsAllowHttp: P,
  },
  aliyun: { endpoint: 'url', signName: P, templateCode: P, templateParam: P },
  tencent: {
    endpoint: 'url',
    region: P,
    signName: P,
    templateId: P,
    templateParams: P,
    senderId: P,
  },
  smpp: {
    host: P,
    port: P,
    // A CA certificate and a server name are public; the bind credentials are systemId and password.
    tls: P,
    systemType: P,
    serviceType: P,
    validityPeriod: P,
    enquireLinkMs: P,
    connectTimeoutMs: P,
    reconnectMinMs: P,
    reconnectMaxMs: P,
    throttledRetryAfterMs: P,
    queueFullRetryAfterMs: P,
  },
  http: {
    url: 'url',
    method: P,
    // Every header value: Authorization, Cookie, X-Api-Credential… all carry credentials.
    headers: { '*': 'secret' },
    body: 'secret',
    bodyEncoding: P,
    messageIdPath: P,
    errorCodePath: P,
    success: P,
    permanent: P,
    throttled: P,
    transient: P,
    receipt: {
      signatureHeader: P,
      signaturePrefix: P,
      timestampHeader: P,
      toleranceSeconds: P,
      itemsPath: P,
      idPath: P,
      referencePath: P,
      statusPath: P,
      doneAtPath: P,
      statusMap: P,
    },
    // Where an MO webhook's fields are: paths, never credentials (its secret is the receipt's).
    inbound: {
      itemsPath: P,
      fromPath: P,
      toPath: P,
      textPath: P,
      idPath: P,
      receivedAtPath: P,
      partReferencePath: P,
      partIndexPath: P,
      partTotalPath: P,
    },
  },
};

/** The shape of a provider type's options; an unknown type's options are all secret. */
function optionShape(type: string): OptionShape {
  return Object.hasOwn(SHAPES, type) ? SHAPES[type]! : {};
}

/** The options with every value not known to be harmless replaced by MASK. */
export function maskOptions(type: string, options: Record<string, unknown>): Record<string, unknown> {
  return mask(options, optionShape(type)) as Record<string, unknown>;
}

/**
 * Puts the stored value back wherever the client sent MASK, position by position (inside a URL:
 * the userinfo part, the query parameter or the fragment at the same place). MASK with nothing
 * stored at that position is refused with PIGEON_ERR_VALIDATION naming the field.
 */
export function unmaskOptions(
  type: string,
  incoming: Record<string, unknown>,
  stored: unknown,
  path = '/options',
): Record<string, unknown> {
  return unmask(incoming, stored, optionShape(type), path) as Record<string, unknown>;
}

function childShape(shape: OptionShape, key: string): OptionShape {
  if (typeof shape === 'string') return shape === 'plain' ? 'plain' : 'secret';
  return Object.hasOwn(shape, key) ? shape[key]! : Object.hasOwn(shape, '*') ? shape['*']! : 'secret';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function mask(value: unknown, shape: OptionShape): unknown {
  // An absent or empty value holds nothing to hide, and showing it tells the operator it is unset.
  if (value === undefined || value === null || value === '' || shape === 'plain') return value;
  if (shape === 'secret') return MASK;
  if (shape === 'url') return typeof value === 'string' ? maskUrl(value) : MASK;
  if (!isRecord(value)) return MASK;
  return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, mask(v, childShape(shape, key))]));
}

function unmask(incoming: unknown, stored: unknown, shape: OptionShape, path: string): unknown {
  if (incoming === MASK) {
    if (stored === undefined || stored === null || stored === MASK) throw nothingStored(path);
    return stored;
  }
  if (typeof incoming === 'string' && shape === 'url') return unmaskUrl(incoming, stored, path);
  if (Array.isArray(incoming)) {
    return incoming.map((v, i) =>
      unmask(v, Array.isArray(stored) ? stored[i] : undefined, childShape(shape, String(i)), `${path}/${i}`),
    );
  }
  if (isRecord(incoming)) {
    const storedRecord = isRecord(stored) ? stored : {};
    return Object.fromEntries(
      Object.entries(incoming).map(([key, v]) => [
        key,
        unmask(
          v,
          Object.hasOwn(storedRecord, key) ? storedRecord[key] : undefined,
          childShape(shape, key),
          `${path}/${key}`,
        ),
      ]),
    );
  }
  return incoming;
}

function nothingStored(path: string, part?: string): PigeonError {
  const what = part === undefined ? path : `the ${part} of ${path}`;
  return new PigeonError('PIGEON_ERR_VALIDATION', `${what} is ${MASK} but no value is stored to keep`, {
    errors: [{ field: path, message: `send the real ${part ?? 'value'}` }],
  });
}

interface UrlParts {
  scheme: string;
  user: string | undefined;
  password: string | undefined;
  hostAndPath: string;
  query: string[] | undefined;
  fragment: string | undefined;
}

// Split by hand, not with new URL(): the generic HTTP adapter's URL is a template whose
// `{{placeholders}}` URL parsing would percent-encode, and the text must round-trip unchanged.
const URL_PARTS = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/s;
const PLACEHOLDER_ONLY = /^\{\{\s*[\w.]+\s*\}\}$/;

function splitUrl(text: string): UrlParts | undefined {
  const match = URL_PARTS.exec(text);
  if (!match) return undefined;
  const [, scheme, authority, pathname, query, fragment] = match as unknown as [
    string,
    string,
    string,
    string,
    string | undefined,
    string | undefined,
  ];
  // As WHATWG URL parsing does: the host follows the last `@`.
  const at = authority.lastIndexOf('@');
  const userinfo = at === -1 ? undefined : authority.slice(0, at);
  const colon = userinfo?.indexOf(':') ?? -1;
  return {
    scheme,
    user: colon === -1 ? userinfo : userinfo!.slice(0, colon),
    password: colon === -1 ? undefined : userinfo!.slice(colon + 1),
    hostAndPath: authority.slice(at + 1) + pathname,
    query: query === undefined ? undefined : query.split('&'),
    fragment,
  };
}

function joinUrl(parts: UrlParts): string {
  const userinfo =
    parts.user === undefined
      ? ''
      : `${parts.user}${parts.password === undefined ? '' : `:${parts.password}`}@`;
  return (
    parts.scheme +
    userinfo +
    parts.hostAndPath +
    (parts.query === undefined ? '' : `?${parts.query.join('&')}`) +
    (parts.fragment === undefined ? '' : `#${parts.fragment}`)
  );
}

const maskPart = (text: string | undefined) => (text === undefined || text === '' ? text : MASK);

function maskQueryParameter(parameter: string): string {
  const eq = parameter.indexOf('=');
  // A bare parameter may itself be a key (`?3f9a…`): masked whole.
  if (eq === -1) return maskPart(parameter)!;
  const value = parameter.slice(eq + 1);
  // A lone placeholder is filled per message ({{to}}, {{body}}): no secret in it.
  return PLACEHOLDER_ONLY.test(value) ? parameter : `${parameter.slice(0, eq + 1)}${maskPart(value)}`;
}

/** Scheme, host, port and path shown; userinfo, every query value and the fragment masked. */
export function maskUrl(text: string): string {
  const parts = splitUrl(text);
  if (!parts) return MASK;
  return joinUrl({
    ...parts,
    user: maskPart(parts.user),
    password: maskPart(parts.password),
    query: parts.query?.map(maskQueryParameter),
    fragment: maskPart(parts.fragment),
  });
}

function unmaskUrl(incoming: string, stored: unknown, path: string): string {
  if (!incoming.includes(MASK)) return incoming;
  const sent = splitUrl(incoming);
  const kept = typeof stored === 'string' ? splitUrl(stored) : undefined;
  if (!sent) return incoming; // not a URL: the adapter refuses it with its own words
  const restore = (part: string | undefined, keep: string | undefined, where: string) => {
    if (part !== MASK) return part;
    if (keep === undefined || keep === '' || keep === MASK) throw nothingStored(path, where);
    return keep;
  };
  const query = sent.query?.map((parameter, i) => {
    const keptParameter = kept?.query?.[i];
    if (parameter === MASK) return restore(parameter, keptParameter, `query parameter ${i + 1}`)!;
    const eq = parameter.indexOf('=');
    if (eq === -1 || parameter.slice(eq + 1) !== MASK) return parameter;
    const name = parameter.slice(0, eq);
    // Position by position: the stored parameter at the same place must have the same name.
    const keptValue = keptParameter?.startsWith(`${name}=`) ? keptParameter.slice(eq + 1) : undefined;
    return `${name}=${restore(MASK, keptValue, `query parameter ${name}`)}`;
  });
  return joinUrl({
    ...sent,
    user: restore(sent.user, kept?.user, 'user'),
    password: restore(sent.password, kept?.password, 'password'),
    query,
    fragment: restore(sent.fragment, kept?.fragment, 'fragment'),
  });
}
