import { createHash } from 'node:crypto';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Counter, type Registry } from 'prom-client';
import { type Static, Type } from 'typebox';
import type { Cache } from '../../../core/cache/cache.ts';
import { isPigeonError, PigeonError } from '../../../core/errors.ts';
import { newId } from '../../../core/ids.ts';
import { MARKER_TTL_MS, Markers } from '../../../core/markers.ts';
import type { MessageRequested } from '../../../core/message.ts';
import { maskPhone } from '../../../core/phone.ts';
import type { AttemptRecord, MessageEventRecord, MessageRecord } from '../../../core/store/kinds/messages.ts';
import type { Store } from '../../../core/store/store.ts';
import { buildMessage, type BuiltMessage } from '../../../core/message-request.ts';
import type { EncodingReport } from '../../../core/encoding.ts';
import type { TemplateRecord, TemplateStore } from '../../../core/store/kinds/templates.ts';
import { messageText } from '../../../core/template.ts';
import { requireRegistered } from '../../../core/sender-choice.ts';
import { requireSenderId } from '../../../core/sender-id.ts';
import { type MessagePublisher, PublishOutcomeUnknown, PublishPartlyRefused } from '../publisher.ts';
import { SenderDirectory } from '../senders.ts';
import type { TenantSigningSecrets } from '../webhooks.ts';
import {
  AcceptedMessage,
  BatchBody,
  BatchResult,
  MessageView,
  Problem,
  SendMessageBody,
} from '../schemas.ts';
import { seesPii } from '../api-keys.ts';
import type { Admission, SendPolicy } from '../send-policy/engine.ts';
import { applySender, sendCandidate } from '../outgoing.ts';

export interface MessageRoutesDeps {
  publisher: MessagePublisher;
  store: Store;
  cache: Cache;
  registry: Registry;
  publishTimeoutMs: number;
  /** Whether a tenant has a signing secret, checked for messages that name a `statusCallback`. */
  signingSecrets: TenantSigningSecrets;
  /** PIGEON_CALLBACK_ALLOW_PRIVATE_NETWORKS. */
  allowPrivateCallbackNetworks: boolean;
  /** The limits every message passes before it is published. */
  policy: SendPolicy;
  /** Each tenant's registered senders: who may send from what, and the default per country. Default: the store's shared one. */
  senders?: SenderDirectory;
  /**
   * Whether the tenant lets look-alike characters be replaced by GSM-7 ones (a request's
   * `smartEncoding` overrides it). Called on the accept path: answer from memory. Default: never.
   */
  smartEncoding?: (tenantId: string) => Promise<boolean> | boolean;
  /** Where a message's named template is read. Default: the store. */
  templates?: TemplateStore;
}

/** The tenant's template a request names, or undefined when it names none (or one the tenant lacks). */
async function namedTemplate(
  templates: TemplateStore,
  tenantId: string,
  id: string | undefined,
): Promise<TemplateRecord | undefined> {
  return id === undefined ? undefined : templates.getTemplate(tenantId, id);
}

const IDEMPOTENCY_KEY = /^[\w.:-]{1,128}$/;
const errorResponses = {
  400: Problem,
  401: Problem,
  403: Problem,
  409: Problem,
  413: Problem,
  422: Problem,
  429: Problem,
  503: Problem,
};

