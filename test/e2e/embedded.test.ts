import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../core/config.ts';
import { type EmbeddedGateway, startEmbedded } from '../../bin/embedded.ts';
import { createLogger } from '../../core/logger.ts';
import { SEND_TOPICS } from '../../core/topics.ts';
import { signSimulatorReceipt, simulatorReceiptSecret } from '../../providers/simulator.ts';
import { freePort } from '../support/ports.ts';
import { waitFor } from '../support/wait.ts';

const TO = '+14155550123';

describe('embedded gateway, one process', () => {
  let gateway: EmbeddedGateway;
  let base: string;
  let key: string;
  /** The receipt secret the gateway generated for itself. */
  let receiptSecret: string;
  const published: string[] = [];

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(base + path, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(base + path, { headers: { authorization: `Bearer ${key}`, ...headers } });

  async function waitForStatus(id: string, status: string) {
    let last: { status?: string } = {};
    await waitFor(
      async () => {
        const response = await get(`/v1/messages/${id}`);
        if (response.status !== 200) return false;
        last = (await response.json()) as { status: string };
        return last.status === status;
      },
      10_000,
      `message ${id} to reach ${status} (last ${JSON.stringify(last.status)})`,
    );
    return (await (await get(`/v1/messages/${id}`)).json()) as Record<string, unknown>;
  }

  before(async () => {
    const port = await freePort();
    const config = loadConfig(
      {
        PORT: String(port),
        PIGEON_DATA_DIR: mkdtempSync(join(tmpdir(), 'pigeon-e2e-')),
        LOG_LEVEL: 'silent',
      },
      { mode: 'embedded' },
    );
    gateway = await startEmbedded(config, createLogger({ level: 'silent' }));
    base = `http://127.0.0.1:${port}`;
    key = gateway.api.apiKey!;
    receiptSecret = simulatorReceiptSecret(config);
    await gateway.context.bus().subscribe({
      groupId: 'test-observer',
      topics: SEND_TOPICS,
      handler: async (batch) => {
        for (const r of batch.records) published.push(r.value);
      },
    });
  });

  after(async () => {
    await gateway.close();
  });

  test('a message travels queued → submitted → delivered, the receipt coming back over HTTP', async () => {
    const response = await post('/v1/messages', { to: TO, body: 'hello' });
    assert.equal(response.status, 202);
    const accepted = (await response.json()) as { id: string; status: string };
    assert.equal(accepted.status, 'queued');
    assert.match(accepted.id, /^[0-9A-Z]{26}$/);

    const message = await waitForStatus(accepted.id, 'delivered');
    const history = message.history as Array<{ status: string; type: string; at: string }>;
    assert.deepEqual(
      history.map((h) => h.status),
      ['queued', 'submitted', 'delivered'],
    );
    assert.equal(history[2]!.type, 'receipt.received');
    assert.match(String(message.provider), /^sim-[ab]$/);
    assert.match(String(message.providerMessageId), /^SIM/);
    assert.equal(message.segments, 1);
    for (const field of ['queuedAt', 'submittedAt', 'finalAt']) assert.ok(message[field], `${field} set`);

    const outbox = (await (await get(`/simulator/messages?to=${encodeURIComponent(TO)}`)).json()) as {
      messages: Array<{ messageId: string; body: string }>;
    };
    assert.ok(outbox.messages.some((m) => m.messageId === accepted.id && m.body === 'hello'));
  });

  test('bad input gets a 4xx problem+json with a stable code and never reaches the bus', async () => {
    const before = published.length;
    const cases: Array<[string, () => Promise<Response>, number, string]> = [
      ['malformed JSON', () => post('/v1/messages', '{"to":'), 400, 'PIGEON_ERR_MALFORMED_JSON'],
      [
        'wrong type',
        () => post('/v1/messages', { to: 14155550123, body: 'x' }),
        400,
        'PIGEON_ERR_VALIDATION',
      ],
      [
        'unknown field',
        () => post('/v1/messages', { to: TO, body: 'x', extra: 1 }),
        400,
        'PIGEON_ERR_VALIDATION',
      ],
      ['missing body', () => post('/v1/messages', { to: TO }), 400, 'PIGEON_ERR_VALIDATION'],
      ['empty body', () => post('/v1/messages', { to: TO, body: '' }), 400, 'PIGEON_ERR_EMPTY_BODY'],
      [
        '100 KB body',
        () => post('/v1/messages', { to: TO, body: 'x'.repeat(100_000) }),
        413,
        'PIGEON_ERR_PAYLOAD_TOO_LARGE',
      ],
      [
        '11 parts',
        () => post('/v1/messages', { to: TO, body: 'é'.repeat(1600) }),
        400,
        'PIGEON_ERR_BODY_TOO_LONG',
      ],
      [
        'non-E.164 number',
        () => post('/v1/messages', { to: '4155550123', body: 'x' }),
        400,
        'PIGEON_ERR_INVALID_NUMBER',
      ],
      [
        'invalid number',
        () => post('/v1/messages', { to: '+10005550123', body: 'x' }),
        400,
        'PIGEON_ERR_INVALID_NUMBER',
      ],
      [
        'bad class',
        () => post('/v1/messages', { to: TO, body: 'x', class: 'spam' }),
        400,
        'PIGEON_ERR_VALIDATION',
      ],
      [
        'missing API key',
        () =>
          fetch(`${base}/v1/messages`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: '{}',
          }),
        401,
        'PIGEON_ERR_UNAUTHORIZED',
      ],
      [
        'wrong API key',
        () =>
          post(
            '/v1/messages',
            { to: TO, body: 'x' },
            { authorization: 'Bearer pgn_notarealkeynotarealkey000' },
          ),
        401,
        'PIGEON_ERR_UNAUTHORIZED',
      ],
      [
        'not JSON',
        () => post('/v1/messages', 'to=1', { 'content-type': 'application/x-www-form-urlencoded' }),
        415,
        'PIGEON_ERR_UNSUPPORTED_MEDIA_TYPE',
      ],
    ];
    for (const [name, send, status, code] of cases) {
      const response = await send();
      assert.equal(response.status, status, name);
      assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/, name);
      const problem = (await response.json()) as {
        code: string;
        status: number;
        type: string;
        title: string;
      };
      assert.equal(problem.code, code, name);
      assert.equal(problem.status, status, name);
      assert.ok(problem.type && problem.title, name);
    }
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(published.length, before, 'no rejected request reached the bus');
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /pigeon_api_problems_total\{[^}]*code="PIGEON_ERR_INVALID_NUMBER"[^}]*\} [1-9]/);
  });

  test('an Idempotency-Key returns the same message and publishes once; a different body conflicts', async () => {
    const before = published.length;
    const first = await post('/v1/messages', { to: TO, body: 'once' }, { 'idempotency-key': 'order-42' });
    const second = await post('/v1/messages', { to: TO, body: 'once' }, { 'idempotency-key': 'order-42' });
    assert.equal(first.status, 202);
    assert.equal(second.status, 202);
    assert.equal(second.headers.get('idempotent-replayed'), 'true');
    assert.equal(((await first.json()) as { id: string }).id, ((await second.json()) as { id: string }).id);
    const conflict = await post('/v1/messages', { to: TO, body: 'other' }, { 'idempotency-key': 'order-42' });
    assert.equal(conflict.status, 409);
    await waitFor(() => published.length >= before + 1, 2000, 'publish');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(published.length, before + 1);
  });

  test('a batch gives each recipient its own bulk-lane message and per-recipient results', async () => {
    const response = await post('/v1/messages/batch', {
      body: 'notice',
      messages: [{ to: TO }, { to: '+442071838750', body: 'hi London' }, { to: 'nope' }],
    });
    assert.equal(response.status, 202);
    const result = (await response.json()) as {
      accepted: number;
      rejected: number;
      results: Array<{ index: number; id?: string; status: string; code?: string }>;
    };
    assert.equal(result.accepted, 2);
    assert.equal(result.rejected, 1);
    assert.equal(result.results[2]!.code, 'PIGEON_ERR_INVALID_NUMBER');
    const message = await waitForStatus(result.results[1]!.id!, 'delivered');
    assert.equal(message.lane, 'bulk');
    assert.equal(message.country, 'GB');
  });

  test('receipts that repeat, arrive out of order or name unknown messages never move a status back', async () => {
    const accepted = (await (await post('/v1/messages', { to: TO, body: 'dup' })).json()) as { id: string };
    const delivered = await waitForStatus(accepted.id, 'delivered');
    const provider = String(delivered.provider);
    const receipt = (status: string, id = String(delivered.providerMessageId)) => {
      const body = JSON.stringify({ id, reference: accepted.id, status, code: status.toUpperCase() });
      const timestamp = String(Date.now());
      return fetch(`${base}/v1/receipts/${provider}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-simulator-timestamp': timestamp,
          'x-simulator-signature': signSimulatorReceipt(receiptSecret, timestamp, body),
        },
        body,
      });
    };
    assert.equal((await receipt('delivered')).status, 200);
    assert.equal((await receipt('undelivered')).status, 200);
    const unknown = await fetch(`${base}/v1/receipts/${provider}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-simulator-timestamp': '1',
        'x-simulator-signature': 'ab',
      },
      body: '{}',
    });
    assert.equal(unknown.status, 403, 'a forged receipt is refused');
    const ts = String(Date.now());
    const orphan = JSON.stringify({ id: 'SIMnope', status: 'delivered' });
    const orphanResponse = await fetch(`${base}/v1/receipts/${provider}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-simulator-timestamp': ts,
        'x-simulator-signature': signSimulatorReceipt(receiptSecret, ts, orphan),
      },
      body: orphan,
    });
    assert.equal(orphanResponse.status, 200, 'an unmatched receipt is acknowledged, not retried forever');
    await waitFor(
      async () => {
        const m = (await (await get(`/v1/messages/${accepted.id}`)).json()) as { history: unknown[] };
        return m.history.length >= 5;
      },
      5000,
      'late receipts recorded in history',
    );
    const after = (await (await get(`/v1/messages/${accepted.id}`)).json()) as { status: string };
    assert.equal(after.status, 'delivered');
    assert.equal((await fetch(`${base}/v1/receipts/nobody`, { method: 'POST', body: '{}' })).status, 404);
  });

  test('health, readiness, metrics and OpenAPI are served', async () => {
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const ready = (await (await fetch(`${base}/readyz`)).json()) as { ready: boolean };
    assert.equal(ready.ready, true);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /pigeon_api_messages_accepted_total/);
    assert.match(metrics, /pigeon_monitor_receipts_total\{[^}]*provider="sim-[ab]"/);
    assert.doesNotMatch(metrics, /14155550123/);
    const openapi = (await (await fetch(`${base}/docs/json`)).json()) as { paths: Record<string, unknown> };
    assert.ok(openapi.paths['/v1/messages']);
    assert.ok(openapi.paths['/v1/messages/batch']);
  });
});
