import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { postSignedWebhook } from '../../test/fakes/generic-http-fake.ts';
import { startTestApi, type TestApi } from '../../test/support/api-harness.ts';
import { freePort } from '../../test/support/ports.ts';
import { assertReceiptRefused, inboundRequest, testDeps } from '../../test/support/provider-testing.ts';
import type { ProviderAdapter } from '../provider.ts';
import { createGenericHttp } from './adapter.ts';

const deps = testDeps();
const SECRET = 'receipt-secret-0123456789';
const OUR_NUMBER = '+12125550101';
const HANDSET = '+14255550182';

/** An aggregator that signs both webhooks `sha256=<hex of timestamp.body>` and nests its MO fields. */
const options = {
  url: 'https://agg.example/sms',
  receipt: {
    signatureHeader: 'X-Signature',
    signatureSecret: SECRET,
    signaturePrefix: 'sha256=',
    timestampHeader: 'X-Timestamp',
    idPath: 'id',
    statusPath: 'state',
    statusMap: { DELIVERED: 'delivered' },
  },
  inbound: {
    itemsPath: 'messages',
    fromPath: 'sender',
    toPath: 'recipient',
    textPath: 'content.text',
    idPath: 'mo_id',
    receivedAtPath: 'received',
    partReferencePath: 'concat.ref',
    partIndexPath: 'concat.part',
    partTotalPath: 'concat.total',
  },
};
const signing = { secret: SECRET, header: 'X-Signature', prefix: 'sha256=', timestampHeader: 'X-Timestamp' };

function signed(payload: unknown, timestamp = Math.floor(Date.now() / 1000)) {
  const body = JSON.stringify(payload);
  const signature = createHmac('sha256', SECRET).update(`${timestamp}.${body}`).digest('hex');
  return inboundRequest('/v1/inbound/agg', body, {
    'x-timestamp': String(timestamp),
    'x-signature': `sha256=${signature}`,
  });
}

describe('generic HTTP inbound SMS', () => {
  test('a signed batch is read by the configured paths; bare international digits become E.164', async () => {
    const adapter = createGenericHttp('agg', options, deps);
    const messages = await adapter.parseInbound!(
      signed({
        messages: [
          {
            sender: '14255550182',
            recipient: OUR_NUMBER,
            content: { text: 'STOP' },
            mo_id: 'MO-1',
            received: 1_767_607_200,
          },
          {
            sender: HANDSET,
            recipient: '60123',
            content: { text: 'first half ' },
            mo_id: 77,
            concat: { ref: 'a1', part: 1, total: 2 },
          },
        ],
      }),
    );
    assert.deepEqual(messages, [
      {
        from: HANDSET,
        to: OUR_NUMBER,
        body: 'STOP',
        providerMessageId: 'MO-1',
        receivedAt: '2026-01-05T10:00:00.000Z',
      },
      {
        from: HANDSET,
        to: '60123',
        body: 'first half ',
        providerMessageId: '77',
        part: { reference: 'a1', index: 1, total: 2 },
      },
    ]);
  });

  test('forged, stale and unsigned webhooks are refused', async () => {
    const adapter = createGenericHttp('agg', options, deps);
    const payload = {
      messages: [{ sender: HANDSET, recipient: OUR_NUMBER, content: { text: 'STOP' }, mo_id: 'x' }],
    };
    const good = signed(payload);
    await assertReceiptRefused(
      adapter.parseInbound!({ ...good, rawBody: good.rawBody.replace('STOP', 'START') }),
    );
    await assertReceiptRefused(adapter.parseInbound!(signed(payload, Math.floor(Date.now() / 1000) - 3600)));
    await assertReceiptRefused(adapter.parseInbound!(inboundRequest('/v1/inbound/agg', good.rawBody)));
  });

  test('a provider without an inbound mapping refuses inbound webhooks', async () => {
    const { inbound: _inbound, ...receiptsOnly } = options;
    const adapter = createGenericHttp('agg', receiptsOnly, deps);
    await assertReceiptRefused(adapter.parseInbound!(signed({ messages: [] })));
  });

  test('a message without a sender or id is a validation error naming the path', async () => {
    const adapter = createGenericHttp('agg', options, deps);
    await assert.rejects(
      adapter.parseInbound!(
        signed({ messages: [{ recipient: OUR_NUMBER, content: { text: 'hi' }, mo_id: 'y' }] }),
      ),
      (err: Error & { code?: string }) =>
        err.code === 'PIGEON_ERR_VALIDATION' && /"sender"/.test(err.message),
    );
  });

  test('the mapping is checked at start: it needs the receipt signature and all three part paths', () => {
    const { receipt: _receipt, ...unsigned } = options;
    assert.throws(() => createGenericHttp('agg', unsigned, deps), /option "inbound" needs "receipt"/);
    assert.throws(
      () =>
        createGenericHttp(
          'agg',
          { ...options, inbound: { ...options.inbound, partTotalPath: undefined } },
          deps,
        ),
      /partReferencePath, partIndexPath and partTotalPath/,
    );
    assert.throws(
      () => createGenericHttp('agg', { ...options, inbound: { ...options.inbound, colour: 'x' } }, deps),
      /"inbound.colour" is unknown/,
    );
  });
});

