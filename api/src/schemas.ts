import { Type } from 'typebox';
import { MAX_CALLBACK_URL_LENGTH } from '../../core/callback-url.ts';
import {
  MAX_CLIENT_REF_LENGTH,
  MAX_METADATA_BYTES,
  MAX_METADATA_KEY_LENGTH,
  MAX_METADATA_KEYS,
  MAX_METADATA_VALUE_LENGTH,
} from '../../core/client-reference.ts';
import { MESSAGE_CLASSES, MESSAGE_STATUSES } from '../../core/message.ts';

const MessageClassSchema = Type.Enum(MESSAGE_CLASSES, {
  description: 'otp and alert ride the high lane, marketing and batches the bulk lane',
});

const StatusCallback = Type.String({
  minLength: 1,
  maxLength: MAX_CALLBACK_URL_LENGTH,
  description:
    "http(s) URL that receives this message's status changes, signed (Pigeon-Signature); " +
    "instead of the tenant's webhook. Needs the tenant's signing secret (PUT /v1/webhook).",
});

export const ClientRef = Type.String({
  minLength: 1,
  maxLength: MAX_CLIENT_REF_LENGTH,
  description:
    'Your own reference for the message (an order or user id): printable text, stored, returned, ' +
    'searchable with GET /v1/messages?clientRef= and echoed in status callbacks',
});

export const Metadata = Type.Record(
  Type.String({ minLength: 1, maxLength: MAX_METADATA_KEY_LENGTH }),
  Type.String({ maxLength: MAX_METADATA_VALUE_LENGTH }),
  {
    maxProperties: MAX_METADATA_KEYS,
    description:
      `Your labels for the message: at most ${MAX_METADATA_KEYS} keys, string values of at most ` +
      `${MAX_METADATA_VALUE_LENGTH} characters, ${MAX_METADATA_BYTES} bytes in all as JSON; ` +
      'returned and echoed in status callbacks',
  },
);

/** A template's variables as a message or preview gives them. */
export const TemplateVariables = Type.Record(
  Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' }),
  Type.Union([Type.String({ maxLength: 1600 }), Type.Number()]),
  { maxProperties: 64, description: 'A value for each {{name}} of the template, and nothing else' },
);

export const TemplateId = Type.String({
  pattern: '^[0-9A-HJKMNP-TV-Z]{26}$',
  description: 'A template of the tenant (POST /v1/templates), instead of "body"',
});

export const Locale = Type.String({
  pattern: '^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$',
  maxLength: 35,
  description:
    "BCP 47 locale of the template variant: the exact one, else its language's, else the template's default",
});

const SmartEncoding = Type.Boolean({
  description:
    "Replace look-alike characters (curly quotes, dashes, special spaces, …) by GSM-7 ones when that keeps the text GSM-7; default: the tenant's setting",
});

/** What the accept answer and the template preview say of a text's encoding. */
export const EncodingFields = {
  encoding: Type.String({ description: 'GSM-7 or UCS-2' }),
  segments: Type.Integer({ description: 'SMS parts the text is sent in' }),
  replaced: Type.Array(Type.Object({ from: Type.String(), to: Type.String(), count: Type.Integer() }), {
    description: 'Look-alike characters replaced by GSM-7 ones, in order of first occurrence',
  }),
  forcedUcs2: Type.Array(Type.String(), {
    description: 'The characters outside GSM-7 (none replaceable) that make the text UCS-2',
  }),
};

export const SendMessageBody = Type.Object(
  {
    to: Type.String({ minLength: 1, maxLength: 32, description: 'Recipient in E.164, e.g. +14155550123' }),
    body: Type.Optional(
      Type.String({ maxLength: 1600, description: 'Text; at most 10 SMS parts. Or "template".' }),
    ),
    template: Type.Optional(TemplateId),
    variables: Type.Optional(TemplateVariables),
    locale: Type.Optional(Locale),
    smartEncoding: Type.Optional(SmartEncoding),
    from: Type.Optional(Type.String({ minLength: 1, maxLength: 20, description: 'Sender id or number' })),
    class: Type.Optional(MessageClassSchema),
    ttlSeconds: Type.Optional(
      Type.Integer({
        minimum: 30,
        maximum: 259_200,
        description: 'Give up (status expired) after this long',
      }),
    ),
    statusCallback: Type.Optional(StatusCallback),
    clientRef: Type.Optional(ClientRef),
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false },
);

export const AcceptedMessage = Type.Object({
  id: Type.String(),
  status: Type.Literal('queued'),
  ...EncodingFields,
  duplicate: Type.Optional(
    Type.Boolean({
      description:
        "true: the same message went to this number within the tenant's dedup window; `id` is that message's and nothing new was sent",
    }),
  ),
});

