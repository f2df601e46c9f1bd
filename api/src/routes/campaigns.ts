import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { stringify } from 'csv-stringify';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { type Static, Type } from 'typebox';
import { type CampaignAction, CAMPAIGN_ACTIONS, canApply } from '../../../core/campaign-states.ts';
import { PigeonError } from '../../../core/errors.ts';
import { newId } from '../../../core/ids.ts';
import { MESSAGE_CLASSES, type MessageClass } from '../../../core/message.ts';
import { maskPhone } from '../../../core/phone.ts';
import { requireSenderId } from '../../../core/sender-id.ts';
import {
  type CampaignChanges,
  type CampaignRecord,
  RECURRENCES,
} from '../../../core/store/kinds/campaigns.ts';
import type { TemplateRecord } from '../../../core/store/kinds/templates.ts';
import type { Store } from '../../../core/store/store.ts';
import { DEFAULT_OPT_OUT_PHRASES, hasOptOut } from '../../../core/template.ts';
import type { ProviderInfo } from '../../../routing/table.ts';
import { seesPii } from '../api-keys.ts';
import { approvalDecision } from '../campaigns/approval.ts';
import {
  checkRecipient,
  IntakeBatcher,
  type IntakeCounts,
  type IntakeRules,
} from '../campaigns/csv-intake.ts';
import { CSV_UPLOAD_LIMITS, type CsvUploadLimits, ingestCsv } from '../campaigns/csv-upload.ts';
import { campaignProgress } from '../campaigns/progress.ts';
import { SharedStatusCounts } from '../campaigns/shared-counts.ts';
import { sendInstant } from '../campaigns/send-time.ts';
import { Locale, Problem, TemplateId, TemplateVariables } from '../schemas.ts';
import { MICROS, pricePerPart } from '../send-policy/pricing.ts';

export interface CampaignRoutesDeps {
  store: Store;
  /** The route table's providers, whose prices estimate a campaign's cost (as the send policy's). */
  providers: () => Iterable<ProviderInfo>;
  /** The price of a part where no provider lists one (PIGEON_SEND_PRICE_PER_PART). */
  fallbackPricePerPart: number;
  /** The tenant's smart-encoding setting, which the parts of each row are counted with. */
  smartEncoding?: (tenantId: string) => Promise<boolean> | boolean;
  /** What counts as a marketing body's opt-out instruction. Default: DEFAULT_OPT_OUT_PHRASES. */
  optOutPhrases?: readonly string[];
  /** CSV upload limits; tests lower them. */
  uploadLimits?: CsvUploadLimits;
  /**
   * Called after a pause, resume or cancel took effect, with the campaign as it is now: the
   * runner's side of it (the bridge's cancel marker, the tenant's campaign events).
   */
  controlled?: (campaign: CampaignRecord, action: 'pause' | 'resume' | 'cancel') => Promise<void>;
  now?: () => number;
}

/** Recipients a create request may carry inline; larger lists go as a CSV upload. */
export const MAX_INLINE_RECIPIENTS = 100_000;
const IDEMPOTENCY_KEY = /^[\w.:-]{1,128}$/;
/** A lease an upload holds on its draft, so two uploads to one campaign never interleave. */
const UPLOAD_LEASE_MS = 3_600_000;
const EXPORT_PAGE = 1_000;

const errorResponses = {
  400: Problem,
  401: Problem,
  403: Problem,
  404: Problem,
  409: Problem,
  413: Problem,
  415: Problem,
  422: Problem,
  503: Problem,
};

const CampaignParams = Type.Object({ id: Type.String({ pattern: '^[0-9A-HJKMNP-TV-Z]{26}$' }) });

const InlineRecipient = Type.Object(
  {
    to: Type.String({ maxLength: 32 }),
    variables: Type.Optional(TemplateVariables),
    clientRef: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  },
  { additionalProperties: false },
);

const CreateCampaignBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    template: Type.Optional(TemplateId),
    variables: Type.Optional(TemplateVariables),
    locale: Type.Optional(Locale),
    body: Type.Optional(Type.String({ minLength: 1, maxLength: 1600 })),
    class: Type.Optional(
      Type.Enum(MESSAGE_CLASSES, { description: "Default: the template's class, else marketing" }),
    ),
    from: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
    sendAt: Type.Optional(
      Type.String({
        maxLength: 40,
        description:
          'A local wall time in `timeZone` (2026-12-07T09:00) or an ISO instant; absent: as soon as scheduled',
      }),
    ),
    timeZone: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: 'IANA, e.g. Asia/Shanghai' }),
    ),
    recurrence: Type.Optional(
      Type.Union([Type.Enum(RECURRENCES), Type.Null()], {
        description: 'Runs again at the same local time; needs sendAt and timeZone',
      }),
    ),
    rateCap: Type.Optional(
      Type.Union([Type.Integer({ minimum: 1, maximum: 100_000 }), Type.Null()], {
        description: 'Messages per second at most',
      }),
    ),
    recipients: Type.Optional(Type.Array(InlineRecipient, { maxItems: MAX_INLINE_RECIPIENTS })),
    submit: Type.Optional(Type.Boolean({ description: 'Submit at once (as POST /v1/campaigns/:id/submit)' })),
  },
  { additionalProperties: false },
);
type CreateCampaignBody = Static<typeof CreateCampaignBody>;

const Progress = Type.Object({
  pending: Type.Integer({ description: 'Valid rows not yet made messages' }),
  queued: Type.Integer(),
  submitted: Type.Integer(),
  delivered: Type.Integer(),
  failed: Type.Integer(),
  skipped: Type.Integer(),
  skippedReasons: Type.Record(Type.String(), Type.Integer()),
  cancelled: Type.Integer(),
  invalid: Type.Integer({ description: 'Rows refused at intake (GET …/errors)' }),
  rate: Type.Union([Type.Number(), Type.Null()], {
    description: 'Messages per second since the run started',
  }),
  eta: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

const CampaignView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  state: Type.String(),
  template: Type.Union([Type.String(), Type.Null()]),
  body: Type.Union([Type.String(), Type.Null()]),
  class: Type.String(),
  locale: Type.Union([Type.String(), Type.Null()]),
  variables: Type.Record(Type.String(), Type.String()),
  from: Type.Union([Type.String(), Type.Null()]),
  sendAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  timeZone: Type.Union([Type.String(), Type.Null()]),
  recurrence: Type.Union([Type.String(), Type.Null()]),
  rateCap: Type.Union([Type.Integer(), Type.Null()]),
  recipients: Type.Integer(),
  invalid: Type.Integer(),
  estimatedCost: Type.Union([Type.Number(), Type.Null()]),
  run: Type.Integer(),
  approvedBy: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
  startedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  approvalReason: Type.Optional(Type.String()),
  progress: Type.Optional(Progress),
});

const UploadResult = Type.Object({
  recipients: Type.Integer({ description: 'Valid rows stored' }),
  invalid: Type.Integer({ description: 'Rows refused, each listed by GET …/errors' }),
  estimatedCost: Type.Number(),
});

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function view(c: CampaignRecord) {
  return {
    id: c.id,
    name: c.name,
    state: c.state,
    template: c.templateId,
    body: c.body,
    class: c.messageClass,
    locale: c.locale,
    variables: c.variables,
    from: c.from,
    sendAt: iso(c.sendAt),
    timeZone: c.timeZone,
    recurrence: c.recurrence,
    rateCap: c.rateCap,
    recipients: c.recipientCount,
    invalid: c.invalidCount,
    estimatedCost: c.estimatedCost,
    run: c.run,
    approvedBy: c.approvedBy,
    createdAt: new Date(c.createdAt).toISOString(),
    updatedAt: new Date(c.updatedAt).toISOString(),
    startedAt: iso(c.startedAt),
    finishedAt: iso(c.finishedAt),
  };
}

function notFound(id: string): PigeonError {
  return new PigeonError('PIGEON_ERR_NOT_FOUND', `No campaign ${id} for this API key`);
}

