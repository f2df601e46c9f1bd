import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isPigeonError, type PigeonError } from './errors.ts';
import {
  checkTemplate,
  chooseVariant,
  DEFAULT_OPT_OUT_PHRASES,
  hasOptOut,
  messageText,
  placeholders,
  renderTemplate,
} from './template.ts';

function refusal(fn: () => unknown): PigeonError {
  try {
    fn();
  } catch (err) {
    if (isPigeonError(err)) return err;
    throw err;
  }
  assert.fail('expected a PigeonError');
}

const shipped = {
  defaultLocale: 'en',
  variants: [
    { locale: 'en', body: 'Hi {{name}}, order {{ order }} has shipped.' },
    { locale: 'pt-BR', body: 'Olá {{name}}, o pedido {{order}} foi enviado.' },
    { locale: 'zh-CN', body: '{{name}}，您的订单{{order}}已发货。' },
  ],
  variables: ['name', 'order'],
};

describe('placeholders', () => {
  test('names each variable once, in order of first use, spaces inside the braces allowed', () => {
    assert.deepEqual(placeholders('{{b}} {{ a }} {{b}} {{_c9}}'), ['b', 'a', '_c9']);
    assert.deepEqual(placeholders('no variables, {single} braces'), []);
  });
});

describe('checkTemplate', () => {
  test('returns the sorted variables every variant uses', () => {
    assert.deepEqual(checkTemplate({ messageClass: 'transactional', ...shipped }, DEFAULT_OPT_OUT_PHRASES), [
      'name',
      'order',
    ]);
  });

  test('refuses a variant that uses other variables than the first, naming both sets', () => {
    const err = refusal(() =>
      checkTemplate(
        {
          messageClass: 'transactional',
          defaultLocale: 'en',
          variants: [
            { locale: 'en', body: 'Hi {{name}}' },
            { locale: 'fr', body: 'Bonjour {{nom}}' },
          ],
        },
        DEFAULT_OPT_OUT_PHRASES,
      ),
    );
    assert.equal(err.code, 'PIGEON_ERR_VALIDATION');
    assert.deepEqual(
      err.errors?.map((e) => e.field),
      ['/variants/1/body'],
    );
  });

  test('refuses malformed placeholders, a locale given twice and a default locale without a variant', () => {
    const err = refusal(() =>
      checkTemplate(
        {
          messageClass: 'transactional',
          defaultLocale: 'de',
          variants: [
            { locale: 'en', body: 'Hi {{first-name}}' },
            { locale: 'EN', body: 'Hello' },
          ],
        },
        DEFAULT_OPT_OUT_PHRASES,
      ),
    );
    assert.equal(err.code, 'PIGEON_ERR_VALIDATION');
    assert.deepEqual(
      err.errors?.map((e) => e.field),
      ['/variants/0/body', '/variants/1/locale', '/defaultLocale'],
    );
  });

  test('a marketing template needs an opt-out instruction in every variant', () => {
    const err = refusal(() =>
      checkTemplate(
        {
          messageClass: 'marketing',
          defaultLocale: 'en',
          variants: [
            { locale: 'en', body: 'Sale! 20% off. Reply STOP to opt out' },
            { locale: 'zh-CN', body: '大促销！八折。' },
            { locale: 'de', body: 'Nonstop Angebote!' },
          ],
        },
        DEFAULT_OPT_OUT_PHRASES,
      ),
    );
    assert.equal(err.code, 'PIGEON_ERR_TEMPLATE_OPT_OUT_MISSING');
    assert.deepEqual(
      err.errors?.map((e) => e.field),
      ['/variants/1/body', '/variants/2/body'],
    );
    assert.doesNotThrow(() =>
      checkTemplate(
        {
          messageClass: 'marketing',
          defaultLocale: 'zh-CN',
          variants: [{ locale: 'zh-CN', body: '大促销！八折。回复退订' }],
        },
        DEFAULT_OPT_OUT_PHRASES,
      ),
    );
  });

  test('transactional templates need no opt-out instruction', () => {
    assert.doesNotThrow(() =>
      checkTemplate(
        { messageClass: 'transactional', defaultLocale: 'en', variants: [{ locale: 'en', body: 'Hi' }] },
        DEFAULT_OPT_OUT_PHRASES,
      ),
    );
  });
});

