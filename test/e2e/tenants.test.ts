/**
 * Tenants and keys end to end: two api processes over real Kafka, MariaDB and Redis. A key made
 * through one sends through the other; revoked (or its tenant suspended) through the first, it is
 * refused by the second — which had it cached — within a second.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TEST_KAFKA_BROKERS, TEST_REDIS_URL, uniqueSuffix } from '../support/infra.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { freePort } from '../support/ports.ts';
import { type ServiceProcess, startServiceProcess, waitForReady } from '../support/processes.ts';
import { waitFor } from '../support/wait.ts';

const run = uniqueSuffix();
const ADMIN_KEY = `pgn_tenants_e2e_admin_${run}_key`;

describe('tenants and keys over Kafka, MariaDB and Redis, across two api processes', () => {
  let db: TestDatabase;
  const apis: ServiceProcess[] = [];
  const bases: string[] = [];

  before(async () => {
    db = await createTestDatabase();
    const env = {
      KAFKA_BROKERS: TEST_KAFKA_BROKERS.join(','),
      KAFKA_GROUP_PREFIX: `pigeon-tenants-${run}`,
      MYSQL_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      PIGEON_API_KEY: ADMIN_KEY,
      PIGEON_TENANT: `operator-${run}`,
    };
    // One after the other: the second finds the migrations and topics done.
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const api = startServiceProcess('api', { ...env, PORT: String(port), PIGEON_PUBLIC_URL: base });
      apis.push(api);
      bases.push(base);
      await waitForReady(`${base}/readyz`, api, 90_000);
    }
  });

  after(async () => {
    for (const api of apis) await api.stop(10_000);
    await db?.drop();
  });

  const call = async (base: string, method: string, path: string, key: string, body?: unknown) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const send = (base: string, key: string) =>
    call(base, 'POST', '/v1/messages', key, { to: '+14155550123', body: `hello ${run}` });
  /** Polls the second api with `key` until it answers `status`; fails after a second. */
  const secondAnswersWithin1s = (key: string, status: number, code: string) =>
    waitFor(
      async () => {
        const answer = await send(bases[1]!, key);
        return answer.status === status && answer.body.code === code;
      },
      1_000,
      `${code} from the second api within 1 s`,
    );

  test('create a key → send → revoke → refused by both processes within a second', async () => {
    const [first, second] = [bases[0]!, bases[1]!];
    const tenantId = `acme-${run}`;
    assert.equal(
      (await call(first, 'POST', '/v1/admin/tenants', ADMIN_KEY, { id: tenantId, name: 'Acme' })).status,
      201,
    );
    const created = await call(first, 'POST', `/v1/admin/tenants/${tenantId}/keys`, ADMIN_KEY, {
      name: 'checkout',
      scopes: ['messages:write'],
    });
    assert.equal(created.status, 201);
    const key = created.body.key as string;

    const accepted = await send(second, key);
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    assert.equal((await send(first, key)).status, 202);

    const revoked = await call(
      first,
      'DELETE',
      `/v1/admin/tenants/${tenantId}/keys/${String(created.body.id)}`,
      ADMIN_KEY,
    );
    assert.equal(revoked.status, 200);
    assert.equal((await send(first, key)).body.code, 'PIGEON_ERR_UNAUTHORIZED');
    await secondAnswersWithin1s(key, 401, 'PIGEON_ERR_UNAUTHORIZED');
  });

  test("a suspended tenant's key is refused by both processes within a second", async () => {
    const [first, second] = [bases[0]!, bases[1]!];
    const tenantId = `paused-${run}`;
    await call(first, 'POST', '/v1/admin/tenants', ADMIN_KEY, { id: tenantId, name: 'Paused' });
    const created = await call(first, 'POST', `/v1/admin/tenants/${tenantId}/keys`, ADMIN_KEY, {
      name: 'app',
      scopes: ['messages:write'],
    });
    const key = created.body.key as string;
    assert.equal((await send(second, key)).status, 202);

    assert.equal((await call(first, 'POST', `/v1/admin/tenants/${tenantId}/suspend`, ADMIN_KEY)).status, 200);
    await secondAnswersWithin1s(key, 403, 'PIGEON_ERR_TENANT_SUSPENDED');
    assert.equal((await send(first, key)).body.code, 'PIGEON_ERR_TENANT_SUSPENDED');
  });
});
