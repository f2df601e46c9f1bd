/**
 * The status-callback worker while its database is cut off, on real MariaDB behind a TCP proxy:
 * it keeps polling without crashing, sends nothing it could not lease, and once the link is back
 * delivers every waiting callback, each once, signed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { newId } from '../../core/ids.ts';
import { createLogger } from '../../core/logger.ts';
import { MysqlStore } from '../../core/store/mysql-store.ts';
import type { CallbackDelivery } from '../../core/store/kinds/callbacks.ts';
import { CallbackWorker } from '../../persister/src/callbacks/worker.ts';
import { startCallbackReceiver } from '../fakes/callback-receiver.ts';
import { TEST_MYSQL_URL, uniqueSuffix } from '../support/infra.ts';
import { createTestDatabase } from '../support/mysql.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import { sleep, waitFor } from '../support/wait.ts';

const CALLBACKS = 20;

test('callbacks wait out a database outage and all go out once it ends', async (t) => {
  const tenant = `tenant-cb-outage-${uniqueSuffix()}`;
  const secret = `whsec_${newId()}`;
  const receiver = await startCallbackReceiver({ secret });
  const db = await createTestDatabase();
  const server = new URL(TEST_MYSQL_URL);
  const proxy = await startTcpProxy({ targetHost: server.hostname, targetPort: Number(server.port || 3306) });
  const direct = new MysqlStore(db.url, { connectionLimit: 2 });
  const proxiedUrl = new URL(db.url);
  proxiedUrl.hostname = '127.0.0.1';
  proxiedUrl.port = String(proxy.port);
  const proxied = new MysqlStore(proxiedUrl.toString(), { connectionLimit: 4, connectTimeoutMs: 500 });
  const registry = new Registry();
  const worker = new CallbackWorker({
    store: proxied,
    logger: createLogger({ level: 'silent' }),
    registry,
    settings: {
      timeoutMs: 2_000,
      concurrency: 8,
      perHost: 8,
      maxAgeMs: 3_600_000,
      keepMs: 86_400_000,
      allowPrivateNetworks: true,
    },
    pollMs: 100,
  });
  t.after(async () => {
    await worker.close();
    await proxied.close();
    await direct.close();
    await proxy.close();
    await receiver.close();
    await db.drop();
  });

  await direct.migrate();
  await direct.putWebhook({ tenantId: tenant, url: null, secret, createdAt: 0, updatedAt: 0 });
  proxy.cut();
  worker.start();

  // The outbox fills while the worker cannot reach the database.
  const now = Date.now();
  const deliveries: CallbackDelivery[] = Array.from({ length: CALLBACKS }, (_, i) => {
    const id = newId(now);
    return {
      id,
      tenantId: tenant,
      messageId: newId(now),
      url: `${receiver.url}/status`,
      payload: JSON.stringify({ id, type: 'message.delivered', status: 'delivered', seq: i }),
      state: 'pending',
      attempts: 0,
      nextAttemptAt: now,
      createdAt: now,
      updatedAt: now,
      lastStatus: null,
      lastError: null,
    };
  });
  await direct.enqueueCallbacks(deliveries);
  await sleep(1_500);
  assert.equal(receiver.requests.length, 0, 'nothing sent while no delivery could be leased');

  proxy.restore();
  await waitFor(() => receiver.events.size === CALLBACKS, 20_000, 'every callback delivered');
  await worker.idle();
  assert.equal(receiver.requests.length, CALLBACKS, 'each once');
  assert.deepEqual(new Set(receiver.events.keys()), new Set(deliveries.map((d) => d.id)));
  const results = await registry.getSingleMetric('pigeon_callbacks_deliveries_total')!.get();
  assert.equal(results.values.find((v) => v.labels.result === 'delivered')?.value, CALLBACKS);
});
