/** The Store contract for message templates, run against both implementations. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { TemplateRecord } from '../../core/store/kinds/templates.ts';
import type { Store } from '../../core/store/store.ts';
import { againstEveryStore, migratedStore, type StoreTarget } from '../support/store-targets.ts';

const T0 = 1_767_225_600_000;

function template(overrides: Partial<TemplateRecord> = {}): TemplateRecord {
  return {
    tenantId: 'tenant-a',
    id: '01JTEMPLATE0000000000000001',
    name: 'order shipped',
    messageClass: 'transactional',
    defaultLocale: 'en',
    variants: [
      { locale: 'en', body: 'Hi {{name}}, order {{order}} has shipped.' },
      { locale: 'zh-CN', body: '{{name}}，您的订单{{order}}已发货。😀' },
    ],
    variables: ['name', 'order'],
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

function templateContract(name: string, makeTarget: () => Promise<StoreTarget>): void {
  describe(`${name} store contract: message templates`, () => {
    let store: Store;

    migratedStore(makeTarget, (opened) => ({ store } = opened));

    test('a template round-trips with its variants (any Unicode) and variables, for its tenant only', async () => {
      const record = template();
      await store.putTemplate(record);
      assert.deepEqual(await store.getTemplate('tenant-a', record.id), record);
      assert.equal(await store.getTemplate('tenant-b', record.id), undefined);
      assert.equal(await store.getTemplate('tenant-a', 'no-such-template'), undefined);
    });

    test('a tenant’s templates are listed in id order, without other tenants’', async () => {
      const ids = [
        '01JLIST00000000000000000003',
        '01JLIST00000000000000000001',
        '01JLIST00000000000000000002',
      ];
      for (const id of ids) await store.putTemplate(template({ tenantId: 'tenant-l', id }));
      await store.putTemplate(template({ tenantId: 'tenant-m', id: '01JLIST00000000000000000009' }));
      assert.deepEqual(
        (await store.listTemplates('tenant-l')).map((t) => t.id),
        [...ids].sort(),
      );
      assert.deepEqual(await store.listTemplates('tenant-none'), []);
    });

    test('putting a template again replaces everything but createdAt', async () => {
      await store.putTemplate(template({ tenantId: 'tenant-r' }));
      const replacement = template({
        tenantId: 'tenant-r',
        name: 'spring sale',
        messageClass: 'marketing',
        defaultLocale: 'tr',
        variants: [{ locale: 'tr', body: 'İndirim {{percent}}%! Çıkmak için STOP yazın.' }],
        variables: ['percent'],
        createdAt: T0 + 99,
        updatedAt: T0 + 5,
      });
      await store.putTemplate(replacement);
      assert.deepEqual(await store.getTemplate('tenant-r', replacement.id), {
        ...replacement,
        createdAt: T0,
      });
    });

    test('a template with no variables keeps an empty list', async () => {
      const record = template({
        tenantId: 'tenant-v',
        variants: [{ locale: 'en', body: 'Hello' }],
        variables: [],
      });
      await store.putTemplate(record);
      assert.deepEqual((await store.getTemplate('tenant-v', record.id))?.variables, []);
    });

    test('a template is deleted once, from its own tenant only', async () => {
      await store.putTemplate(template({ tenantId: 'tenant-d' }));
      await store.putTemplate(template({ tenantId: 'tenant-e' }));
      assert.equal(await store.deleteTemplate('tenant-d', template().id), true);
      assert.equal(await store.deleteTemplate('tenant-d', template().id), false);
      assert.equal(await store.getTemplate('tenant-d', template().id), undefined);
      assert.ok(await store.getTemplate('tenant-e', template().id));
    });
  });
}

againstEveryStore(templateContract);
