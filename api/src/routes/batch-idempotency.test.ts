/** POST /v1/messages/batch with an Idempotency-Key, through the real app over the in-process bus. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Subscription } from '../../../core/bus/bus.ts';
import type { MessageRequested } from '../../../core/message.ts';
import { SEND_TOPICS } from '../../../core/topics.ts';
import { startTestApi, type TestApi } from '../../../test/support/api-harness.ts';
import { generateApiKey } from '../api-keys.ts';

describe('messages: batch idempotency', () => {
  let api: TestApi;
  let lanes: Subscription;
  const published: MessageRequested[] = [];
  const key = generateApiKey();

  before(async () => {
    api = await startTestApi({ keys: [{ key, tenant: 'tenant-b', scopes: ['messages:write'] }] });
    lanes = await api.bus.subscribe({
      groupId: 'bridge',
      topics: SEND_TOPICS,
      handler: async (batch) => {
        for (const r of batch.records) published.push(JSON.parse(r.value) as MessageRequested);
      },
    });
  });

  after(async () => {
    await lanes.close();
    await api.close();
  });

  const batch = (idempotencyKey: string, body: unknown) =>
    api.call('POST', '/v1/messages/batch', key, body, { 'idempotency-key': idempotencyKey });

  /** Every message published before a sentinel batch on the same (one-partition) lane. */
  async function publishedBefore(): Promise<MessageRequested[]> {
    const sentinel = await api.call('POST', '/v1/messages/batch', key, {
      body: 'sentinel',
      messages: [{ to: '+14155550199' }],
    });
    const id = sentinel.json<{ results: { id: string }[] }>().results[0]!.id;
    for (let i = 0; i < 200 && !published.some((m) => m.messageId === id); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    return published.filter((m) => m.body !== 'sentinel');
  }

  test('a retried batch with the same key returns the first answer and sends nothing again', async () => {
    const body = {
      body: 'Your order shipped',
      messages: [{ to: '+14155550101' }, { to: '+14155550102' }, { to: 'x' }],
    };
    const first = await batch('batch-1', body);
    assert.equal(first.statusCode, 202);
    const again = await batch('batch-1', body);
    assert.equal(again.statusCode, 202);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.deepEqual(again.json(), first.json());
    const sent = await publishedBefore();
    assert.deepEqual(
      sent.map((m) => m.to).sort(),
      ['+14155550101', '+14155550102'],
      'two messages, once each',
    );
  });

  test('the same key with another batch, or a key already used by a single message, is a conflict', async () => {
    const body = { body: 'a', messages: [{ to: '+14155550103' }] };
    assert.equal((await batch('batch-2', body)).statusCode, 202);
    const other = await batch('batch-2', { ...body, body: 'b' });
    assert.equal(other.statusCode, 409);
    assert.equal(other.json<{ code: string }>().code, 'PIGEON_ERR_IDEMPOTENCY_CONFLICT');
    const single = await api.call(
      'POST',
      '/v1/messages',
      key,
      { to: '+14155550104', body: 'hi' },
      {
        'idempotency-key': 'single-1',
      },
    );
    assert.equal(single.statusCode, 202);
    assert.equal((await batch('single-1', body)).statusCode, 409);
    assert.equal((await batch('bad key!', body)).statusCode, 400);
  });
});
