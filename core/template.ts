import { PigeonError } from './errors.ts';
import type { MessageClass } from './message.ts';
import type { TemplateRecord, TemplateVariant } from './store/kinds/templates.ts';

/** `{{name}}`, spaces inside the braces allowed: a letter or `_`, then letters, digits and `_`. */
const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}/g;

/**
 * The opt-out instructions a marketing template is checked for when the deployment names none.
 * Latin phrases match as whole words in any case (so "nonstop" is not one); others as written.
 */
export const DEFAULT_OPT_OUT_PHRASES: readonly string[] = ['STOP', 'STOPALL', 'UNSUBSCRIBE', '退订'];

/** A variable value: text, or a number written as JSON writes it. */
export type TemplateValues = Readonly<Record<string, string | number>>;

/** The variables a text uses, each once, in order of first use. */
export function placeholders(body: string): string[] {
  const names: string[] = [];
  for (const match of body.matchAll(PLACEHOLDER)) {
    if (!names.includes(match[1]!)) names.push(match[1]!);
  }
  return names;
}

/** What a new or replaced template says, before it is a record. */
export interface TemplateDefinition {
  messageClass: TemplateRecord['messageClass'];
  defaultLocale: string;
  variants: readonly TemplateVariant[];
}

/**
 * Checks a template and returns its variables (sorted): well-formed placeholders only, one variant
 * per locale including the default one, every variant using the same variables (a translation
 * says the same things), and for marketing an opt-out instruction in every variant.
 */
export function checkTemplate(definition: TemplateDefinition, optOutPhrases: readonly string[]): string[] {
  const errors: { field: string; message: string }[] = [];
  const locales = definition.variants.map((v) => v.locale.toLowerCase());
  definition.variants.forEach((variant, i) => {
    if (locales.indexOf(variant.locale.toLowerCase()) !== i) {
      errors.push({ field: `/variants/${i}/locale`, message: `${variant.locale} appears twice` });
    }
    const stray = variant.body.replace(PLACEHOLDER, '');
    if (stray.includes('{{') || stray.includes('}}')) {
      errors.push({
        field: `/variants/${i}/body`,
        message: 'a {{ or }} that is not a variable: names are a letter or _, then letters, digits or _',
      });
    }
  });
  if (!locales.includes(definition.defaultLocale.toLowerCase())) {
    errors.push({ field: '/defaultLocale', message: 'no variant has this locale' });
  }
  const variables = placeholders(definition.variants[0]?.body ?? '').sort();
  definition.variants.forEach((variant, i) => {
    const own = placeholders(variant.body).sort();
    if (own.join(',') !== variables.join(',')) {
      errors.push({
        field: `/variants/${i}/body`,
        message: `uses {${own.join(', ')}}; the first variant uses {${variables.join(', ')}}`,
      });
    }
  });
  if (errors.length > 0) {
    throw new PigeonError('PIGEON_ERR_VALIDATION', errors.map((e) => `${e.field}: ${e.message}`).join('; '), {
      errors,
    });
  }
  if (definition.messageClass === 'marketing') {
    const missing = definition.variants
      .map((variant, i) => ({ variant, i }))
      .filter(({ variant }) => !hasOptOut(variant.body, optOutPhrases));
    if (missing.length > 0) {
      throw new PigeonError(
        'PIGEON_ERR_TEMPLATE_OPT_OUT_MISSING',
        `${missing.map(({ variant }) => variant.locale).join(', ')}: no opt-out instruction (one of ${optOutPhrases.join(', ')})`,
        {
          errors: missing.map(({ i }) => ({
            field: `/variants/${i}/body`,
            message: 'no opt-out instruction',
          })),
        },
      );
    }
  }
  return variables;
}