function wrongState(c: CampaignRecord, what: string): PigeonError {
  return new PigeonError('PIGEON_ERR_CAMPAIGN_STATE', `Campaign ${c.id} is ${c.state}: cannot ${what}`);
}

const stringValues = (values: Record<string, string | number> | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(values ?? {}).map(([k, v]) => [k, String(v)]));

/** A digest of the create request, so a reused Idempotency-Key with another body is told apart. */
function requestHash(body: CreateCampaignBody): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('hex');
}

/** The listing cursor: the last id shown, opaque to the client. */
function decodeListCursor(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[0-9A-HJKMNP-TV-Z]{26}$/.test(id)) {
    throw new PigeonError('PIGEON_ERR_INVALID_CURSOR', 'The cursor is not one this API issued', {
      errors: [{ field: '/cursor', message: 'malformed' }],
    });
  }
  return id;
}

/**
 * `/v1/campaigns`: bulk campaigns (create, CSV upload, submit and approval, pause, resume and
 * cancel, progress, listing, exports) and `/v1/admin/tenants/:id/campaign-approval`. The runner
 * that expands a campaign into messages acts on the states these calls set.
 */
export async function campaignRoutes(fastify: FastifyInstance, deps: CampaignRoutesDeps) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const now = deps.now ?? Date.now;
  const store = deps.store;
  const limits = deps.uploadLimits ?? CSV_UPLOAD_LIMITS;
  const optOutPhrases = deps.optOutPhrases ?? DEFAULT_OPT_OUT_PHRASES;
  const statusCounts = new SharedStatusCounts(
    (tenantId, id) => store.campaignStatusCounts(tenantId, id),
    now,
  );

  // The upload's body goes to csv-parse as it arrives: never buffered, never size-limited by
  // bodyLimit (the row count and the per-row guard bound it instead). Scoped to this plugin.
  app.addContentTypeParser('text/csv', (_request, payload, done) => {
    done(null, payload);
  });

  const owned = async (tenantId: string, id: string): Promise<CampaignRecord> => {
    const found = await store.getCampaign(tenantId, id);
    if (!found) throw notFound(id);
    return found;
  };

  const templateOf = async (
    c: Pick<CampaignRecord, 'tenantId' | 'templateId'>,
  ): Promise<TemplateRecord | undefined> => {
    if (c.templateId === null) return undefined;
    const template = await store.getTemplate(c.tenantId, c.templateId);
    if (!template) {
      throw new PigeonError('PIGEON_ERR_UNKNOWN_TEMPLATE', `No template ${c.templateId} for this tenant`, {
        errors: [{ field: '/template', message: 'unknown' }],
      });
    }
    return template;
  };

  const rulesFor = async (c: CampaignRecord, template: TemplateRecord | undefined): Promise<IntakeRules> => {
    const providers = [...deps.providers()];
    const prices = new Map<string | undefined, number>();
    return {
      template,
      body: c.body ?? undefined,
      locale: c.locale ?? undefined,
      variables: c.variables,
      smartEncoding: (await deps.smartEncoding?.(c.tenantId)) ?? false,
      pricePerPart: (country) => {
        let price = prices.get(country);
        if (price === undefined) {
          price = pricePerPart(providers, country, deps.fallbackPricePerPart);
          prices.set(country, price);
        }
        return price;
      },
    };
  };

  const storeCounts = async (c: CampaignRecord, counts: IntakeCounts): Promise<void> => {
    const stored = await store.setCampaignCounts(
      c.tenantId,
      c.id,
      {
        recipientCount: counts.recipients,
        invalidCount: counts.invalid,
        estimatedCost: counts.costMicros / MICROS,
      },
      now(),
    );
    if (!stored) throw wrongState((await store.getCampaign(c.tenantId, c.id)) ?? c, 'take recipients');
  };

  /** Holds the draft's upload lease for `work`: one upload (or inline list) at a time per campaign. */
  const withUploadLease = async <T>(c: CampaignRecord, work: () => Promise<T>): Promise<T> => {
    const owner = `upload:${newId()}`;
    const at = now();
    if (!(await store.leaseCampaign(c.tenantId, c.id, owner, at, at + UPLOAD_LEASE_MS))) {
      throw new PigeonError('PIGEON_ERR_CAMPAIGN_STATE', `Campaign ${c.id} is taking another upload`);
    }
    try {
      return await work();
    } finally {
      await store.releaseCampaign(c.tenantId, c.id, owner);
    }
  };

  const storeInline = async (c: CampaignRecord, recipients: CreateCampaignBody['recipients']) => {
    if (!recipients) return;
    await withUploadLease(c, async () => {
      const rules = await rulesFor(c, await templateOf(c));
      await store.clearRecipients(c.id);
      const batcher = new IntakeBatcher(
        {
          recipients: (rows) => store.appendRecipients(c.id, rows),
          errors: (rows) => store.appendRowErrors(c.id, rows),
        },
        limits.batchSize,
      );
      for (const [i, r] of recipients.entries()) {
        const input = {
          to: r.to,
          ...(r.clientRef === undefined ? {} : { clientRef: r.clientRef }),
          ...(r.variables === undefined ? {} : { variables: stringValues(r.variables) }),
        };
        await batcher.add(i + 1, checkRecipient(input, rules));
      }
      await batcher.flush();
      await storeCounts(c, batcher.counts);
    });
  };

  /** draft → scheduled, or pending_approval above the tenant's threshold. */
  const submit = async (tenantId: string, id: string) => {
    const c = await owned(tenantId, id);
    if (!canApply('submit', c.state)) throw wrongState(c, 'submit');
    if (c.recipientCount === 0) {
      throw new PigeonError('PIGEON_ERR_VALIDATION', `Campaign ${id} has no valid recipients to send to`, {
        errors: [{ field: '/recipients', message: 'none valid' }],
      });
    }
    const decision = approvalDecision(await store.getCampaignApproval(tenantId), {
      recipients: c.recipientCount,
      estimatedCost: c.estimatedCost ?? 0,
    });
    const action: CampaignAction = decision.required ? 'submitForApproval' : 'submit';
    const updated = await transition(c, action);
    return decision.required ? { ...view(updated), approvalReason: decision.reason } : view(updated);
  };

  /** The compare-and-set of `action`; a lost race answers with the state that won. */
  const transition = async (
    c: CampaignRecord,
    action: CampaignAction,
    changes: CampaignChanges = {},
  ): Promise<CampaignRecord> => {
    const { from, to } = CAMPAIGN_ACTIONS[action];
    if (!canApply(action, c.state)) throw wrongState(c, action);
    if (!(await store.transitionCampaign(c.tenantId, c.id, from, to, now(), changes))) {
      throw wrongState((await store.getCampaign(c.tenantId, c.id)) ?? c, action);
    }
    return owned(c.tenantId, c.id);
  };

  const createRecord = async (
    tenantId: string,
    keyId: string,
    body: CreateCampaignBody,
    key: string | undefined,
  ) => {
    if (body.template === undefined && body.body === undefined) {
      throw new PigeonError('PIGEON_ERR_VALIDATION', 'Send a "body" or a "template"', {
        errors: [{ field: '/body', message: 'required without "template"' }],
      });
    }
    if (body.template !== undefined && body.body !== undefined) {
      throw new PigeonError('PIGEON_ERR_VALIDATION', 'Send a "body" or a "template", not both', {
        errors: [{ field: '/body', message: 'not with "template"' }],
      });
    }
    if (body.template === undefined && (body.variables !== undefined || body.locale !== undefined)) {
      throw new PigeonError('PIGEON_ERR_VALIDATION', '"variables" and "locale" go with "template"', {
        errors: [
          { field: body.variables !== undefined ? '/variables' : '/locale', message: 'only with "template"' },
        ],
      });
    }
    const template = await templateOf({ tenantId, templateId: body.template ?? null });
    let messageClass: MessageClass = body.class ?? template?.messageClass ?? 'marketing';
    if (template) {
      if (body.class !== undefined && body.class !== template.messageClass) {
        throw new PigeonError(
          'PIGEON_ERR_VALIDATION',
          `"class" is ${body.class}, but template ${template.id} is ${template.messageClass}`,
          { errors: [{ field: '/class', message: `the template's class is ${template.messageClass}` }] },
        );
      }
      messageClass = template.messageClass;
      const extra = Object.keys(body.variables ?? {}).filter((name) => !template.variables.includes(name));
      if (extra.length > 0) {
        throw new PigeonError(
          'PIGEON_ERR_TEMPLATE_VARIABLES',
          `Template variables not in the template: ${extra.join(', ')}`,
          {
            errors: extra.map((name) => ({ field: `/variables/${name}`, message: 'not in the template' })),
          },
        );
      }
    } else if (messageClass === 'marketing' && !hasOptOut(body.body ?? '', optOutPhrases)) {
      throw new PigeonError(
        'PIGEON_ERR_TEMPLATE_OPT_OUT_MISSING',
        `A marketing body needs an opt-out instruction (one of ${optOutPhrases.join(', ')})`,
        { errors: [{ field: '/body', message: 'no opt-out instruction' }] },
      );
    }
    if (body.recurrence && body.sendAt === undefined) {
      throw new PigeonError('PIGEON_ERR_VALIDATION', '"recurrence" needs "sendAt" (and "timeZone")', {
        errors: [{ field: '/sendAt', message: 'required with recurrence' }],
      });
    }
    if (body.recurrence && body.timeZone === undefined) {
      throw new PigeonError('PIGEON_ERR_VALIDATION', '"recurrence" keeps a local time: it needs "timeZone"', {
        errors: [{ field: '/timeZone', message: 'required with recurrence' }],
      });
    }
    const sendAt = body.sendAt === undefined ? null : sendInstant(body.sendAt, body.timeZone);
    const at = now();
    const record: CampaignRecord = {
      tenantId,
      id: newId(at),
      name: body.name,
      state: 'draft',
      templateId: body.template ?? null,
      body: body.body ?? null,
      messageClass,
      locale: body.locale ?? null,
      variables: stringValues(body.variables),
      from: body.from === undefined ? null : requireSenderId(body.from, 'from').value,
      sendAt,
      firstSendAt: sendAt,
      timeZone: body.timeZone ?? null,
      recurrence: body.recurrence ?? null,
      rateCap: body.rateCap ?? null,
      recipientCount: 0,
      invalidCount: 0,
      estimatedCost: null,
      nextRow: 0,
      run: 0,
      idempotencyKey: key ?? null,
      requestHash: key === undefined ? null : requestHash(body),
      createdBy: keyId,
      approvedBy: null,
      leaseOwner: null,
      leaseUntil: null,
      createdAt: at,
      updatedAt: at,
      startedAt: null,
      finishedAt: null,
    };
    return record;
  };

  app.post(
    '/v1/campaigns',
    {
      onRequest: app.requireScope('campaigns:write'),
      // 100,000 inline recipients with their variables; a larger list goes as a CSV upload.
      bodyLimit: 64 * 1024 * 1024,
      schema: {
        summary: 'Create a campaign (a draft, or submitted at once with "submit": true)',
        tags: ['campaigns'],
        headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String()) }),
        body: CreateCampaignBody,
        response: { 201: CampaignView, 200: CampaignView, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { tenantId, keyId } = request.principal;
      const key = request.headers['idempotency-key'];
      if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
        throw new PigeonError(
          'PIGEON_ERR_VALIDATION',
          'Idempotency-Key: 1–128 characters of [A-Za-z0-9_.:-]',
        );
      }
      const replay = async (existing: CampaignRecord) => {
        if (existing.requestHash !== requestHash(request.body))
          throw new PigeonError('PIGEON_ERR_IDEMPOTENCY_CONFLICT');
        // A first attempt that died between creating the draft and storing its list or submitting
        // it is finished here: the rows are numbered as before, so storing them again is the same.
        let current = existing;
        if (
          current.state === 'draft' &&
          request.body.recipients &&
          current.recipientCount + current.invalidCount === 0
        ) {
          await storeInline(current, request.body.recipients);
          current = await owned(tenantId, current.id);
        }
        const shown =
          request.body.submit && current.state === 'draft'
            ? await submit(tenantId, current.id)
            : view(current);
        reply.header('idempotent-replayed', 'true');
        return reply.code(200).send(shown);
      };
      if (key !== undefined) {
        const existing = await store.findCampaignByIdempotencyKey(tenantId, key);
        if (existing) return replay(existing);
      }
      const record = await createRecord(tenantId, keyId, request.body, key);
      if (!(await store.createCampaign(record))) {
        // Another request with the key won the insert.
        const existing =
          key === undefined ? undefined : await store.findCampaignByIdempotencyKey(tenantId, key);
        if (!existing)
          throw new PigeonError('PIGEON_ERR_CONFLICT', 'The campaign could not be created; retry');
        return replay(existing);
      }
      await storeInline(record, request.body.recipients);
      const shown = request.body.submit
        ? await submit(tenantId, record.id)
        : view(await owned(tenantId, record.id));
      return reply.code(201).header('location', `/v1/campaigns/${record.id}`).send(shown);
    },
  );

  app.put(
    '/v1/campaigns/:id/recipients',
    {
      onRequest: app.requireScope('campaigns:write'),
      schema: {
        summary: 'Upload the recipients of a draft as CSV (streamed; replaces any earlier list)',
        description:
          'Header row: `to` (or `phone`), optional `clientRef`, and one column per template variable. ' +
          'Up to 1,000,000 rows; rows that fail are listed by GET /v1/campaigns/{id}/errors and the rest proceed.',
        tags: ['campaigns'],
        params: CampaignParams,
        consumes: ['text/csv'],
        response: { 200: UploadResult, ...errorResponses },
      },
    },
    async (request) => {
      const { tenantId } = request.principal;
      const c = await owned(tenantId, request.params.id);
      if (c.state !== 'draft') throw wrongState(c, 'take recipients');
      const source = request.body;
      if (!(source instanceof Readable)) {
        throw new PigeonError(
          'PIGEON_ERR_UNSUPPORTED_MEDIA_TYPE',
          'Upload the recipients as Content-Type: text/csv',
        );
      }
      return withUploadLease(c, async () => {
        const rules = await rulesFor(c, await templateOf(c));
        await store.clearRecipients(c.id);
        let counts: IntakeCounts;
        try {
          counts = await ingestCsv(
            source,
            rules,
            {
              recipients: (rows) => store.appendRecipients(c.id, rows),
              errors: (rows) => store.appendRowErrors(c.id, rows),
            },
            limits,
          );
        } catch (err) {
          // A refused file leaves no half list behind.
          source.resume();
          await store.clearRecipients(c.id);
          await store.setCampaignCounts(
            tenantId,
            c.id,
            { recipientCount: 0, invalidCount: 0, estimatedCost: null },
            now(),
          );
          throw err;
        }
        await storeCounts(c, counts);
        return {
          recipients: counts.recipients,
          invalid: counts.invalid,
          estimatedCost: counts.costMicros / MICROS,
        };
      });
    },
  );

  app.post(
    '/v1/campaigns/:id/submit',
    {
      onRequest: app.requireScope('campaigns:write'),
      schema: {
        summary: "Submit a draft: scheduled, or pending approval above the tenant's threshold",
        tags: ['campaigns'],
        params: CampaignParams,
        response: { 200: CampaignView, ...errorResponses },
      },
    },
    async (request) => submit(request.principal.tenantId, request.params.id),
  );

  const decide = (path: string, action: 'approve' | 'reject', summary: string) =>
    app.post(
      `/v1/campaigns/:id/${path}`,
      {
        onRequest: app.requireScope('campaigns:approve'),
        schema: {
          summary,
          tags: ['campaigns'],
          params: CampaignParams,
          response: { 200: CampaignView, ...errorResponses },
        },
      },
      async (request) => {
        const c = await owned(request.principal.tenantId, request.params.id);
        const at = now();
        return view(
          await transition(c, action, {
            approvedBy: request.principal.keyId,
            ...(action === 'reject' ? { finishedAt: at } : {}),
          }),
        );
      },
    );
  decide('approve', 'approve', 'Approve a campaign pending approval (scope campaigns:approve)');
  decide('reject', 'reject', 'Reject a campaign pending approval (scope campaigns:approve)');

  const control = (
    path: 'pause' | 'resume' | 'cancel',
    summary: string,
    act: (c: CampaignRecord) => Promise<CampaignRecord>,
  ) =>
    app.post(
      `/v1/campaigns/:id/${path}`,
      {
        onRequest: app.requireScope('campaigns:write'),
        schema: {
          summary,
          tags: ['campaigns'],
          params: CampaignParams,
          response: { 200: CampaignView, ...errorResponses },
        },
      },
      async (request) => {
        const updated = await act(await owned(request.principal.tenantId, request.params.id));
        await deps.controlled?.(updated, path);
        return view(updated);
      },
    );
  control('pause', 'Pause a scheduled or running campaign', (c) => transition(c, 'pause'));
  control('resume', 'Resume a paused campaign', (c) =>
    transition(c, c.startedAt === null ? 'resumeScheduled' : 'resumeRunning'),
  );
  control('cancel', 'Cancel a campaign: what no provider has yet is not sent', (c) =>
    transition(c, 'cancel', { finishedAt: now() }),
  );

  app.get(
    '/v1/campaigns/:id',
    {
      onRequest: app.requireScope('campaigns:read'),
      schema: {
        summary: 'A campaign with its progress: counts by status, rate and ETA',
        tags: ['campaigns'],
        params: CampaignParams,
        response: { 200: CampaignView, ...errorResponses },
      },
    },
    async (request) => {
      const c = await owned(request.principal.tenantId, request.params.id);
      const progress = campaignProgress(await statusCounts.get(c.tenantId, c.id), c, now());
      return { ...view(c), progress: { ...progress, eta: iso(progress.eta) } };
    },
  );

  app.get(
    '/v1/campaigns',
    {
      onRequest: app.requireScope('campaigns:read'),
      schema: {
        summary: "The tenant's campaigns, newest first",
        tags: ['campaigns'],
        querystring: Type.Object(
          {
            limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,3}$', description: '1–100, default 20' })),
            cursor: Type.Optional(Type.String({ maxLength: 64 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            campaigns: Type.Array(CampaignView),
            nextCursor: Type.Union([Type.String(), Type.Null()]),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const limit = Number(request.query.limit ?? 20);
      if (!(limit >= 1 && limit <= 100)) {
        throw new PigeonError('PIGEON_ERR_VALIDATION', '"limit" must be an integer from 1 to 100', {
          errors: [{ field: '/limit', message: 'not from 1 to 100' }],
        });
      }
      const before = request.query.cursor === undefined ? undefined : decodeListCursor(request.query.cursor);
      const page = await store.listCampaigns(request.principal.tenantId, {
        limit: limit + 1,
        ...(before === undefined ? {} : { before }),
      });
      const shown = page.slice(0, limit);
      return {
        campaigns: shown.map(view),
        nextCursor: page.length > limit ? Buffer.from(shown.at(-1)!.id).toString('base64url') : null,
      };
    },
  );

  app.get(
    '/v1/campaigns/:id/errors',
    {
      onRequest: app.requireScope('campaigns:read'),
      schema: {
        summary: 'The rows refused at intake, as CSV: row, code, reason',
        tags: ['campaigns'],
        params: CampaignParams,
        produces: ['text/csv'],
        response: errorResponses,
      },
    },
    async (request, reply) => {
      const c = await owned(request.principal.tenantId, request.params.id);
      async function* rows() {
        let after = 0;
        for (;;) {
          const page = await store.listRowErrors(c.id, { limit: EXPORT_PAGE, after });
          for (const e of page) yield [e.row, e.code, e.reason];
          if (page.length < EXPORT_PAGE) return;
          after = page.at(-1)!.row;
        }
      }
      return sendCsv(reply, `campaign-${c.id}-errors.csv`, ['row', 'code', 'reason'], rows());
    },
  );

  app.get(
    '/v1/campaigns/:id/results',
    {
      onRequest: app.requireScope('campaigns:read'),
      schema: {
        summary: "Each recipient's message and its status, as CSV (numbers masked without pii:read)",
        tags: ['campaigns'],
        params: CampaignParams,
        produces: ['text/csv'],
        response: errorResponses,
      },
    },
    async (request, reply) => {
      const c = await owned(request.principal.tenantId, request.params.id);
      const showPii = seesPii(request.principal);
      async function* rows() {
        let after: string | undefined;
        for (;;) {
          const page = await store.listCampaignMessages(c.tenantId, c.id, {
            limit: EXPORT_PAGE,
            ...(after === undefined ? {} : { after }),
          });
          for (const m of page) {
            yield [
              m.id,
              showPii ? m.to : maskPhone(m.to),
              m.clientRef,
              m.status,
              m.errorCode,
              m.provider,
              m.segments,
              m.cost,
              iso(m.queuedAt),
              iso(m.submittedAt),
              iso(m.finalAt),
            ];
          }
          if (page.length < EXPORT_PAGE) return;
          after = page.at(-1)!.id;
        }
      }
      return sendCsv(
        reply,
        `campaign-${c.id}-results.csv`,
        [
          'id',
          'to',
          'clientRef',
          'status',
          'errorCode',
          'provider',
          'segments',
          'cost',
          'queuedAt',
          'submittedAt',
          'finalAt',
        ],
        rows(),
      );
    },
  );

  const Thresholds = Type.Object(
    {
      maxRecipients: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
        description: 'More valid recipients than this wait for approval; null: no limit',
      }),
      maxCost: Type.Union([Type.Number({ minimum: 0 }), Type.Null()], {
        description: 'An estimated cost above this waits for approval; null: no limit',
      }),
    },
    { additionalProperties: false },
  );
  const TenantParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

  app.get(
    '/v1/admin/tenants/:id/campaign-approval',
    {
      onRequest: app.requireScope('admin'),
      schema: {
        summary: "A tenant's campaign approval thresholds (none: no approval needed)",
        tags: ['admin'],
        params: TenantParams,
        response: { 200: Thresholds, ...errorResponses },
      },
    },
    async (request) => {
      const settings = await store.getCampaignApproval(request.params.id);
      return { maxRecipients: settings?.maxRecipients ?? null, maxCost: settings?.maxCost ?? null };
    },
  );

  app.put(
    '/v1/admin/tenants/:id/campaign-approval',
    {
      onRequest: app.requireScope('admin'),
      schema: {
        summary: "Set a tenant's campaign approval thresholds",
        tags: ['admin'],
        params: TenantParams,
        body: Thresholds,
        response: { 200: Thresholds, ...errorResponses },
      },
    },
    async (request) => {
      await store.putCampaignApproval(request.params.id, { ...request.body, updatedAt: now() });
      return request.body;
    },
  );
}

/** Streams rows as CSV (csv-stringify) as they are read, page by page: an export is never held whole. */
function sendCsv(
  reply: FastifyReply,
  filename: string,
  header: string[],
  rows: AsyncIterable<ReadonlyArray<string | number | null>>,
): FastifyReply {
  const csv = stringify({ header: true, columns: header, record_delimiter: 'windows' });
  const source = Readable.from(rows);
  source.on('error', (err) => csv.destroy(err));
  source.pipe(csv);
  return reply
    .type('text/csv; charset=utf-8')
    .header('content-disposition', `attachment; filename="${filename}"`)
    .send(csv);
}
