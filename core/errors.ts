/**
 * The error catalogue. Every error the gateway reports has a stable code, an HTTP status and a
 * `retriable` flag; callers decide by code and flag, never by message text. `docs/errors.md`
 * documents each code and `core/errors.test.ts` keeps the two in step.
 */

export interface ErrorSpec {
  readonly status: number;
  readonly title: string;
  readonly retriable: boolean;
}

export const ErrorCatalogue = {
  PIGEON_ERR_VALIDATION: { status: 400, title: 'Request failed validation', retriable: false },
  PIGEON_ERR_MALFORMED_JSON: { status: 400, title: 'Body is not valid JSON', retriable: false },
  PIGEON_ERR_INVALID_NUMBER: {
    status: 400,
    title: 'Recipient is not a valid E.164 number',
    retriable: false,
  },
  PIGEON_ERR_INVALID_SENDER: {
    status: 400,
    title: 'Sender is not a valid alphanumeric sender id, E.164 number or short code',
    retriable: false,
  },
  PIGEON_ERR_SENDER_NOT_REGISTERED: {
    status: 403,
    title: 'Sender is not one of the tenant’s registered senders for this destination',
    retriable: false,
  },
  PIGEON_ERR_EMPTY_BODY: { status: 400, title: 'Message body is empty', retriable: false },
  PIGEON_ERR_BODY_TOO_LONG: { status: 400, title: 'Message body is too long', retriable: false },
  PIGEON_ERR_UNKNOWN_TEMPLATE: {
    status: 422,
    title: 'The message names a template the tenant does not have',
    retriable: false,
  },
  PIGEON_ERR_TEMPLATE_VARIABLES: {
    status: 422,
    title: 'Template variables are missing or not in the template',
    retriable: false,
  },
  PIGEON_ERR_TEMPLATE_OPT_OUT_MISSING: {
    status: 422,
    title: 'A marketing template must carry an opt-out instruction',
    retriable: false,
  },
  PIGEON_ERR_CSV_HEADER: {
    status: 400,
    title: 'The CSV header row cannot work for this campaign',
    retriable: false,
  },
  PIGEON_ERR_CSV_MALFORMED: { status: 400, title: 'A CSV row or file is malformed', retriable: false },
  PIGEON_ERR_CSV_ENCODING: { status: 400, title: 'A CSV row is not valid UTF-8', retriable: false },
  PIGEON_ERR_CSV_ROW_TOO_LARGE: {
    status: 413,
    title: 'A CSV row is larger than the limit per row',
    retriable: false,
  },
  PIGEON_ERR_TOO_MANY_RECIPIENTS: {
    status: 413,
    title: 'Too many recipients for one campaign',
    retriable: false,
  },
  PIGEON_ERR_PAYLOAD_TOO_LARGE: { status: 413, title: 'Request payload is too large', retriable: false },
  PIGEON_ERR_UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    title: 'Content-Type must be application/json',
    retriable: false,
  },
  PIGEON_ERR_MALFORMED_REQUEST: { status: 400, title: 'Request is not valid HTTP', retriable: false },
  PIGEON_ERR_METHOD_NOT_ALLOWED: {
    status: 405,
    title: 'Method not allowed on this resource',
    retriable: false,
  },
  PIGEON_ERR_REQUEST_TIMEOUT: { status: 408, title: 'Request was not received in time', retriable: true },
  PIGEON_ERR_URI_TOO_LONG: { status: 414, title: 'Request path is too long', retriable: false },
  PIGEON_ERR_HEADERS_TOO_LARGE: {
    status: 431,
    title: 'Request headers or query string are too large',
    retriable: false,
  },
  PIGEON_ERR_UNAUTHORIZED: { status: 401, title: 'Missing or invalid API key', retriable: false },
  PIGEON_ERR_FORBIDDEN: { status: 403, title: 'API key lacks the required scope', retriable: false },
  PIGEON_ERR_TENANT_SUSPENDED: {
    status: 403,
    title: "The API key's tenant is suspended",
    retriable: false,
  },
  PIGEON_ERR_NOT_FOUND: { status: 404, title: 'Resource not found', retriable: false },
  PIGEON_ERR_IDEMPOTENCY_CONFLICT: {
    status: 409,
    title: 'Idempotency key was reused with a different request',
    retriable: false,
  },
  PIGEON_ERR_IDEMPOTENCY_IN_PROGRESS: {
    status: 409,
    title: 'A request with this idempotency key is still being processed',
    retriable: true,
  },
  PIGEON_ERR_CAMPAIGN_STATE: {
    status: 409,
    title: 'The campaign is not in a state that allows this',
    retriable: false,
  },
  PIGEON_ERR_CONFLICT: {
    status: 409,
    title: 'Request conflicts with the current state of the resource',
    retriable: false,
  },
  PIGEON_ERR_INVALID_CURSOR: {
    status: 400,
    title: 'Pagination cursor is not valid for this request',
    retriable: false,
  },
  PIGEON_ERR_CALLBACK_SECRET_MISSING: {
    status: 409,
    title: 'Status callbacks need a signing secret: PUT /v1/webhook first',
    retriable: false,
  },
  PIGEON_ERR_RATE_LIMITED: { status: 429, title: 'Too many requests', retriable: true },
  PIGEON_ERR_COUNTRY_NOT_ALLOWED: {
    status: 403,
    title: 'One-time codes are not enabled for this country',
    retriable: false,
  },
  PIGEON_ERR_NUMBER_TYPE_REFUSED: {
    status: 422,
    title: 'This kind of number cannot receive one-time codes',
    retriable: false,
  },
  PIGEON_ERR_SEND_LIMIT: { status: 429, title: 'Verification send limit reached', retriable: true },
  PIGEON_ERR_PUMPING_SUSPECTED: {
    status: 429,
    title: 'Number range blocked: suspected SMS pumping',
    retriable: true,
  },
  PIGEON_ERR_RECIPIENT_CAP: {
    status: 429,
    title: 'Too many messages to this recipient',
    retriable: true,
  },
  PIGEON_ERR_SPEND_CAP: { status: 429, title: 'Spend cap reached', retriable: true },
  PIGEON_ERR_FREQUENCY_CAPPED: {
    status: 429,
    title: 'Marketing frequency cap reached for this recipient',
    retriable: true,
  },
  PIGEON_ERR_BUS_UNAVAILABLE: { status: 503, title: 'Message bus is unavailable', retriable: true },
  // 504, not 503: a 503 from the API promises the message is never sent, and this answer cannot.
  // Not retriable: sending again could send twice; the client looks the message up instead.
  PIGEON_ERR_OUTCOME_UNKNOWN: {
    status: 504,
    title: 'Neither the message bus nor the cache confirmed whether the message was taken',
    retriable: false,
  },
  PIGEON_ERR_PAGE_FAILED: {
    status: 503,
    title: 'On-call page could not be sent: neither the bus nor a provider took it',
    retriable: true,
  },
  PIGEON_ERR_STORE_UNAVAILABLE: { status: 503, title: 'Message store is unavailable', retriable: true },
  PIGEON_ERR_STORE_REJECTED: { status: 500, title: 'The database refused the data', retriable: false },
  PIGEON_ERR_CACHE_UNAVAILABLE: { status: 503, title: 'Cache is unavailable', retriable: true },
  PIGEON_ERR_SHUTTING_DOWN: {
    status: 503,
    title: 'This instance is shutting down; another one takes the request',
    retriable: true,
  },
  PIGEON_ERR_RECEIPT_SIGNATURE: { status: 403, title: 'Receipt signature is invalid', retriable: false },
  PIGEON_ERR_UNKNOWN_PROVIDER: { status: 404, title: 'Unknown provider', retriable: false },
  PIGEON_ERR_CONFIG: { status: 500, title: 'Invalid configuration', retriable: false },
  PIGEON_ERR_INTERNAL: { status: 500, title: 'Internal error', retriable: true },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ErrorCatalogue;