/** Whether a text carries one of the opt-out phrases. */
export function hasOptOut(body: string, phrases: readonly string[]): boolean {
  return phrases.some((phrase) =>
    /^[\x20-\x7e]+$/.test(phrase)
      ? new RegExp(`(^|[^A-Za-z0-9])${escapeRegExp(phrase)}($|[^A-Za-z0-9])`, 'i').test(body)
      : body.includes(phrase),
  );
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The variant for a locale: the exact one (in any case), else the one of its language (`pt-BR`
 * finds `pt`, `pt` finds `pt-PT`), else the template's default.
 */
export function chooseVariant(
  template: Pick<TemplateRecord, 'variants' | 'defaultLocale'>,
  locale?: string,
): TemplateVariant {
  const byLocale = (wanted: string) => template.variants.find((v) => v.locale.toLowerCase() === wanted);
  if (locale !== undefined) {
    const wanted = locale.toLowerCase();
    const language = wanted.split('-')[0]!;
    const found =
      byLocale(wanted) ??
      byLocale(language) ??
      template.variants.find((v) => v.locale.toLowerCase().split('-')[0] === language);
    if (found) return found;
  }
  return byLocale(template.defaultLocale.toLowerCase()) ?? template.variants[0]!;
}

/** A template's text with its variables filled in, and the locale whose variant it is. */
export interface RenderedTemplate {
  body: string;
  locale: string;
}

/**
 * Fills a template's variables. Exactly the template's variables must be given: each missing or
 * extra one is named in PIGEON_ERR_TEMPLATE_VARIABLES, so a typo never goes out as `{{nmae}}`.
 */
export function renderTemplate(
  template: Pick<TemplateRecord, 'variants' | 'defaultLocale' | 'variables'>,
  values: TemplateValues,
  locale?: string,
): RenderedTemplate {
  const missing = template.variables.filter((name) => !Object.hasOwn(values, name));
  const extra = Object.keys(values).filter((name) => !template.variables.includes(name));
  if (missing.length > 0 || extra.length > 0) {
    const parts = [
      ...(missing.length > 0 ? [`missing: ${missing.join(', ')}`] : []),
      ...(extra.length > 0 ? [`not in the template: ${extra.join(', ')}`] : []),
    ];
    throw new PigeonError('PIGEON_ERR_TEMPLATE_VARIABLES', `Template variables ${parts.join('; ')}`, {
      errors: [
        ...missing.map((name) => ({ field: `/variables/${name}`, message: 'missing' })),
        ...extra.map((name) => ({ field: `/variables/${name}`, message: 'not in the template' })),
      ],
    });
  }
  const variant = chooseVariant(template, locale);
  // A function replacement, so a `$&` in a value is text, not a pattern.
  const body = variant.body.replace(PLACEHOLDER, (_all, name: string) => String(values[name]));
  return { body, locale: variant.locale };
}

/** What a message request says its text is: a body, or a template with its variables. */
export interface TextChoice {
  body?: string | undefined;
  template?: string | undefined;
  variables?: TemplateValues | undefined;
  locale?: string | undefined;
  class?: MessageClass | undefined;
}

/**
 * A message's text and class from its request: the body as given, or the named template (already
 * loaded, the tenant's) rendered. A message sent by template has the template's class, so a
 * marketing template cannot go out as transactional.
 */
export function messageText(
  choice: TextChoice,
  template: TemplateRecord | undefined,
): { body: string; messageClass: MessageClass | undefined; locale?: string } {
  if (choice.template === undefined) {
    if (choice.variables !== undefined || choice.locale !== undefined) {
      const field = choice.variables !== undefined ? '/variables' : '/locale';
      throw new PigeonError('PIGEON_ERR_VALIDATION', `"${field.slice(1)}" goes with "template"`, {
        errors: [{ field, message: 'only with "template"' }],
      });
    }
    if (choice.body === undefined) {
      throw new PigeonError('PIGEON_ERR_VALIDATION', 'Send a "body" or a "template"', {
        errors: [{ field: '/body', message: 'required without "template"' }],
      });
    }
    return { body: choice.body, messageClass: choice.class };
  }
  if (choice.body !== undefined) {
    throw new PigeonError('PIGEON_ERR_VALIDATION', 'Send a "body" or a "template", not both', {
      errors: [{ field: '/body', message: 'not with "template"' }],
    });
  }
  if (!template) {
    throw new PigeonError('PIGEON_ERR_UNKNOWN_TEMPLATE', `No template ${choice.template} for this tenant`, {
      errors: [{ field: '/template', message: 'unknown' }],
    });
  }
  if (choice.class !== undefined && choice.class !== template.messageClass) {
    throw new PigeonError(
      'PIGEON_ERR_VALIDATION',
      `"class" is ${choice.class}, but template ${template.id} is ${template.messageClass}`,
      { errors: [{ field: '/class', message: `the template's class is ${template.messageClass}` }] },
    );
  }
  const rendered = renderTemplate(template, choice.variables ?? {}, choice.locale);
  return { body: rendered.body, messageClass: template.messageClass, locale: rendered.locale };
}