/** `POST /v1/messages`, `POST /v1/messages/batch`, `GET /v1/messages/:id`. */
export async function messageRoutes(fastify: FastifyInstance, deps: MessageRoutesDeps) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const accepted = new Counter({
    name: 'pigeon_api_messages_accepted_total',
    help: 'Messages accepted (published to the bus)',
    labelNames: ['class', 'lane'],
    registers: [deps.registry],
  });
  const duplicates = new Counter({
    name: 'pigeon_api_messages_deduplicated_total',
    help: "Sends answered with an earlier identical message's id (the tenant's dedup window), by class",
    labelNames: ['class'],
    registers: [deps.registry],
  });
  const rejected = new Counter({
    name: 'pigeon_api_batch_items_rejected_total',
    help: 'Recipients of a batch refused, by error code (whole requests refused: pigeon_api_problems_total)',
    labelNames: ['code'],
    registers: [deps.registry],
  });

  const directory = deps.senders ?? SenderDirectory.for(deps.store);
  const templates = deps.templates ?? deps.store;
  const tenantSmartEncoding = deps.smartEncoding ?? (() => false);
  /** The request's override, else the tenant's setting; no call when the request decides. */
  const smartEncodingFor = (tenantId: string, override: boolean | undefined): Promise<boolean> | boolean =>
    override ?? tenantSmartEncoding(tenantId);
  // One counter child per class and lane, found without prom-client hashing the labels per request.
  const acceptedBy = new Map<string, Counter.Internal>();
  const countAccepted = (event: MessageRequested) => {
    const key = `${event.class}\0${event.lane}`;
    let child = acceptedBy.get(key);
    if (child === undefined) {
      child = accepted.labels({ class: event.class, lane: event.lane });
      acceptedBy.set(key, child);
    }
    child.inc();
  };

  const requireSigningSecret = async (tenantId: string) => {
    if (!(await deps.signingSecrets.has(tenantId))) throw missingSecret();
  };

  app.post(
    '/v1/messages',
    {
      onRequest: app.requireScope('messages:write'),
      bodyLimit: 16 * 1024,
      schema: {
        summary: 'Send one SMS',
        tags: ['messages'],
        headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String()) }),
        body: SendMessageBody,
        response: { 202: AcceptedMessage, 200: AcceptedMessage, ...errorResponses, 504: Problem },
      },
    },
    async (request, reply) => {
      const { principal } = request;
      const now = Date.now();
      const { template: templateId, variables, locale, smartEncoding, ...rest } = request.body;
      const text = messageText(
        { body: rest.body, template: templateId, variables, locale, class: rest.class },
        templateId === undefined ? undefined : await namedTemplate(templates, principal.tenantId, templateId),
      );
      const built = buildMessage(
        {
          ...rest,
          body: text.body,
          ...(text.messageClass === undefined ? {} : { class: text.messageClass }),
        },
        {
          tenantId: principal.tenantId,
          messageId: newId(now),
          now,
          publishTimeoutMs: deps.publishTimeoutMs,
          allowPrivateCallbackNetworks: deps.allowPrivateCallbackNetworks,
          smartEncoding: await smartEncodingFor(principal.tenantId, smartEncoding),
        },
      );
      const { event } = built;
      applySender(event, await directory.senders(principal.tenantId));
      if (event.statusCallback !== undefined) await requireSigningSecret(principal.tenantId);
      const idempotencyKey = request.headers['idempotency-key'];
      let idemCacheKey: string | undefined;
      let requestFingerprint: string | undefined;
      if (idempotencyKey !== undefined) {
        if (!IDEMPOTENCY_KEY.test(idempotencyKey)) {
          throw new PigeonError(
            'PIGEON_ERR_VALIDATION',
            'Idempotency-Key: 1–128 characters of [A-Za-z0-9_.:-]',
          );
        }
        idemCacheKey = Markers.idempotency(principal.tenantId, idempotencyKey);
        const fingerprint = createHash('sha256').update(JSON.stringify(request.body)).digest('base64url');
        requestFingerprint = fingerprint;
        const claimed = await deps.cache.set(
          idemCacheKey,
          JSON.stringify({ id: event.messageId, fingerprint }),
          {
            nx: true,
            ttlMs: MARKER_TTL_MS,
          },
        );
        if (!claimed) {
          const previous = JSON.parse((await deps.cache.get(idemCacheKey)) ?? 'null') as {
            id: string;
            fingerprint: string;
          } | null;
          if (previous && previous.fingerprint !== fingerprint) {
            throw new PigeonError('PIGEON_ERR_IDEMPOTENCY_CONFLICT');
          }
          if (previous) {
            reply.header('idempotent-replayed', 'true');
            return reply.code(202).send(view(previous.id, built));
          }
        }
      }
      let admission: Admission | undefined;
      try {
        // After the idempotency check: a replay was admitted the first time and counts once.
        admission = await deps.policy.admit(principal.tenantId, sendCandidate(event));
        if (admission.duplicateOf === undefined) {
          await deps.publisher.publish([event], { spentMs: Date.now() - now });
        }
      } catch (err) {
        // The message may be sent: the key keeps naming it, so a retry with the key cannot send a
        // second copy, and what it counted towards the caps stays counted. (The cache was
        // unreachable throughout, or the outcome would be known: freeing either would fail anyway.)
        if (err instanceof PublishOutcomeUnknown) throw err;
        if (idemCacheKey) await deps.cache.del(idemCacheKey).catch(() => undefined);
        await admission?.release();
        throw err;
      }
      const { duplicateOf } = admission;
      if (duplicateOf !== undefined) {
        duplicates.inc({ class: event.class });
        // A replay of this key must name the message that was sent, not the one that was not.
        if (idemCacheKey) {
          await deps.cache
            .set(idemCacheKey, JSON.stringify({ id: duplicateOf, fingerprint: requestFingerprint }), {
              ttlMs: MARKER_TTL_MS,
            })
            .catch(() => undefined);
        }
        return reply.code(202).send({ ...view(duplicateOf, built), duplicate: true });
      }
      countAccepted(event);
      return reply.code(202).send(view(event.messageId, built));
    },
  );

  app.post(
    '/v1/messages/batch',
    {
      onRequest: app.requireScope('messages:write'),
      bodyLimit: 1024 * 1024,
      schema: {
        summary: 'Send up to 1,000 messages, each its own message on the bulk lane',
        tags: ['messages'],
        headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String()) }),
        body: BatchBody,
        response: { 202: BatchResult, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { principal } = request;
      const idempotencyKey = request.headers['idempotency-key'];
      if (idempotencyKey === undefined) return reply.code(202).send(await sendBatch());
      if (!IDEMPOTENCY_KEY.test(idempotencyKey)) {
        throw new PigeonError(
          'PIGEON_ERR_VALIDATION',
          'Idempotency-Key: 1–128 characters of [A-Za-z0-9_.:-]',
        );
      }
      // The key is claimed before anything is sent and holds the answer once there is one, so a
      // retry (or a second api process) gets the first answer and sends nothing again. A key
      // used by a single message has another fingerprint: reusing it for a batch is a conflict.
      const marker = Markers.idempotency(principal.tenantId, idempotencyKey);
      const fingerprint = createHash('sha256')
        .update(`batch:${JSON.stringify(request.body)}`)
        .digest('base64url');
      const claimed = await deps.cache.set(marker, JSON.stringify({ fingerprint }), {
        nx: true,
        ttlMs: MARKER_TTL_MS,
      });
      if (!claimed) {
        const previous = JSON.parse((await deps.cache.get(marker)) ?? 'null') as {
          fingerprint: string;
          batch?: unknown;
        } | null;
        if (previous && previous.fingerprint !== fingerprint) {
          throw new PigeonError('PIGEON_ERR_IDEMPOTENCY_CONFLICT');
        }
        if (previous?.batch !== undefined) {
          reply.header('idempotent-replayed', 'true');
          return reply.code(202).send(previous.batch as Static<typeof BatchResult>);
        }
        throw new PigeonError(
          'PIGEON_ERR_IDEMPOTENCY_IN_PROGRESS',
          'A batch with this Idempotency-Key is still being sent; retry in a moment',
          { retryAfterSeconds: 1 },
        );
      }
      let answer: Static<typeof BatchResult>;
      try {
        answer = await sendBatch();
      } catch (err) {
        // Nothing was sent: the key is free for the retry.
        await deps.cache.del(marker).catch(() => undefined);
        throw err;
      }
      await deps.cache
        .set(marker, JSON.stringify({ fingerprint, batch: answer }), { ttlMs: MARKER_TTL_MS })
        .catch(() => undefined);
      return reply.code(202).send(answer);

      async function sendBatch(): Promise<Static<typeof BatchResult>> {
        const now = Date.now();
        const batchId = newId(now);
        const events: MessageRequested[] = [];
        const senders = await directory.senders(principal.tenantId);
        // The batch's sender is every recipient's: a bad one refuses the request, not each item.
        if (request.body.from !== undefined) {
          requireRegistered(senders, requireSenderId(request.body.from, 'from').value);
        }
        if (
          (request.body.statusCallback !== undefined ||
            request.body.messages.some((item) => item.statusCallback !== undefined)) &&
          // Refused as a whole: every recipient's callbacks would go unsigned alike.
          !(await deps.signingSecrets.has(principal.tenantId))
        ) {
          throw missingSecret();
        }
        const template = await namedTemplate(templates, principal.tenantId, request.body.template);
        if (request.body.template !== undefined && (!template || request.body.body !== undefined)) {
          // Throws: an unknown template, or a template beside a body, refuses every recipient alike.
          messageText({ template: request.body.template, body: request.body.body }, template);
        }
        const smartEncoding = await smartEncodingFor(principal.tenantId, request.body.smartEncoding);
        const encodings = new Map<string, EncodingReport>();
        const built = request.body.messages.map((item) => {
          const statusCallback = item.statusCallback ?? request.body.statusCallback;
          try {
            const text = messageText(
              {
                body: item.body ?? (template ? undefined : (request.body.body ?? '')),
                template: request.body.template,
                variables:
                  item.variables === undefined && request.body.variables === undefined
                    ? undefined
                    : { ...request.body.variables, ...item.variables },
                locale: request.body.locale,
                class: request.body.class,
              },
              template,
            );
            const messageClass = text.messageClass ?? request.body.class;
            const { event, encoding } = buildMessage(
              {
                to: item.to,
                body: text.body,
                ...(request.body.from === undefined ? {} : { from: request.body.from }),
                ...(messageClass ? { class: messageClass } : {}),
                ...(request.body.ttlSeconds ? { ttlSeconds: request.body.ttlSeconds } : {}),
                ...(statusCallback === undefined ? {} : { statusCallback }),
                ...(item.clientRef === undefined ? {} : { clientRef: item.clientRef }),
                ...(item.metadata === undefined ? {} : { metadata: item.metadata }),
              },
              {
                tenantId: principal.tenantId,
                messageId: newId(now),
                now,
                publishTimeoutMs: deps.publishTimeoutMs,
                fromBatch: true,
                batchId,
                allowPrivateCallbackNetworks: deps.allowPrivateCallbackNetworks,
                smartEncoding,
              },
            );
            applySender(event, senders);
            encodings.set(event.messageId, encoding);
            return event;
          } catch (err) {
            if (!isPigeonError(err)) throw err;
            return err;
          }
        });
        // Each recipient passes the policy on its own, so a capped or refused number is reported in
        // its item and the rest go; the script runs concurrently for all of them, each atomic.
        const admissions = new Map<MessageRequested, Admission>();
        const duplicateOf = new Map<MessageRequested, string>();
        const admitted = await Promise.all(
          built.map(async (event) => {
            if (isPigeonError(event)) return event;
            try {
              const admission = await deps.policy.admit(principal.tenantId, sendCandidate(event));
              if (admission.duplicateOf !== undefined) duplicateOf.set(event, admission.duplicateOf);
              else admissions.set(event, admission);
              return event;
            } catch (err) {
              // Without the cache nothing can be admitted: the request fails as a whole (503).
              if (!isPigeonError(err) || err.code === 'PIGEON_ERR_CACHE_UNAVAILABLE') throw err;
              return err;
            }
          }),
        );
        const results: Static<typeof BatchResult>['results'] = admitted.map((outcome, index) => {
          if (isPigeonError(outcome)) {
            rejected.inc({ code: outcome.code });
            return { index, status: 'rejected' as const, code: outcome.code, detail: outcome.message };
          }
          const first = duplicateOf.get(outcome);
          if (first !== undefined) {
            duplicates.inc({ class: outcome.class });
            return {
              index,
              id: first,
              status: 'queued' as const,
              ...encodingFields(encodings.get(outcome.messageId)!),
              duplicate: true,
            };
          }
          events.push(outcome);
          return {
            index,
            id: outcome.messageId,
            status: 'queued' as const,
            ...encodingFields(encodings.get(outcome.messageId)!),
          };
        });
        let sent = events;
        try {
          if (events.length > 0) await deps.publisher.publish(events, { spentMs: Date.now() - now });
        } catch (err) {
          // Not acknowledged in time, but a bridge already took some: those are on their way and
          // reported queued; those whose outcome is unknown are reported so, each with its id;
          // only the others are refused, each in its item.
          const inFlight =
            err instanceof PublishPartlyRefused || err instanceof PublishOutcomeUnknown
              ? err.inFlight
              : new Set<string>();
          const unknown = err instanceof PublishOutcomeUnknown ? err.unknown : new Set<string>();
          await Promise.all(
            events
              .filter((e) => !inFlight.has(e.messageId) && !unknown.has(e.messageId))
              .map(async (e) => admissions.get(e)?.release()),
          );
          if (inFlight.size === 0 && unknown.size === 0) throw err;
          sent = events.filter((e) => inFlight.has(e.messageId));
          const refused = err instanceof PublishOutcomeUnknown ? err.refused : (err as PigeonError);
          results.forEach((item, i) => {
            if (item.status !== 'queued' || item.duplicate || item.id === undefined) return;
            if (inFlight.has(item.id)) return;
            if (unknown.has(item.id)) {
              results[i] = {
                index: item.index,
                id: item.id,
                status: 'unknown',
                code: 'PIGEON_ERR_OUTCOME_UNKNOWN',
                detail:
                  'Not confirmed either way: look it up with GET /v1/messages/{id} before sending again',
              };
              return;
            }
            results[i] = {
              index: item.index,
              status: 'rejected',
              code: refused.code,
              detail: refused.message,
            };
            rejected.inc({ code: refused.code });
          });
        }
        for (const e of sent) countAccepted(e);
        return {
          batchId,
          accepted: sent.length + duplicateOf.size,
          rejected: results.filter((item) => item.status === 'rejected').length,
          results,
        };
      }
    },
  );

  app.get(
    '/v1/messages/:id',
    {
      onRequest: app.requireScope('messages:read'),
      schema: {
        summary: 'A message with its status history',
        tags: ['messages'],
        params: Type.Object({ id: Type.String({ pattern: '^[0-9A-HJKMNP-TV-Z]{26}$' }) }),
        response: { 200: MessageView, 404: Problem, 401: Problem, 403: Problem, 400: Problem, 503: Problem },
      },
    },
    async (request) => {
      const { principal } = request;
      const message = await deps.store.getMessage(principal.tenantId, request.params.id);
      if (!message) {
        throw new PigeonError(
          'PIGEON_ERR_NOT_FOUND',
          'No such message for this API key (accepted messages appear within a second)',
        );
      }
      const [events, attempts] = await Promise.all([
        deps.store.listEvents(principal.tenantId, message.id),
        deps.store.listAttempts(principal.tenantId, message.id),
      ]);
      const showPii = seesPii(principal);
      return messageView(message, events, attempts, showPii);
    },
  );
}