describe('generic HTTP inbound SMS through the api', () => {
  let api: TestApi;
  let url: string;

  before(async () => {
    const port = await freePort();
    const adapter: ProviderAdapter = createGenericHttp('agg', options, deps);
    api = await startTestApi({
      deps: { providers: new Map([['agg', adapter]]), publicUrl: `http://127.0.0.1:${port}` },
    });
    await api.store.putSender({
      tenantId: 'tenant-a',
      sender: OUR_NUMBER,
      kind: 'number',
      countries: [],
      isDefault: false,
      createdAt: 1,
      updatedAt: 1,
    });
    await api.app.listen({ port, host: '127.0.0.1' });
    url = `http://127.0.0.1:${port}/v1/inbound/agg`;
  });

  after(async () => {
    await api.close();
  });

  test('an MO "STOP" the aggregator posts, in two parts, is joined, stored for the tenant and suppresses the number', async () => {
    const part = (index: number, text: string) => ({
      messages: [
        {
          sender: HANDSET,
          recipient: OUR_NUMBER,
          content: { text },
          mo_id: `MO-${index}`,
          concat: { ref: 'r9', part: index, total: 2 },
        },
      ],
    });
    assert.equal((await postSignedWebhook(url, part(2, 'OP'), signing)).status, 200);
    assert.deepEqual(await api.store.suppressionScopes('tenant-a', HANDSET), []);
    assert.equal((await postSignedWebhook(url, part(1, 'ST'), signing)).status, 200);
    const stored = await api.store.listInbound('tenant-a', { limit: 10 });
    assert.deepEqual(
      stored.map((r) => [r.provider, r.providerMessageId, r.from, r.body, r.parts, r.keyword]),
      [['agg', 'MO-1', HANDSET, 'STOP', 2, 'stop']],
    );
    assert.deepEqual(await api.store.suppressionScopes('tenant-a', HANDSET), [OUR_NUMBER]);
  });

  test('the same webhook posted again is not stored twice', async () => {
    const payload = {
      messages: [{ sender: HANDSET, recipient: OUR_NUMBER, content: { text: 'hello' }, mo_id: 'MO-dup' }],
    };
    await postSignedWebhook(url, payload, signing);
    await postSignedWebhook(url, payload, signing);
    const stored = await api.store.listInbound('tenant-a', { limit: 10 });
    assert.equal(stored.filter((r) => r.providerMessageId === 'MO-dup').length, 1);
  });

  test('a webhook with a bad signature is answered 403 problem+json and stores nothing', async () => {
    const payload = {
      messages: [{ sender: HANDSET, recipient: OUR_NUMBER, content: { text: 'START' }, mo_id: 'MO-forged' }],
    };
    const answer = await postSignedWebhook(url, payload, { ...signing, secret: 'not-the-secret' });
    assert.equal(answer.status, 403);
    assert.match(answer.body, /PIGEON_ERR_RECEIPT_SIGNATURE/);
    assert.deepEqual(await api.store.suppressionScopes('tenant-a', HANDSET), [OUR_NUMBER]);
  });
});
