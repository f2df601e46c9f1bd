import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { type Static, Type } from 'typebox';
import { encodeText } from '../../../core/encoding.ts';
import { PigeonError } from '../../../core/errors.ts';
import { newId } from '../../../core/ids.ts';
import { MESSAGE_CLASSES } from '../../../core/message.ts';
import type { TemplateRecord } from '../../../core/store/kinds/templates.ts';
import type { Store } from '../../../core/store/store.ts';
import { checkTemplate, DEFAULT_OPT_OUT_PHRASES, renderTemplate } from '../../../core/template.ts';
import type { ProviderInfo } from '../../../routing/table.ts';
import { EncodingFields, Locale, Problem, TemplateVariables } from '../schemas.ts';
import { MICROS, pricePerPart } from '../send-policy/pricing.ts';

export interface TemplateRoutesDeps {
  store: Store;
  /** The route table's providers, whose per-country prices the preview's costs use (as the send policy's). */
  providers: () => Iterable<ProviderInfo>;
  /** The price of a part where no provider lists one (PIGEON_SEND_PRICE_PER_PART). */
  fallbackPricePerPart: number;
  /** What counts as a marketing template's opt-out instruction. Default: DEFAULT_OPT_OUT_PHRASES. */
  optOutPhrases?: readonly string[];
  /** The tenant's smart-encoding setting, as the send paths read it; a preview's `smartEncoding` overrides it. */
  smartEncoding?: (tenantId: string) => Promise<boolean> | boolean;
  now?: () => number;
}

// A template is a few variants of at most ten parts each; 64 KiB leaves room for every language.
const TEMPLATE_BODY_LIMIT = 64 * 1024;
const MAX_VARIANTS = 32;

const errorResponses = {
  400: Problem,
  401: Problem,
  403: Problem,
  404: Problem,
  413: Problem,
  422: Problem,
  503: Problem,
};

const TemplateBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128, description: 'Your name for the template' }),
    class: Type.Enum(MESSAGE_CLASSES, {
      description: 'The class of every message sent by it; marketing needs an opt-out instruction',
    }),
    defaultLocale: Type.Optional(Locale),
    variants: Type.Array(
      Type.Object(
        {
          locale: Locale,
          body: Type.String({
            minLength: 1,
            maxLength: 1600,
            description: 'Text with {{name}} where a variable goes; every variant uses the same variables',
          }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: MAX_VARIANTS },
    ),
  },
  { additionalProperties: false },
);

const TemplateView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  class: Type.String(),
  defaultLocale: Type.String(),
  variables: Type.Array(Type.String()),
  variants: Type.Array(Type.Object({ locale: Type.String(), body: Type.String() })),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

const TemplateParams = Type.Object({ id: Type.String({ pattern: '^[0-9A-HJKMNP-TV-Z]{26}$' }) });

const PreviewBody = Type.Object(
  {
    variables: Type.Optional(TemplateVariables),
    locale: Type.Optional(Locale),
    smartEncoding: Type.Optional(Type.Boolean({ description: "Default: the tenant's setting" })),
    countries: Type.Optional(
      Type.Array(Type.String({ pattern: '^[A-Z]{2}$' }), {
        maxItems: 250,
        uniqueItems: true,
        description: 'Where to price it; default: every country the route table lists a price for',
      }),
    ),
  },
  { additionalProperties: false },
);

const PreviewResult = Type.Object({
  locale: Type.String({ description: 'The variant rendered' }),
  text: Type.String({ description: 'The text as it would be sent (look-alikes replaced when allowed)' }),
  ...EncodingFields,
  units: Type.Integer({ description: 'Septets (GSM-7) or UTF-16 code units (UCS-2)' }),
  perSegment: Type.Integer({ description: 'What each part holds in those units' }),
  costs: Type.Array(
    Type.Object({
      country: Type.String({
        description: 'ISO 3166-1 alpha-2, or * for any country the table does not list',
      }),
      pricePerPart: Type.Number(),
      cost: Type.Number({ description: 'segments × pricePerPart' }),
    }),
    {
      description:
        "Estimated per country as the send policy's spend caps estimate it: the dearest enabled provider's price",
    },
  ),
});

function view(record: TemplateRecord) {
  return {
    id: record.id,
    name: record.name,
    class: record.messageClass,
    defaultLocale: record.defaultLocale,
    variables: record.variables,
    variants: record.variants,
    createdAt: new Date(record.createdAt).toISOString(),
    updatedAt: new Date(record.updatedAt).toISOString(),
  };
}

function notFound(id: string): PigeonError {
  return new PigeonError('PIGEON_ERR_NOT_FOUND', `No template ${id} for this API key`);
}

/** The countries any enabled provider lists a price for, sorted, then `*`. */
function pricedCountries(providers: Iterable<ProviderInfo>): string[] {
  const countries = new Set<string>();
  for (const provider of providers) {
    if (!provider.enabled) continue;
    for (const country of provider.prices.keys()) if (country !== '*') countries.add(country);
  }
  return [...[...countries].sort(), '*'];
}

