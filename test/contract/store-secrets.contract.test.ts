/**
 * The Store contract for credentials at rest: provider definitions and tenants' webhook secrets
 * are sealed under PIGEON_SECRETS_KEY in the database and come back in clear through the store.
 * Run against SQLite and MariaDB, reading the raw columns with each database's own driver.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DatabaseSync } from 'node:sqlite';
import mysql from 'mysql2/promise';
import { isPigeonError } from '../../core/errors.ts';
import { newId } from '../../core/ids.ts';
import { MysqlStore } from '../../core/store/mysql-store.ts';
import { SecretSealer } from '../../core/store/secret-sealer.ts';
import { SqliteStore } from '../../core/store/sqlite-store.ts';
import type { Store } from '../../core/store/store.ts';
import { createTestDatabase } from '../support/mysql.ts';

interface SecretsTarget {
  open(secrets: SecretSealer): Store;
  /** The stored text of one column, read past the store. */
  raw(sql: string, param: string): Promise<string>;
  dispose(): Promise<void>;
}

const AUTH_TOKEN = 'twilio-auth-token-7c1f0e';

function twilioProvider(name: string) {
  return {
    name,
    type: 'twilio',
    weight: 1,
    options: { accountSid: 'AC0123', authToken: AUTH_TOKEN, from: '+15005550006' },
  };
}

function webhook(tenantId: string, secret: string) {
  return { tenantId, url: 'https://hooks.example.com/sms', secret, createdAt: 1, updatedAt: 1 };
}

function secretsContract(name: string, makeTarget: () => Promise<SecretsTarget>): void {
  describe(`${name} store: credentials at rest`, () => {
    const key = randomBytes(32);
    const sealed = new SecretSealer({ current: key });
    let target: SecretsTarget;
    let store: Store;

    before(async () => {
      target = await makeTarget();
      store = target.open(sealed);
      await store.migrate();
    });

    after(async () => {
      await store?.close();
      await target?.dispose();
    });

    test('a provider definition is sealed in its row and read back whole', async () => {
      const provider = twilioProvider(`tw-${newId().slice(-6)}`);
      await store.putProvider(provider);

      const stored = await target.raw('SELECT definition FROM providers WHERE name = ?', provider.name);
      assert.match(stored, /^enc:v1:/);
      assert.ok(!stored.includes(AUTH_TOKEN), 'the token is not in the row');
      const read = (await store.listProviders()).find((p) => p.name === provider.name);
      assert.deepEqual(read?.definition, provider);
      assert.equal(read?.type, 'twilio', 'name and type stay readable for listings');
    });

    test('a webhook secret is sealed in its row and read back', async () => {
      const tenantId = `tenant-${newId().slice(-6)}`;
      const secret = `whsec_${randomBytes(32).toString('base64url')}`;
      await store.putWebhook(webhook(tenantId, secret));

      const stored = await target.raw('SELECT secret FROM tenant_webhooks WHERE tenant_id = ?', tenantId);
      assert.match(stored, /^enc:v1:/);
      assert.ok(!stored.includes(secret));
      assert.equal((await store.getWebhook(tenantId))?.secret, secret);
    });

    test('rows written before a key was set are still read, and sealed when written again', async () => {
      const plainStore = target.open(new SecretSealer());
      try {
        const provider = twilioProvider(`legacy-${newId().slice(-6)}`);
        await plainStore.putProvider(provider);
        const tenantId = `tenant-${newId().slice(-6)}`;
        await plainStore.putWebhook(webhook(tenantId, 'whsec_legacy'));
        assert.match(
          await target.raw('SELECT definition FROM providers WHERE name = ?', provider.name),
          /"authToken"/,
        );

        assert.deepEqual(
          (await store.listProviders()).find((p) => p.name === provider.name)?.definition,
          provider,
        );
        assert.equal((await store.getWebhook(tenantId))?.secret, 'whsec_legacy');

        await store.putProvider({ ...provider, weight: 2 });
        assert.match(
          await target.raw('SELECT definition FROM providers WHERE name = ?', provider.name),
          /^enc:v1:/,
        );
      } finally {
        await plainStore.close();
      }
    });

    test('after a rotation the previous key still reads; without it the error names the variable', async () => {
      const provider = twilioProvider(`rot-${newId().slice(-6)}`);
      await store.putProvider(provider);
      const next = randomBytes(32);

      const rotated = target.open(new SecretSealer({ current: next, previous: [key] }));
      const forgotten = target.open(new SecretSealer({ current: next }));
      try {
        assert.deepEqual(
          (await rotated.listProviders()).find((p) => p.name === provider.name)?.definition,
          provider,
        );
        await assert.rejects(
          () => forgotten.listProviders(),
          (err: unknown) =>
            isPigeonError(err) && err.code === 'PIGEON_ERR_CONFIG' && /PIGEON_SECRETS_KEY/.test(err.message),
        );
      } finally {
        await rotated.close();
        await forgotten.close();
      }
    });

    test('resealing writes every secret under the new key, after which the old one is not needed', async () => {
      const fresh = await makeTarget();
      const oldKey = randomBytes(32);
      const newKey = randomBytes(32);
      const before = fresh.open(new SecretSealer({ current: oldKey }));
      const rotating = fresh.open(new SecretSealer({ current: newKey, previous: [oldKey] }));
      const after = fresh.open(new SecretSealer({ current: newKey }));
      try {
        await before.migrate();
        const providers = ['tw-1', 'tw-2'].map(twilioProvider);
        for (const p of providers) await before.putProvider(p);
        await before.putWebhook(webhook('tenant-r', 'whsec_rotate_me'));
        const version = await before.routingVersion();

        assert.deepEqual(await rotating.resealSecrets(), { providers: 2, webhooks: 1 });

        assert.deepEqual(
          (await after.listProviders()).map((p) => p.definition),
          providers,
        );
        assert.equal((await after.getWebhook('tenant-r'))?.secret, 'whsec_rotate_me');
        assert.notEqual(await after.routingVersion(), version, 'running processes reload the providers');
        await assert.rejects(() => before.listProviders(), /PIGEON_SECRETS_KEY/);
      } finally {
        for (const s of [before, rotating, after]) await s.close();
        await fresh.dispose();
      }
    });
  });
}

secretsContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pigeon-secrets-'));
  const file = join(dir, 'pigeon.db');
  return {
    open: (secrets) => new SqliteStore(file, { secrets }),
    raw: async (sql, param) => {
      const db = new DatabaseSync(file, { readOnly: true });
      try {
        return Object.values(db.prepare(sql).get(param) as Record<string, string>)[0]!;
      } finally {
        db.close();
      }
    },
    dispose: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

secretsContract('mysql', async () => {
  const db = await createTestDatabase();
  return {
    open: (secrets) => new MysqlStore(db.url, { connectionLimit: 2, secrets }),
    raw: async (sql, param) => {
      const conn = await mysql.createConnection({ uri: db.url });
      try {
        const [rows] = await conn.query(sql, [param]);
        return Object.values((rows as Record<string, string>[])[0]!)[0]!;
      } finally {
        await conn.end();
      }
    },
    dispose: () => db.drop(),
  };
});