export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail?: string;
  instance?: string;
  errors?: Array<{ field: string; message: string }>;
  retryAfterSeconds?: number;
  /** The message the problem is about, when the client should look it up (GET /v1/messages/:id). */
  messageId?: string;
}

export const PROBLEM_TYPE_BASE = 'https://pigeon.dev/errors/';

/** An error with a stable code from the catalogue; rendered as RFC 9457 problem+json by the API. */
export class PigeonError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retriable: boolean;
  readonly errors: Array<{ field: string; message: string }> | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly messageId: string | undefined;

  constructor(
    code: ErrorCode,
    detail?: string,
    options: {
      cause?: unknown;
      errors?: Array<{ field: string; message: string }>;
      retryAfterSeconds?: number;
      messageId?: string;
    } = {},
  ) {
    const spec = ErrorCatalogue[code];
    super(detail ?? spec.title, { cause: options.cause });
    this.name = 'PigeonError';
    this.code = code;
    this.status = spec.status;
    this.retriable = spec.retriable;
    this.errors = options.errors;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.messageId = options.messageId;
  }

  toProblem(instance?: string): ProblemDetails {
    const problem: ProblemDetails = {
      type: PROBLEM_TYPE_BASE + this.code.slice('PIGEON_ERR_'.length).toLowerCase().replaceAll('_', '-'),
      title: ErrorCatalogue[this.code].title,
      status: this.status,
      code: this.code,
      detail: this.message,
    };
    if (instance) problem.instance = instance;
    if (this.errors) problem.errors = this.errors;
    if (this.retryAfterSeconds !== undefined) problem.retryAfterSeconds = this.retryAfterSeconds;
    if (this.messageId !== undefined) problem.messageId = this.messageId;
    return problem;
  }
}

export function isPigeonError(err: unknown): err is PigeonError {
  return err instanceof PigeonError;
}