/** `/v1/templates`: message templates with named variables and per-locale variants, and their preview. */
export async function templateRoutes(fastify: FastifyInstance, deps: TemplateRoutesDeps) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const now = deps.now ?? Date.now;
  const optOutPhrases = deps.optOutPhrases ?? DEFAULT_OPT_OUT_PHRASES;

  const record = (
    tenantId: string,
    id: string,
    body: Static<typeof TemplateBody>,
    createdAt: number,
  ): TemplateRecord => {
    const defaultLocale = body.defaultLocale ?? body.variants[0]!.locale;
    const variables = checkTemplate(
      { messageClass: body.class, defaultLocale, variants: body.variants },
      optOutPhrases,
    );
    return {
      tenantId,
      id,
      name: body.name,
      messageClass: body.class,
      defaultLocale,
      variants: body.variants.map(({ locale, body: text }) => ({ locale, body: text })),
      variables,
      createdAt,
      updatedAt: now(),
    };
  };

  app.post(
    '/v1/templates',
    {
      onRequest: app.requireScope('templates:write'),
      bodyLimit: TEMPLATE_BODY_LIMIT,
      schema: {
        summary: 'Create a message template',
        tags: ['templates'],
        body: TemplateBody,
        response: { 201: TemplateView, ...errorResponses },
      },
    },
    async (request, reply) => {
      const at = now();
      const created = record(request.principal.tenantId, newId(at), request.body, at);
      await deps.store.putTemplate(created);
      return reply.code(201).header('location', `/v1/templates/${created.id}`).send(view(created));
    },
  );

  app.get(
    '/v1/templates',
    {
      onRequest: app.requireScope('templates:read'),
      schema: {
        summary: "The tenant's message templates, oldest first",
        tags: ['templates'],
        response: { 200: Type.Object({ templates: Type.Array(TemplateView) }), ...errorResponses },
      },
    },
    async (request) => ({
      templates: (await deps.store.listTemplates(request.principal.tenantId)).map(view),
    }),
  );

  app.get(
    '/v1/templates/:id',
    {
      onRequest: app.requireScope('templates:read'),
      schema: {
        summary: 'One message template',
        tags: ['templates'],
        params: TemplateParams,
        response: { 200: TemplateView, ...errorResponses },
      },
    },
    async (request) => {
      const found = await deps.store.getTemplate(request.principal.tenantId, request.params.id);
      if (!found) throw notFound(request.params.id);
      return view(found);
    },
  );

  app.put(
    '/v1/templates/:id',
    {
      onRequest: app.requireScope('templates:write'),
      bodyLimit: TEMPLATE_BODY_LIMIT,
      schema: {
        summary: 'Replace a message template (messages already accepted keep their text)',
        tags: ['templates'],
        params: TemplateParams,
        body: TemplateBody,
        response: { 200: TemplateView, ...errorResponses },
      },
    },
    async (request) => {
      const { tenantId } = request.principal;
      const existing = await deps.store.getTemplate(tenantId, request.params.id);
      if (!existing) throw notFound(request.params.id);
      const replaced = record(tenantId, existing.id, request.body, existing.createdAt);
      await deps.store.putTemplate(replaced);
      return view(replaced);
    },
  );

  app.delete(
    '/v1/templates/:id',
    {
      onRequest: app.requireScope('templates:write'),
      schema: {
        summary: 'Delete a message template',
        tags: ['templates'],
        params: TemplateParams,
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      if (!(await deps.store.deleteTemplate(request.principal.tenantId, request.params.id))) {
        throw notFound(request.params.id);
      }
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/v1/templates/:id/preview',
    {
      onRequest: app.requireScope('templates:read'),
      schema: {
        summary: 'Render a template with sample variables: its encoding, parts and cost per country',
        tags: ['templates'],
        params: TemplateParams,
        body: PreviewBody,
        response: { 200: PreviewResult, ...errorResponses },
      },
    },
    async (request) => {
      const { tenantId } = request.principal;
      const template = await deps.store.getTemplate(tenantId, request.params.id);
      if (!template) throw notFound(request.params.id);
      const rendered = renderTemplate(template, request.body.variables ?? {}, request.body.locale);
      const smartEncoding = request.body.smartEncoding ?? (await (deps.smartEncoding?.(tenantId) ?? false));
      const report = encodeText(rendered.body, { smartEncoding });
      const providers = [...deps.providers()];
      const countries = request.body.countries ?? pricedCountries(providers);
      return {
        locale: rendered.locale,
        text: report.text,
        encoding: report.encoding,
        segments: report.segments,
        replaced: report.replaced,
        forcedUcs2: report.forcedUcs2,
        units: report.units,
        perSegment: report.perSegment,
        costs: countries.map((country) => {
          const price = pricePerPart(
            providers,
            country === '*' ? undefined : country,
            deps.fallbackPricePerPart,
          );
          // In millionths as the spend caps count, so the figure is the one a cap would see.
          return {
            country,
            pricePerPart: price,
            cost: Math.round(report.segments * price * MICROS) / MICROS,
          };
        }),
      };
    },
  );
}