function missingSecret(): PigeonError {
  return new PigeonError(
    'PIGEON_ERR_CALLBACK_SECRET_MISSING',
    'statusCallback needs the tenant signing secret: call PUT /v1/webhook once, then send again',
    { errors: [{ field: '/statusCallback', message: 'no signing secret for this tenant' }] },
  );
}

function encodingFields(encoding: EncodingReport) {
  return {
    encoding: encoding.encoding,
    segments: encoding.segments,
    replaced: encoding.replaced,
    forcedUcs2: encoding.forcedUcs2,
  };
}

function view(id: string, built: BuiltMessage) {
  return { id, status: 'queued' as const, ...encodingFields(built.encoding) };
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The fields of a message's row, as both the single view and listings show them. */
export function messageFields(message: MessageRecord, showPii: boolean) {
  return {
    id: message.id,
    to: showPii ? message.recipient : maskPhone(message.recipient),
    from: message.sender,
    class: message.messageClass,
    lane: message.lane,
    status: message.status,
    segments: message.segments,
    encoding: message.encoding,
    country: message.country,
    provider: message.provider,
    providerMessageId: message.providerMessageId,
    cost: message.cost,
    errorCode: message.errorCode,
    clientRef: message.clientRef,
    metadata: message.metadata,
    queuedAt: iso(message.queuedAt),
    submittedAt: iso(message.submittedAt),
    finalAt: iso(message.finalAt),
  };
}

/** When a queued message held for quiet hours is released: its latest hold's, else null. */
function heldUntil(message: MessageRecord, events: MessageEventRecord[]): string | null {
  if (message.status !== 'queued') return null;
  let latest: MessageEventRecord | undefined;
  for (const e of events) {
    if (e.type === 'message.held' && (!latest || e.occurredAt >= latest.occurredAt)) latest = e;
  }
  if (!latest?.detail) return null;
  const { notBefore } = JSON.parse(latest.detail) as { notBefore?: string };
  return notBefore ?? null;
}

export function messageView(
  message: MessageRecord,
  events: MessageEventRecord[],
  attempts: AttemptRecord[],
  showPii: boolean,
) {
  return {
    ...messageFields(message, showPii),
    notBefore: heldUntil(message, events),
    history: events.map((e) => ({
      status: e.status,
      type: e.type,
      at: new Date(e.occurredAt).toISOString(),
      provider: e.provider,
      providerMessageId: e.providerMessageId,
      detail: e.detail ? (JSON.parse(e.detail) as Record<string, unknown>) : null,
    })),
    attempts: attempts
      .toSorted((a, b) => a.attempt - b.attempt)
      .map((a) => ({
        attempt: a.attempt,
        provider: a.provider,
        providerMessageId: a.providerMessageId,
        outcome: a.outcome,
        errorClass: a.errorClass,
        errorCode: a.errorCode,
        failover: a.failover,
        segments: a.segments,
        cost: a.cost,
        requestedAt: iso(a.requestedAt),
        respondedAt: iso(a.respondedAt),
      })),
  };
}