describe('hasOptOut', () => {
  test('Latin phrases match as whole words in any case, others as written', () => {
    assert.equal(hasOptOut('Reply stop to end', DEFAULT_OPT_OUT_PHRASES), true);
    assert.equal(hasOptOut('Text STOP.', DEFAULT_OPT_OUT_PHRASES), true);
    assert.equal(hasOptOut('nonstop deals', DEFAULT_OPT_OUT_PHRASES), false);
    assert.equal(hasOptOut('Reply STOPALL', DEFAULT_OPT_OUT_PHRASES), true);
    assert.equal(hasOptOut('回T退订', DEFAULT_OPT_OUT_PHRASES), true);
    assert.equal(hasOptOut('Reply NO MORE to opt out', ['NO MORE']), true);
    assert.equal(hasOptOut('Reply STOP', ['NO MORE']), false);
  });
});

describe('chooseVariant', () => {
  test('exact locale in any case, then its language, then the default', () => {
    assert.equal(chooseVariant(shipped, 'PT-br').locale, 'pt-BR');
    assert.equal(chooseVariant(shipped, 'pt').locale, 'pt-BR');
    assert.equal(chooseVariant(shipped, 'pt-PT').locale, 'pt-BR');
    assert.equal(chooseVariant(shipped, 'zh').locale, 'zh-CN');
    assert.equal(chooseVariant(shipped, 'fr').locale, 'en');
    assert.equal(chooseVariant(shipped).locale, 'en');
  });
});

describe('renderTemplate', () => {
  test('fills every variable, numbers as JSON writes them', () => {
    assert.deepEqual(renderTemplate(shipped, { name: 'Ana', order: 88231 }, 'pt-BR'), {
      body: 'Olá Ana, o pedido 88231 foi enviado.',
      locale: 'pt-BR',
    });
  });

  test('values are text: no pattern in them is expanded, no variable inside them is filled', () => {
    assert.equal(
      renderTemplate(shipped, { name: '$& {{order}}', order: '1' }).body,
      'Hi $& {{order}}, order 1 has shipped.',
    );
  });

  test('names every missing and every extra variable', () => {
    const err = refusal(() => renderTemplate(shipped, { name: 'Ana', ordr: '1', coupon: 'X' }));
    assert.equal(err.code, 'PIGEON_ERR_TEMPLATE_VARIABLES');
    assert.equal(err.status, 422);
    assert.deepEqual(err.errors, [
      { field: '/variables/order', message: 'missing' },
      { field: '/variables/ordr', message: 'not in the template' },
      { field: '/variables/coupon', message: 'not in the template' },
    ]);
    assert.match(err.message, /missing: order; not in the template: ordr, coupon/);
  });

  test('an inherited property is not a variable value', () => {
    const values = Object.create({ order: '1' }) as Record<string, string>;
    values.name = 'Ana';
    assert.equal(refusal(() => renderTemplate(shipped, values)).code, 'PIGEON_ERR_TEMPLATE_VARIABLES');
  });
});

describe('messageText', () => {
  const record = {
    tenantId: 't',
    id: 'tpl',
    name: 'shipped',
    messageClass: 'transactional' as const,
    createdAt: 0,
    updatedAt: 0,
    ...shipped,
  };

  test('a body is the text as given, with the request’s class', () => {
    assert.deepEqual(messageText({ body: 'Hi', class: 'otp' }, undefined), {
      body: 'Hi',
      messageClass: 'otp',
    });
  });

  test('a template is rendered in the asked locale, with the template’s class', () => {
    assert.deepEqual(
      messageText({ template: 'tpl', variables: { name: 'Li', order: 7 }, locale: 'zh' }, record),
      { body: 'Li，您的订单7已发货。', messageClass: 'transactional', locale: 'zh-CN' },
    );
  });

  test('refuses both or neither of body and template, and template fields without a template', () => {
    const codes = [
      () => messageText({}, undefined),
      () => messageText({ body: 'x', template: 'tpl' }, record),
      () => messageText({ body: 'x', variables: {} }, undefined),
      () => messageText({ body: 'x', locale: 'en' }, undefined),
    ].map((fn) => refusal(fn).code);
    assert.deepEqual(codes, Array(4).fill('PIGEON_ERR_VALIDATION'));
  });

  test('an unknown template and a class other than the template’s are refused', () => {
    assert.equal(
      refusal(() => messageText({ template: 'nope' }, undefined)).code,
      'PIGEON_ERR_UNKNOWN_TEMPLATE',
    );
    assert.equal(
      refusal(() =>
        messageText({ template: 'tpl', variables: { name: 'a', order: 1 }, class: 'marketing' }, record),
      ).code,
      'PIGEON_ERR_VALIDATION',
    );
  });
});
