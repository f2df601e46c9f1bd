/**
 * How MysqlStore behaves when the database is not there: it must fail fast with the retriable
 * PIGEON_ERR_STORE_UNAVAILABLE, never hang and never look like a problem with the rows.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { isPigeonError } from '../../core/errors.ts';
import { newId } from '../../core/ids.ts';
import { isUnavailableError, MysqlStore } from '../../core/store/mysql-store.ts';
import type { WriteBatch } from '../../core/store/kinds/messages.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';

const T0 = 1_767_225_600_000;

function batch(): WriteBatch {
  const id = newId();
  return {
    messages: [{ id, tenantId: 'tenant-a', status: 'queued', updatedAt: T0, recipient: '+447700900123' }],
    events: [
      {
        eventId: newId(),
        messageId: id,
        tenantId: 'tenant-a',
        type: 'message.requested',
        status: 'queued',
        provider: null,
        providerMessageId: null,
        detail: null,
        occurredAt: T0,
      },
    ],
  };
}

function isUnavailable(err: unknown): boolean {
  return isPigeonError(err) && err.code === 'PIGEON_ERR_STORE_UNAVAILABLE' && err.retriable;
}

async function elapsed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/** A TCP server that does `onSocket` to every connection instead of speaking MySQL. */
async function fakeServer(onSocket: (socket: Socket) => void): Promise<{ url: string; server: Server }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    onSocket(socket);
  });
  server.on('close', () => {
    for (const socket of sockets) socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `mysql://root@127.0.0.1:${port}/test`, server };
}

describe('MysqlStore when the database is down', () => {
  test('nothing listening: writeBatch, reads and migrate reject as unavailable within seconds', async () => {
    const store = new MysqlStore('mysql://root@127.0.0.1:1/test');
    try {
      const ms = await elapsed(() => assert.rejects(store.writeBatch(batch()), isUnavailable));
      assert.ok(ms < 5000, `took ${ms} ms`);
      await assert.rejects(store.getMessage('tenant-a', newId()), isUnavailable);
      await assert.rejects(store.migrate(), isUnavailable);
    } finally {
      await store.close();
    }
  });

  test('nothing listening: tenants, keys, send limits and senders reject as unavailable', async () => {
    const store = new MysqlStore('mysql://root@127.0.0.1:1/test');
    try {
      await assert.rejects(store.getTenant('tenant-a'), isUnavailable);
      await assert.rejects(store.setTenantStatus('tenant-a', 'suspended', T0), isUnavailable);
      await assert.rejects(store.listApiKeys('tenant-a'), isUnavailable);
      await assert.rejects(store.revokeApiKey('tenant-a', newId(), T0), isUnavailable);
      await assert.rejects(store.getTenantSendLimits('tenant-a'), isUnavailable);
      await assert.rejects(store.listSenders('tenant-a'), isUnavailable);
    } finally {
      await store.close();
    }
  });

  test('nothing listening: ping resolves false', async () => {
    const store = new MysqlStore('mysql://root@127.0.0.1:1/test');
    try {
      assert.equal(await store.ping(), false);
    } finally {
      await store.close();
    }
  });

  test('a server that accepts but never answers fails on the connect timeout', async () => {
    const { url, server } = await fakeServer(() => {});
    const store = new MysqlStore(url, { connectTimeoutMs: 1000 });
    try {
      const ms = await elapsed(() => assert.rejects(store.writeBatch(batch()), isUnavailable));
      assert.ok(ms < 4000, `took ${ms} ms`);
      assert.equal(await store.ping(), false);
    } finally {
      await store.close();
      server.close();
    }
  });

  test('a server that drops the connection at once is reported unavailable', async () => {
    const { url, server } = await fakeServer((socket) => socket.destroy());
    const store = new MysqlStore(url);
    try {
      await assert.rejects(store.writeBatch(batch()), isUnavailable);
      assert.equal(await store.ping(), false);
    } finally {
      await store.close();
      server.close();
    }
  });
});

describe('MysqlStore errors that are not outages', () => {
  let db: TestDatabase;
  let store: MysqlStore;

  before(async () => {
    db = await createTestDatabase();
    store = new MysqlStore(db.url);
    await store.migrate();
  });

  after(async () => {
    await store?.close();
    await db?.drop();
  });

  test('a value too long for its column is refused as rejected data and the batch is undone', async () => {
    const good = batch();
    const bad = batch();
    bad.messages = [{ ...bad.messages[0]!, errorCode: 'E'.repeat(500) }];
    await assert.rejects(
      store.writeBatch({ messages: [...good.messages, ...bad.messages], events: good.events }),
      (err: unknown) =>
        isPigeonError(err) &&
        err.code === 'PIGEON_ERR_STORE_REJECTED' &&
        (err.cause as { code?: string }).code === 'ER_DATA_TOO_LONG',
    );
    assert.equal(await store.getMessage('tenant-a', good.messages[0]!.id), undefined);
    assert.deepEqual(await store.listEvents('tenant-a', good.messages[0]!.id), []);
    await store.writeBatch(good);
    assert.equal((await store.getMessage('tenant-a', good.messages[0]!.id))?.status, 'queued');
  });
});

describe('MysqlStore error classification', () => {
  test('a read-only server (failover in progress) counts as unavailable', () => {
    const readOnly = Object.assign(new Error('The MariaDB server is running with the --read-only option'), {
      code: 'ER_OPTION_PREVENTS_STATEMENT',
      errno: 1290,
    });
    assert.equal(isUnavailableError(readOnly), true);
    assert.equal(isUnavailableError(Object.assign(new Error('x'), { errno: 1836 })), true);
    assert.equal(isUnavailableError(Object.assign(new Error('x'), { code: 'ER_CON_COUNT_ERROR' })), true);
  });

  test('lock conflicts are worth a retry; bad rows are not', () => {
    assert.equal(
      isUnavailableError(Object.assign(new Error('x'), { code: 'ER_LOCK_DEADLOCK', errno: 1213 })),
      true,
    );
    assert.equal(isUnavailableError(Object.assign(new Error('x'), { errno: 9007 })), true);
    assert.equal(
      isUnavailableError(Object.assign(new Error('x'), { code: 'ER_DATA_TOO_LONG', errno: 1406 })),
      false,
    );
    assert.equal(
      isUnavailableError(Object.assign(new Error('x'), { code: 'ER_BAD_NULL_ERROR', errno: 1048 })),
      false,
    );
  });
});
