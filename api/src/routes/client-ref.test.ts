/**
 * A client's reference on every message: `clientRef` and `metadata` on POST /v1/messages and on
 * each batch item ride the published event, and once stored are returned by GET /v1/messages/:id
 * and the listing, which finds them by `?clientRef=`. Through the real app over SQLite and the
 * in-process bus; rows are stored as the persister stores them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Subscription } from '../../../core/bus/bus.ts';
import type { MessageRequested } from '../../../core/message.ts';
import type { SqliteStore } from '../../../core/store/sqlite-store.ts';
import { SEND_TOPICS } from '../../../core/topics.ts';
import { startTestApi, type TestApi } from '../../../test/support/api-harness.ts';
import { generateApiKey } from '../api-keys.ts';
import { waitFor } from '../../../test/support/wait.ts';

interface Listed {
  id: string;
  clientRef: string | null;
  metadata: Record<string, string> | null;
}

describe('clientRef and metadata', () => {
  let store: SqliteStore;
  let lanes: Subscription;
  let api: TestApi;
  const published = new Map<string, MessageRequested>();
  const key = generateApiKey();
  const reader = generateApiKey();

  before(async () => {
    api = await startTestApi({
      keys: [
        { key, tenant: 'tenant-a', scopes: ['messages:write', 'messages:read'], label: 'test' },
        { key: reader, tenant: 'tenant-a', scopes: ['messages:read'], label: 'dashboard' },
      ],
      deps: { publishTimeoutMs: 1000 },
    });
    ({ store } = api);
    lanes = await api.bus.subscribe({
      groupId: 'bridge',
      topics: SEND_TOPICS,
      handler: async (batch) => {
        for (const r of batch.records) {
          const event = JSON.parse(r.value) as MessageRequested;
          published.set(event.messageId, event);
        }
      },
    });
  });

  after(async () => {
    await lanes.close();
    await api.close();
  });

  const post = (url: string, payload: unknown) => api.call('POST', url, key, payload);
  const get = (url: string, as = key) => api.call('GET', url, as);

  /** Stores the request as the persister folds it: the row the API reads back. */
  async function stored(event: MessageRequested): Promise<void> {
    await store.writeBatch({
      messages: [
        {
          id: event.messageId,
          tenantId: event.tenantId,
          status: 'queued',
          updatedAt: Date.parse(event.occurredAt),
          recipient: event.to,
          messageClass: event.class,
          lane: event.lane,
          segments: event.segments,
          encoding: event.encoding,
          queuedAt: Date.parse(event.occurredAt),
          ...(event.clientRef === undefined ? {} : { clientRef: event.clientRef }),
          ...(event.metadata === undefined ? {} : { metadata: event.metadata }),
        },
      ],
      events: [],
    });
  }

  async function publishedEvent(id: string): Promise<MessageRequested> {
    await waitFor(() => published.has(id), 2_000, `message ${id} on the bus`);
    return published.get(id)!;
  }

  test('a single send carries them to the bus, and the message view and listing return them', async () => {
    const response = await post('/v1/messages', {
      to: '+14155550123',
      body: 'Your order shipped',
      clientRef: 'order-4711',
      metadata: { userId: 'u-42', flow: 'checkout' },
    });
    assert.equal(response.statusCode, 202, response.body);
    const { id } = response.json<{ id: string }>();
    const event = await publishedEvent(id);
    assert.equal(event.clientRef, 'order-4711');
    assert.deepEqual(event.metadata, { userId: 'u-42', flow: 'checkout' });

    await stored(event);
    const view = await get(`/v1/messages/${id}`);
    assert.equal(view.statusCode, 200, view.body);
    assert.equal(view.json<Listed>().clientRef, 'order-4711');
    assert.deepEqual(view.json<Listed>().metadata, { userId: 'u-42', flow: 'checkout' });

    const listed = (await get('/v1/messages?clientRef=order-4711')).json<{ messages: Listed[] }>();
    assert.deepEqual(
      listed.messages.map((m) => [m.id, m.clientRef, m.metadata]),
      [[id, 'order-4711', { userId: 'u-42', flow: 'checkout' }]],
    );
    // The reference is the client's own, not a number: a key without pii:read may search by it.
    const masked = (await get('/v1/messages?clientRef=order-4711', reader)).json<{ messages: Listed[] }>();
    assert.deepEqual(
      masked.messages.map((m) => m.id),
      [id],
    );
  });

  test('each batch item carries its own, and the listing finds the items by reference', async () => {
    const response = await post('/v1/messages/batch', {
      body: 'Your table is ready',
      messages: [
        { to: '+14155550124', clientRef: 'booking-1', metadata: { table: '12' } },
        { to: '+14155550125', clientRef: 'booking-2' },
        { to: '+14155550126' },
      ],
    });
    assert.equal(response.statusCode, 202, response.body);
    const results = response.json<{ results: Array<{ id: string }> }>().results;
    const events = await Promise.all(results.map((r) => publishedEvent(r.id)));
    assert.deepEqual(
      events.map((e) => [e.clientRef, e.metadata]),
      [
        ['booking-1', { table: '12' }],
        ['booking-2', undefined],
        [undefined, undefined],
      ],
    );
    for (const event of events) await stored(event);
    const listed = (await get('/v1/messages?clientRef=booking-2')).json<{ messages: Listed[] }>();
    assert.deepEqual(
      listed.messages.map((m) => [m.id, m.clientRef, m.metadata]),
      [[results[1]!.id, 'booking-2', null]],
    );
  });

  test('a reference or labels beyond their limits are refused with the field named', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ clientRef: 'x'.repeat(129) }, '/clientRef'],
      [{ clientRef: 'line\nbreak' }, '/clientRef'],
      [{ metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) }, '/metadata'],
      [{ metadata: { note: 'x'.repeat(257) } }, '/metadata/note'],
      [{ metadata: { count: 3 } }, '/metadata/count'],
      [
        { metadata: Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, 'v'.repeat(200)])) },
        '/metadata',
      ],
    ];
    for (const [extra, field] of cases) {
      const response = await post('/v1/messages', { to: '+14155550123', body: 'hello', ...extra });
      assert.equal(response.statusCode, 400, JSON.stringify(extra));
      const problem = response.json<{ code: string; errors?: Array<{ field: string }> }>();
      assert.equal(problem.code, 'PIGEON_ERR_VALIDATION');
      assert.ok(
        problem.errors?.some((e) => e.field.startsWith(field)),
        `${JSON.stringify(extra)}: ${JSON.stringify(problem.errors)}`,
      );
    }
    // In a batch only the item is refused.
    const batch = await post('/v1/messages/batch', {
      body: 'hello',
      messages: [
        { to: '+14155550123', clientRef: 'ok' },
        { to: '+14155550123', clientRef: 'bad\u0007ref' },
      ],
    });
    assert.equal(batch.statusCode, 202, batch.body);
    assert.deepEqual(
      batch
        .json<{ results: Array<{ status: string; code?: string }> }>()
        .results.map((r) => [r.status, r.code]),
      [
        ['queued', undefined],
        ['rejected', 'PIGEON_ERR_VALIDATION'],
      ],
    );
  });
});
