import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { TEST_KAFKA_BROKERS, TEST_REDIS_URL } from '../support/infra.ts';
import { createTestDatabase } from '../support/mysql.ts';
import { freePort } from '../support/ports.ts';
import { startServiceProcess, waitForReady } from '../support/processes.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import { sleep, waitFor } from '../support/wait.ts';

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

test('a service started before Kafka is reachable waits for it instead of exiting', async () => {
  const [host, port] = TEST_KAFKA_BROKERS[0]!.split(':');
  const proxy = await startTcpProxy({ targetHost: host!, targetPort: Number(port) });
  cleanups.push(() => proxy.close());
  proxy.cut();
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  const opsPort = await freePort();
  const persister = startServiceProcess('persister', {
    KAFKA_BROKERS: `127.0.0.1:${proxy.port}`,
    KAFKA_GROUP_PREFIX: `start-order-${Date.now()}`,
    MYSQL_URL: db.url,
    REDIS_URL: TEST_REDIS_URL,
    PORT: String(opsPort),
  });
  cleanups.push(async () => persister.kill());

  await waitFor(() => /persister\.start_failed/.test(persister.output()), 30_000, 'a failed start attempt');
  await sleep(1000);
  assert.equal(persister.child.exitCode, null, `still running while Kafka is away\n${persister.output()}`);

  proxy.restore();
  await waitForReady(`http://127.0.0.1:${opsPort}/readyz`, persister, 60_000);
  assert.equal(await persister.stop(), 0);
});
