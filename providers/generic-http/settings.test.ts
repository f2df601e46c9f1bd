import { describe, test } from 'node:test';
import { assertConfigError, testDeps } from '../../test/support/provider-testing.ts';
import { createGenericHttp } from './adapter.ts';

const deps = testDeps();

describe('generic HTTP options', () => {
  const base = { url: 'https://agg.example/sms' };
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['missing url', { body: 'x' }, 'url'],
    ['relative url', { url: '/sms' }, 'url'],
    ['unknown option', { ...base, bodyEncodng: 'json' }, 'bodyEncodng'],
    ['unknown placeholder', { ...base, body: '{"t":"{{text}}"}' }, 'body'],
    ['unterminated placeholder', { ...base, body: '{"t":"{{body"}' }, 'body'],
    ['bad header template', { ...base, headers: { 'X-Key': '{{secret}}' } }, 'headers.X-Key'],
    ['bad encoding', { ...base, bodyEncoding: 'xml' }, 'bodyEncoding'],
    ['GET with a body', { ...base, method: 'GET', body: '{{body}}' }, 'body'],
    ['matcher status not codes', { ...base, permanent: { status: ['400'] } }, 'permanent.status'],
    ['empty matcher', { ...base, success: {} }, 'success'],
    ['equals without jsonPath', { ...base, throttled: { equals: 1 } }, 'throttled.equals'],
    [
      'unknown matcher key',
      { ...base, transient: { status: [503], bodyContain: 'x' } },
      'transient.bodyContain',
    ],
    [
      'bad receipt status',
      {
        ...base,
        receipt: {
          signatureHeader: 'X-S',
          signatureSecret: 's',
          idPath: 'id',
          statusPath: 's',
          statusMap: { OK: 'sent' },
        },
      },
      'receipt.statusMap.OK',
    ],
    [
      'receipt without secret',
      {
        ...base,
        receipt: { signatureHeader: 'X-S', idPath: 'id', statusPath: 's', statusMap: { OK: 'delivered' } },
      },
      'receipt.signatureSecret',
    ],
  ];
  for (const [name, options, path] of cases) {
    test(`refuses ${name}, naming "${path}"`, () => {
      assertConfigError(
        () =>
          createGenericHttp(
            'agg',
            { ...options, headers: { Authorization: 'Bearer top-secret', ...(options.headers as object) } },
            deps,
          ),
        `"${path}"`,
        ['top-secret'],
      );
    });
  }
});