export const BatchBody = Type.Object(
  {
    messages: Type.Array(
      Type.Object(
        {
          to: Type.String({ minLength: 1, maxLength: 32 }),
          body: Type.Optional(Type.String({ maxLength: 1600 })),
          variables: Type.Optional(TemplateVariables),
          statusCallback: Type.Optional(StatusCallback),
          clientRef: Type.Optional(ClientRef),
          metadata: Type.Optional(Metadata),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 1000 },
    ),
    body: Type.Optional(
      Type.String({ maxLength: 1600, description: 'Text for every recipient without its own' }),
    ),
    template: Type.Optional(TemplateId),
    variables: Type.Optional(TemplateVariables),
    locale: Type.Optional(Locale),
    smartEncoding: Type.Optional(SmartEncoding),
    from: Type.Optional(Type.String({ minLength: 1, maxLength: 20 })),
    class: Type.Optional(MessageClassSchema),
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 30, maximum: 259_200 })),
    statusCallback: Type.Optional(StatusCallback),
  },
  { additionalProperties: false },
);

export const BatchResult = Type.Object({
  batchId: Type.String(),
  accepted: Type.Integer(),
  rejected: Type.Integer(),
  results: Type.Array(
    Type.Object({
      index: Type.Integer(),
      id: Type.Optional(Type.String()),
      status: Type.Enum(['queued', 'rejected', 'unknown'], {
        description:
          '`unknown`: not confirmed either way (PIGEON_ERR_OUTCOME_UNKNOWN); look `id` up with GET /v1/messages/{id} before sending it again',
      }),
      encoding: Type.Optional(EncodingFields.encoding),
      segments: Type.Optional(EncodingFields.segments),
      replaced: Type.Optional(EncodingFields.replaced),
      forcedUcs2: Type.Optional(EncodingFields.forcedUcs2),
      code: Type.Optional(Type.String()),
      detail: Type.Optional(Type.String()),
      duplicate: Type.Optional(
        Type.Boolean({ description: 'true: `id` is the earlier identical message; this item was not sent' }),
      ),
    }),
  ),
});

export const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) =>
  Type.Union([t, Type.Null()]);

/** What a message's row says, in the single view and in listings alike. */
const MessageFields = {
  id: Type.String(),
  to: Type.String({ description: 'Masked unless the key has the pii:read scope' }),
  from: Nullable(Type.String()),
  class: Type.String(),
  lane: Type.String(),
  status: Type.Enum(MESSAGE_STATUSES),
  segments: Type.Integer(),
  encoding: Type.String(),
  country: Nullable(Type.String()),
  provider: Nullable(Type.String()),
  providerMessageId: Nullable(Type.String()),
  cost: Nullable(Type.Number()),
  errorCode: Nullable(Type.String()),
  clientRef: Nullable(Type.String({ description: 'Your reference, as sent' })),
  metadata: Nullable(Type.Record(Type.String(), Type.String(), { description: 'Your labels, as sent' })),
  queuedAt: Nullable(Type.String()),
  submittedAt: Nullable(Type.String()),
  finalAt: Nullable(Type.String()),
};

/** A message in a listing (GET /v1/messages). */
export const MessageSummary = Type.Object({
  ...MessageFields,
  batchId: Nullable(Type.String()),
  createdAt: Type.String({ format: 'date-time', description: 'When the API accepted it (the id’s time)' }),
});

/** One message with its history and provider calls (GET /v1/messages/{id}). */
export const MessageView = Type.Object({
  ...MessageFields,
  notBefore: Nullable(
    Type.String({
      format: 'date-time',
      description:
        "A queued marketing message held for the recipient's quiet hours: when it is released; null otherwise",
    }),
  ),
  history: Type.Array(
    Type.Object({
      status: Type.String(),
      type: Type.String(),
      at: Type.String(),
      provider: Nullable(Type.String()),
      providerMessageId: Nullable(Type.String()),
      detail: Nullable(Type.Record(Type.String(), Type.Unknown())),
    }),
  ),
  attempts: Type.Array(
    Type.Object(
      {
        attempt: Type.Integer({
          description: '1 for the first provider call; failovers and retries count on',
        }),
        provider: Type.String(),
        providerMessageId: Nullable(Type.String()),
        outcome: Type.String({
          description: 'submitted, failed, unknown (may have been sent), expired, rejected',
        }),
        errorClass: Nullable(Type.String()),
        errorCode: Nullable(Type.String({ description: "The provider's own code" })),
        failover: Nullable(
          Type.String({ description: 'Why this copy was sent: receipt_timeout, crash_recovery' }),
        ),
        segments: Nullable(Type.Integer()),
        cost: Nullable(Type.Number()),
        requestedAt: Nullable(Type.String()),
        respondedAt: Nullable(Type.String()),
      },
      { description: 'One provider call' },
    ),
    { description: 'Every provider call made for the message, in order' },
  ),
});

export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    code: Type.String(),
    detail: Type.Optional(Type.String()),
    instance: Type.Optional(Type.String()),
    errors: Type.Optional(Type.Array(Type.Object({ field: Type.String(), message: Type.String() }))),
    retryAfterSeconds: Type.Optional(Type.Integer()),
    messageId: Type.Optional(
      Type.String({
        description:
          'The message this problem is about (PIGEON_ERR_OUTCOME_UNKNOWN): look it up with GET /v1/messages/{id} instead of sending again',
      }),
    ),
  },
  { description: 'RFC 9457 problem details; `code` is stable (see docs/errors.md)' },
);

/** The body of an acknowledgement (of a page or an incident): optionally, who acknowledges. */
export const AckBody = Type.Optional(
  Type.Object(
    { by: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'Who acknowledges' })) },
    { additionalProperties: false },
  ),
);
